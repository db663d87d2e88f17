"""Unit tests of transforms/text/tokenizers.py and transforms/text/tokenize.py: TokenizeText against NLTK itself.

NLTK data is not installed where these tests run and they never download it: every
test points nltk.data.path at a temporary directory, empty or holding a punkt_tab
model trained here with NLTK's own PunktTrainer.
"""

from __future__ import annotations

import base64
import os

import apache_beam as beam
import nltk
import nltk.redos
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from nltk.tokenize import (
    NLTKWordTokenizer,
    RegexpTokenizer,
    TreebankWordTokenizer,
    TweetTokenizer,
    WhitespaceTokenizer,
    WordPunctTokenizer,
)
from nltk.tokenize.punkt import PunktSentenceTokenizer, PunktTrainer, save_punkt_params

from transforms.records import Message
from transforms.text.tokenize import TokenizedMessage, TokenizeText
from transforms.text.tokenizers import MissingNltkData, make_tokenizer

TEXTS = [
    'He said, "Don\'t stop!" — the U.S. costs $3.50... «Vraiment?»',
    "Dr. Smith arrived. Mr. Jones left.",
    "It's 5 o'clock -- isn't it? Mrs. Brown (the CEO) e-mailed bob@example.com at 10:30am.",
    "“Curly quotes” and 'single' ones.\nA new line; then tabs\tand https://beam.apache.org/x?y=1 links.",
]


def _pipeline() -> test_pipeline.TestPipeline:
    # The default DirectRunner first tries to fetch a Prism binary; FnApiRunner is in-process and fast.
    return test_pipeline.TestPipeline(runner="FnApiRunner")


def _messages(texts) -> list:
    return [Message(text, f"k{i}", "t", 0, i) for i, text in enumerate(texts)]


def _tokenized(token_lists) -> list:
    # Each tokenized message keeps where it came from (topic t, partition 0, offset i): its offset is committed later.
    return [TokenizedMessage(f"k{i}", tuple(tokens), "t", 0, i) for i, tokens in enumerate(token_lists)]


def _assert_tokens(texts, expected_token_lists, *args, **kwargs) -> None:
    with _pipeline() as p:
        out = p | beam.Create(_messages(texts)) | TokenizeText(*args, **kwargs)
        assert_that(out.tokens, equal_to(_tokenized(expected_token_lists)))
        assert_that(out.dead_letter, equal_to([]), label="NoDeadLetters")


@pytest.fixture
def no_nltk_data(tmp_path, monkeypatch):
    """NLTK looks for data only in an empty directory, whatever the machine has installed."""
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])


@pytest.fixture
def trained_punkt_tab(tmp_path, monkeypatch):
    """A real (tiny) punkt_tab model for english, in NLTK's installed layout, on nltk.data.path."""
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    model_dir = tmp_path / "tokenizers" / "punkt_tab" / "english"
    os.makedirs(model_dir, mode=0o700)  # NLTK's sandbox writes only into private directories
    trainer = PunktTrainer()
    trainer.INCLUDE_ALL_COLLOCS = True
    trainer.train(
        "Dr. Smith went to Washington. He met Mr. Jones there. The U.S. government was closed. "
        "Mrs. Brown said so. It rained. " * 20,
        finalize=True,
    )
    save_punkt_params(trainer.get_params(), dir=str(model_dir))
    nltk.tokenize._get_punkt_tokenizer.cache_clear()  # word_tokenize memoizes the model it loaded
    yield model_dir
    nltk.tokenize._get_punkt_tokenizer.cache_clear()


def test_word_without_punkt_tab_is_untrained_punkt_then_nltk_word_tokenizer(no_nltk_data):
    sentences, words = PunktSentenceTokenizer(), NLTKWordTokenizer()
    expected = [[token for s in sentences.tokenize(text) for token in words.tokenize(s)] for text in TEXTS]
    assert expected[1] == ["Dr", ".", "Smith", "arrived", ".", "Mr", ".", "Jones", "left", "."]
    _assert_tokens(TEXTS, expected, "word", punkt="auto", lowercase=False, drop_punctuation=False)


def test_installed_punkt_missing_is_a_one_line_error_naming_punkt_tab(no_nltk_data, tmp_path):
    with pytest.raises(MissingNltkData) as raised:
        TokenizeText("word", punkt="installed")
    assert str(raised.value) == (
        f"NLTK resource punkt_tab (english) is not installed in {[str(tmp_path)]}: install it with "
        "`python -m pipeline nltk-data download punkt_tab` or set tokenize.punkt: untrained"
    )
    assert isinstance(raised.value, LookupError)


def test_word_with_installed_punkt_tab_equals_nltk_word_tokenize(trained_punkt_tab):
    expected = [nltk.word_tokenize(text) for text in TEXTS]
    # The trained model knows "Dr." and "Mr.": the untrained fallback would split them.
    assert expected[1] == ["Dr.", "Smith", "arrived", ".", "Mr.", "Jones", "left", "."]
    _assert_tokens(TEXTS, expected, "word", punkt="installed", lowercase=False, drop_punctuation=False)


