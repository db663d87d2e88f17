"""Every TokenizeText tokenizer against the NLTK function of the same name.

Compared over generated text (hypothesis) and over a real English corpus (the
prose paragraphs of NLTK's doctests and of the standard library's docstrings, see
tests/nltk_data_helpers.english_prose). The DoFn is compared as a worker runs
it: pickled, unpickled, set up once, then `process` per message, with every
normalisation step off. NLTK data comes from an nltk_data directory the tests
build (a Punkt model trained with NLTK's trainer); the machine's is never used.
"""

from __future__ import annotations

import re

import apache_beam as beam
import nltk
import pytest
from apache_beam.internal import pickler
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nltk.tokenize import NLTKWordTokenizer, TreebankWordTokenizer, TweetTokenizer, WhitespaceTokenizer
from nltk.tokenize.punkt import PunktSentenceTokenizer

from pipeline.config import ConfigError, load_config
from tests.nltk_data_helpers import english_prose, write_punkt_tab
from transforms.records import Message
from transforms.text import tokenize, tokenizers
from transforms.text.tokenize import TokenizedMessage, TokenizeText

DIRECT = "run_configs/direct.yaml"
_RAW = {"lowercase": False, "drop_punctuation": False}  # normalisation off: the tokenizer's own output


_UNTRAINED_PUNKT, _NLTK_WORDS = PunktSentenceTokenizer(), NLTKWordTokenizer()


def _untrained_word_tokenize(text: str) -> list:
    return [token for sentence in _UNTRAINED_PUNKT.tokenize(text) for token in _NLTK_WORDS.tokenize(sentence)]


# (id, TokenizeText arguments, the NLTK function it must equal)
CASES = [
    ("word", {"punkt": "installed"}, nltk.word_tokenize),
    ("word-preserve_line", {"preserve_line": True}, lambda text: nltk.word_tokenize(text, preserve_line=True)),
    ("word-untrained", {"punkt": "untrained"}, _untrained_word_tokenize),
    ("sentences", {"punkt": "installed"}, nltk.sent_tokenize),
    ("treebank", {}, TreebankWordTokenizer().tokenize),
    ("tweet", {}, TweetTokenizer().tokenize),
    ("tweet-strip_handles", {"strip_handles": True}, TweetTokenizer(strip_handles=True).tokenize),
    ("tweet-reduce_len", {"reduce_len": True}, TweetTokenizer(reduce_len=True).tokenize),
    (
        "tweet-both",
        {"strip_handles": True, "reduce_len": True},
        TweetTokenizer(strip_handles=True, reduce_len=True).tokenize,
    ),
    ("wordpunct", {}, nltk.wordpunct_tokenize),
    ("whitespace", {}, WhitespaceTokenizer().tokenize),
    ("regexp", {"pattern": r"\w+|\$[\d.]+|\S+"}, lambda text: nltk.regexp_tokenize(text, r"\w+|\$[\d.]+|\S+")),
    (
        "regexp-gaps",
        {"pattern": r"[\s,.;:!?]+", "gaps": True},
        lambda text: nltk.regexp_tokenize(text, r"[\s,.;:!?]+", gaps=True),
    ),
    (
        "regexp-unicode-property",
        {"pattern": r"\p{L}+(?:'\p{L}+)?"},
        lambda text: nltk.regexp_tokenize(text, r"\p{L}+(?:'\p{L}+)?"),
    ),
]
_IDS = [case[0] for case in CASES]


@pytest.fixture(scope="module")
def punkt_only(tmp_path_factory):
    """NLTK searches only a test nltk_data directory holding an English punkt_tab model."""
    root = tmp_path_factory.mktemp("nltk_data")
    write_punkt_tab(root)
    saved = list(nltk.data.path)
    nltk.data.path[:] = [str(root)]
    nltk.tokenize._get_punkt_tokenizer.cache_clear()  # word_tokenize memoizes the model it loaded
    yield root
    nltk.data.path[:] = saved
    nltk.tokenize._get_punkt_tokenizer.cache_clear()