def test_lowercase_and_drop_punctuation(no_nltk_data):
    _assert_tokens(
        TEXTS[:2],
        [
            ["he", "said", "do", "n't", "stop", "the", "u.s", "costs", "3.50", "vraiment"],
            ["dr", "smith", "arrived", "mr", "jones", "left"],
        ],
        "word",
    )


@pytest.mark.parametrize(
    "name, options, tokenizer",
    [
        ("treebank", {}, TreebankWordTokenizer()),
        ("wordpunct", {}, WordPunctTokenizer()),
        ("whitespace", {}, WhitespaceTokenizer()),
        ("regexp", {"pattern": r"\w+|\$[\d.]+"}, RegexpTokenizer(r"\w+|\$[\d.]+")),
        ("tweet", {"strip_handles": True, "reduce_len": True}, TweetTokenizer(strip_handles=True, reduce_len=True)),
        ("word", {"preserve_line": True}, NLTKWordTokenizer()),
    ],
)
def test_other_tokenizers_equal_their_nltk_classes(name, options, tokenizer):
    texts = TEXTS + ["@beam_dev Soooooo cool!!! :-) #streaming https://t.co/x <3"]
    expected = [tokenizer.tokenize(text) for text in texts]
    _assert_tokens(texts, expected, name, lowercase=False, drop_punctuation=False, **options)


def test_hard_inputs_do_not_crash(no_nltk_data):
    huge = "x" * 200_000
    texts = ["", " \n\t ", "a\x00b\x07c\x1b[31m", "I ❤️ Python 🐍🎉!", "שלום עולם. مرحبا بالعالم!", huge]
    _assert_tokens(
        texts,
        [
            [],
            [],
            ["a\x00b\x07c\x1b", "31m"],
            ["i", "❤️", "python", "🐍🎉"],
            ["שלום", "עולם", "مرحبا", "بالعالم"],
            [huge],
        ],
        "word",
        max_chars=300_000,  # above the default CPU budget per message, which a test below covers
    )


def test_a_tokenizer_timeout_becomes_a_dead_letter(monkeypatch):
    monkeypatch.setattr(nltk.redos, "DEFAULT_TIMEOUT", 0.2)  # NLTK's ReDoS guard, shortened for the test
    texts = ["ab ok", "a" * 40 + " never matches"]  # (?:a|a)* backtracks exponentially on the second
    with _pipeline() as p:
        out = p | beam.Create(_messages(texts)) | TokenizeText("regexp", pattern=r"(?:a|a)*b|\w+")
        assert_that(out.tokens, equal_to(_tokenized([["ab", "ok"]])))
        reason = 'tokenizer failed: TimeoutError("regular-expression match exceeded its 0.2s time limit; '
        assert_that(
            out.dead_letter | beam.Map(lambda row: (row["offset"], row["value_b64"], row["reason"].startswith(reason))),
            equal_to([(1, base64.b64encode(texts[1].encode()).decode(), True)]),
            label="DeadLetters",
        )


def test_bad_tokenizer_settings_fail_at_construction():
    with pytest.raises(ValueError, match="^unknown tokenizer 'spacy'; choose one of word, "):
        TokenizeText("spacy")
    with pytest.raises(ValueError, match="^the regexp tokenizer needs a pattern$"):
        make_tokenizer("regexp")


@pytest.mark.parametrize("pattern", [r"(?:a|a)*$", r"(?:b|b)*$", r"(?:\w+\s?)+$", r"(?:x+x+)+y"])
def test_a_pattern_that_backtracks_catastrophically_is_refused_before_the_job(pattern):
    from transforms.text.tokenizers import refuse_catastrophic_backtracking

    with pytest.raises(ValueError, match=r"^the pattern backtracks catastrophically: on 2000 x '.+' it runs past"):
        refuse_catastrophic_backtracking(pattern)


@pytest.mark.parametrize("pattern", [r"\w+", r"\p{L}+", r"[A-Za-z]+(?:'[a-z]+)?", r"\S+", r"#\w+|@\w+|\w+"])
def test_ordinary_patterns_pass_the_backtracking_probe(pattern):
    from transforms.text.tokenizers import refuse_catastrophic_backtracking, validate_pattern

    validate_pattern(pattern)
    refuse_catastrophic_backtracking(pattern)


def test_a_message_over_the_cpu_budget_is_a_dead_letter_and_the_rest_is_tokenized():
    texts = [". " * 15_000, "short and sweet"]
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        out = (
            p
            | beam.Create([Message(t, None, "t", 0, i) for i, t in enumerate(texts)])
            | TokenizeText("whitespace", max_chars=20_000)
        )
        assert_that(out.tokens | beam.Map(lambda m: m.tokens), equal_to([("short", "and", "sweet")]), label="tokens")
        assert_that(
            out.dead_letter | beam.Map(lambda d: (d["offset"], d["reason"])),
            equal_to([(0, "message too long to tokenize: 30,000 characters (tokenize.max_chars 20,000)")]),
            label="dead",
        )