def worker_fn(transform: TokenizeText):
    """The transform's DoFn as a remote worker gets it: a pickled copy, set up once."""
    fn = pickler.loads(pickler.dumps(transform._fn))
    fn.setup()
    return fn


def tokens_of(fn, text: str) -> tuple:
    (out,) = list(fn.process(Message(text, "k", "t", 0, 0)))
    assert isinstance(out, TokenizedMessage), out
    return out.tokens


@pytest.fixture(scope="module")
def worker_fns(punkt_only):
    return {name: worker_fn(TokenizeText(name.split("-")[0], **_RAW, **options)) for name, options, _ in CASES}


_PIECES = st.sampled_from(
    [
        "Dr.",
        "Mr.",
        "U.S.",
        "p.m.",
        "St.",
        "don't",
        "can't",
        "It's",
        "o'clock",
        "$3.50",
        "10:30",
        "1,000",
        "e-mail",
        "https://beam.apache.org/x?y=1",
        "bob@example.com",
        "@beam_dev",
        "#streaming",
        ":-)",
        "<3",
        ":D",
        "Soooooo",
        "«Vraiment»",
        "“quoted”",
        "'single'",
        '"double"',
        "(paren)",
        "[br]",
        "...",
        "--",
        "—",
        "!",
        "?",
        ";",
        ",",
        "naïve",
        "Straße",
        "東京",
        "שלום",
        "مرحبا",
        "🐍",
        "👩‍👩‍👧",
        "❤️",
        "ﬁne",
        "１２３",
        "\u200b",
        "a\u0301",
        "\x00",
        "\x1b[31m",
    ]
)
_SEPARATORS = st.sampled_from([" ", " ", " ", "  ", "\n", "\t", ". ", "! ", "\n\n", "", "\u00a0", "\r\n"])
TEXTS = st.one_of(
    st.text(max_size=120),
    st.lists(st.tuples(st.one_of(_PIECES, st.text(min_size=1, max_size=8)), _SEPARATORS), max_size=40).map(
        lambda pairs: "".join(piece + sep for piece, sep in pairs)
    ),
)


@pytest.mark.parametrize("name, options, reference", CASES, ids=_IDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS)
def test_generated_text_gives_what_nltk_gives(worker_fns, name, options, reference, text):
    assert tokens_of(worker_fns[name], text) == tuple(reference(text))


# Variants whose code path a full-corpus case already runs compare every 4th text, to keep the suite quick.
_SAMPLED = {"word-preserve_line", "tweet", "tweet-strip_handles", "tweet-reduce_len"}


@pytest.mark.parametrize("name, options, reference", CASES, ids=_IDS)
def test_a_real_english_corpus_gives_what_nltk_gives(worker_fns, name, options, reference):
    corpus, texts = english_prose()
    texts = texts[::4] if name in _SAMPLED else texts
    fn = worker_fns[name]
    differences = [text for text in texts if tokens_of(fn, text) != tuple(reference(text))]
    assert not differences, f"{len(differences)} of {len(texts)} texts of {corpus} differ, first: {differences[0]!r}"
    assert len(texts) >= 1500


def test_the_transform_in_a_pipeline_gives_what_nltk_gives(punkt_only):
    texts = english_prose()[1][:300]
    expected = [TokenizedMessage(f"k{i}", tuple(nltk.word_tokenize(text)), "t", 0, i) for i, text in enumerate(texts)]
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        messages = p | beam.Create([Message(text, f"k{i}", "t", 0, i) for i, text in enumerate(texts)])
        out = messages | TokenizeText("word", punkt="installed", **_RAW)
        assert_that(out.tokens, equal_to(expected))
        assert_that(out.dead_letter, equal_to([]), label="NoDeadLetters")


HARD_INPUTS = {
    "empty": "",
    "whitespace": " \t\n\r\x0b\x0c\u00a0\u2028\u3000 ",
    "one word of 1 MB": "a" * 1_000_000,
    "1 MB of dots": "." * 1_000_000,
    "control characters": "".join(chr(i) for i in range(32)) * 10 + "\x7f\x85",
    "mixed scripts": "Hello 世界 Привет κόσμε नमस्ते 안녕 שלום",
    "emoji": "I ❤️ 🐍🐍 👩‍👩‍👧 😀!! 🇩🇪 👍🏽",
    "right to left": "שלום עולם. مرحبا بالعالم! \u202eevil\u202c",
    "lone surrogate": "a\ud800b",
    "combining marks": "e\u0301\u0301\u0301 Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
}


@pytest.mark.parametrize("name", _IDS)
def test_hard_inputs_give_tokens_or_a_dead_letter_never_an_exception(worker_fns, name):
    for label, text in HARD_INPUTS.items():
        outputs = list(worker_fns[name].process(Message(text, "k", "t", 0, 0)))
        assert len(outputs) == 1, label
        if isinstance(outputs[0], TokenizedMessage):
            assert all(isinstance(token, str) and token for token in outputs[0].tokens), label
        else:
            assert outputs[0].tag == "dead_letter", label


def test_the_worker_loads_once_in_setup_and_reads_no_data_in_ship_mode(punkt_only, monkeypatch):
    transform = TokenizeText("word", punkt="installed")
    built = []
    monkeypatch.setattr(
        tokenize, "make_tokenizer", lambda *a, **k: built.append(a) or tokenizers.make_tokenizer(*a, **k)
    )
    # Reading punkt_tab on the worker would fail now: the model travels inside the DoFn.
    monkeypatch.setattr(tokenizers, "PunktTokenizer", lambda *a: pytest.fail("the worker read punkt_tab"))
    monkeypatch.setattr(nltk.data, "path", [])
    fn = worker_fn(transform)
    assert [tokens_of(fn, "Dr. Smith came. He left.") for _ in range(3)] == [("dr.", "smith", "came", "he", "left")] * 3
    assert built == [("word",)]


def test_regexp_patterns_are_checked_with_nltks_engine_and_guard():
    with pytest.raises(re.error):
        re.compile(r"\p{L}+")  # stdlib re rejects what NLTK's regex engine accepts
    assert load_config(DIRECT, ("tokenize.tokenizer=regexp", r"tokenize.pattern=\p{L}+")).tokenize.pattern == r"\p{L}+"

    def error(pattern: str) -> str:
        with pytest.raises(ConfigError) as raised:
            load_config(DIRECT, ("tokenize.tokenizer=regexp", f"tokenize.pattern='{pattern}'"))
        return str(raised.value)

    assert (
        error("[a-")
        == f"{DIRECT}: tokenize.pattern: invalid regular expression: unterminated character set at position 3"
    )
    assert error("(\\w+)") == (
        f"{DIRECT}: tokenize.pattern: the pattern has capturing groups, which make NLTK return "
        "groups instead of tokens: use non-capturing groups (?:...)"
    )
    assert error("(?:a{1000}){1000}").startswith(
        f"{DIRECT}: tokenize.pattern: regular expression refused by NLTK's ReDoS guard: regex counted repetition"
    )


def test_tokenizer_options_belong_to_their_tokenizer():
    def error(*overrides: str) -> str:
        with pytest.raises(ConfigError) as raised:
            load_config(DIRECT, overrides)
        return str(raised.value)

    assert error("tokenize.strip_handles=true") == (
        f"{DIRECT}: tokenize.strip_handles: only the tweet tokenizer takes strip_handles (tokenizer is word)"
    )
    assert error("tokenize.tokenizer=regexp") == f"{DIRECT}: tokenize.pattern: the regexp tokenizer needs a pattern"
    assert error("tokenize.tokenizer=tweet", "tokenize.preserve_line=true") == (
        f"{DIRECT}: tokenize.preserve_line: only the word tokenizer takes preserve_line (tokenizer is tweet)"
    )
    config = load_config(
        DIRECT, ("tokenize.tokenizer=tweet", "tokenize.strip_handles=true", "tokenize.reduce_len=true")
    )
    assert (config.tokenize.strip_handles, config.tokenize.reduce_len) == (True, True)
