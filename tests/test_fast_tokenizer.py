"""The fast tokenizer engine (transforms/text/fast_patterns.py) gives exactly stock NLTK's tokens.

Differential: every tokenizer and option the fast engine serves, against the stock NLTK
function, over real English prose (tests/nltk_data_helpers.english_prose: NLTK's doctests and
the standard library's docstrings) and over generated text (tests/tokenizer_cases.py: every
Unicode category, quotes, brackets, contractions, URLs, emoji, entities, long runs). The CI
run here is the corpus (every other text for the variants other than word) and
`GENERATED_EXAMPLES` texts, each through every variant; the large sweep is
`python -m benchmarks tokenizer --exactness` (benchmarks/README.md gives its counts).

Structural: the patterns swapped are NLTK 3.10.4's, character for character (a fingerprint
that fails loudly when NLTK changes them); none of NLTK's guarded patterns is left behind in
a swapped tokenizer; the characters the two engines classify differently route a message to
the guarded path, and that routing is load-bearing (without it the output would differ).
"""

from __future__ import annotations

import re

import nltk
import pytest
import regex
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from nltk import redos
from nltk.tokenize import NLTKWordTokenizer, TreebankWordTokenizer

from pipeline.config import ConfigError, load_config
from tests.nltk_data_helpers import english_prose
from tests.tokenizer_cases import TEXTS, describe, outcome, variants
from transforms.text import fast_patterns, tokenizers
from transforms.text.fast_patterns import Routed

GENERATED_EXAMPLES = 6000
# Texts per hypothesis example: hypothesis's own cost per example is about that of one text through every
# variant, so drawing the texts in lists of ten halves the test's time for the same 6,000 texts.
_BATCH = 10
DIRECT = "run_configs/direct.yaml"


@pytest.fixture(scope="module")
def all_variants(nltk_data_dir):
    """Every variant, with the tests' punkt_tab model where NLTK looks (for both sides)."""
    path = list(nltk.data.path)
    nltk.data.path[:0] = [nltk_data_dir]
    try:
        yield variants(installed_punkt=True)
    finally:
        nltk.data.path[:] = path
        nltk.tokenize._get_punkt_tokenizer.cache_clear()  # nltk.word_tokenize's model came from that path


# ---------------------------------------------------------------------------------------------
# The patterns are NLTK's own
# ---------------------------------------------------------------------------------------------


def test_the_swapped_patterns_are_nltk_3_10_4s_character_for_character():
    assert nltk.__version__ == fast_patterns.CHECKED_NLTK_VERSION, (
        f"NLTK {nltk.__version__} is installed, the fast engine was checked against "
        f"{fast_patterns.CHECKED_NLTK_VERSION}: check every pattern again and update the compatibility note"
    )
    assert fast_patterns.patterns_fingerprint() == fast_patterns.PATTERNS_FINGERPRINT, (
        "NLTK's fixed tokenizer patterns changed: the fast engine is off (fast_unavailable) until they are "
        "checked again (differential sweep, worst case) and PATTERNS_FINGERPRINT is updated"
    )
    assert fast_patterns.fast_unavailable() is None


def test_a_changed_pattern_turns_the_fast_engine_off(monkeypatch):
    changed = dict(fast_patterns.nltk_fixed_patterns())
    changed["NLTKWordTokenizer.DOUBLE_DASHES"] = redos.compile(r"---")
    assert fast_patterns.patterns_fingerprint(changed) != fast_patterns.PATTERNS_FINGERPRINT
    monkeypatch.setattr(fast_patterns, "PATTERNS_FINGERPRINT", "0" * 64)
    assert "differ" in fast_patterns.fast_unavailable()
    assert not isinstance(tokenizers.make_tokenizer("word", punkt="untrained"), Routed)
    monkeypatch.setattr(fast_patterns, "CHECKED_NLTK_VERSION", "3.9.1")
    assert "3.9.1" in fast_patterns.fast_unavailable()


def test_a_pattern_re_cannot_read_turns_the_fast_engine_off(monkeypatch):
    def refuse(pattern):
        raise ValueError("`re` does not read it as `regex` does")

    monkeypatch.setattr(fast_patterns, "fast_pattern", refuse)
    tokenize = tokenizers.make_tokenizer("treebank", engine="fast")
    assert not isinstance(tokenize, Routed)
    assert tokenize("Don't stop.") == ["Do", "n't", "stop", "."]


def test_each_swapped_pattern_is_the_same_string_and_flags_on_re():
    for location, pattern in fast_patterns.nltk_fixed_patterns().items():
        assert isinstance(pattern, redos.TimedPattern), location
        fast = fast_patterns.fast_pattern(pattern)
        assert isinstance(fast, re.Pattern), location
        assert fast.pattern == pattern.pattern, location
        assert fast.flags & ~re.UNICODE == int(pattern.flags) & ~(re.UNICODE | regex.V0), location


def _replacement_pairs(tokenizer) -> list:
    pairs = [pair for attr in fast_patterns._PAIR_LISTS for pair in getattr(tokenizer, attr)]
    return pairs + [getattr(tokenizer, attr) for attr in fast_patterns._PAIRS]


def test_each_replacement_is_nltks_template_as_re_compiles_it():
    texts = [
        "",
        "a",
        "``Don't,\" he said: (x) [y] {z} <w> -- 'tis...  \"ok\"; $5 & 1,2 – x?! 'em. ",
        "«a» “b” ''c'' 'd' 1:2.",
    ]
    for cls, fast in (
        (NLTKWordTokenizer, fast_patterns.fast_word()),
        (TreebankWordTokenizer, fast_patterns.fast_treebank()),
    ):
        for (guarded, template), (pattern, replacement) in zip(_replacement_pairs(cls), _replacement_pairs(fast)):
            if hasattr(re, "_subx") and "\\" in template:
                assert not isinstance(replacement, str), (cls.__name__, guarded.pattern)  # parsed once, not per call
            for text in texts + [m.group() * 2 for t in texts for m in pattern.finditer(t)]:
                assert pattern.sub(replacement, text) == guarded.sub(template, text), (guarded.pattern, text)


def test_the_required_literal_is_what_every_match_holds():
    literal = fast_patterns.required_literal
    assert literal(re.compile(r"(?i)\b(can)(?#X)(not)\b")) == "cannot"  # \b matches no character
    assert literal(re.compile(r"(?i)\b(wan)(?#X)(na)(?=\s)")) == "wanna"
    assert literal(re.compile(r"(?i) ('t)(?#X)(is)\b")) == " 'tis"
    assert literal(re.compile(r"AB[cd]xyz")) == "xyz"  # case kept where the pattern keeps it
    assert literal(re.compile(r"ab(?i:cd)ef")) == "ab"  # a group with its own flags ends a run
    assert literal(re.compile(r"ab|cd")) is None  # alternatives: no run every match holds
    assert literal(re.compile(r"(?i)Kx+")) is None  # one character is not worth a test
    assert literal(re.compile(r"(?i)caf\u00e9")) is None  # not ASCII: Unicode case folding applies


CONTRACTION_TEXTS = [
    "I cannot go",
    "I CANNOT go",
    "CaNnOt",
    "cannotx xcannot can not",
    "d'ye gimme gonna gotta lemme more'n wanna 'tis 'twas",
    "D'YE GIMME GONNA GOTTA LEMME MORE'N WANNA 'TIS 'TWAS",
    "wanna",
    "wanna.",
    "'tis",
    "x 'Twas",
    "caf\u00e9 cannot gonna",  # not ASCII: the patterns run
    "\u212a cannot",  # KELVIN SIGN
    "",
    "nothing to see here",
]


def test_gated_contractions_equal_nltks_patterns():
    for cls, fast in (
        (NLTKWordTokenizer, fast_patterns.fast_word()),
        (TreebankWordTokenizer, fast_patterns.fast_treebank()),
    ):
        for attr in ("CONTRACTIONS2", "CONTRACTIONS3"):
            for stock, gated in zip(getattr(cls, attr), getattr(fast, attr)):
                assert gated.pattern == stock.pattern and gated.flags == stock.flags
                for text in CONTRACTION_TEXTS:
                    padded = f" {text} "
                    assert gated.sub(r" \1 \2 ", padded) == stock.sub(r" \1 \2 ", padded), (stock.pattern, text)
        for text in CONTRACTION_TEXTS:
            assert fast.tokenize(text) == cls().tokenize(text), text


def test_the_gate_skips_ascii_text_without_the_literal(monkeypatch):
    gated = fast_patterns.fast_word().CONTRACTIONS2[0]
    scanned = []

    class Spy:
        def __init__(self, pattern):
            self._pattern = pattern

        def sub(self, replacement, text):
            scanned.append(text)
            return self._pattern.sub(replacement, text)

    gated.sub(r" \1 \2 ", " cannot ")  # the template is compiled on the first match, by `re` itself
    monkeypatch.setattr(gated, "compiled", Spy(gated.compiled))
    assert gated.sub(r" \1 \2 ", " so it goes ") == " so it goes "
    assert scanned == []
    assert gated.sub(r" \1 \2 ", " Cannot ") == "  Can not  "
    assert gated.sub(r" \1 \2 ", " caf\u00e9 ") == " caf\u00e9 "
    assert scanned == [" Cannot ", " caf\u00e9 "]


def test_regex_only_syntax_is_never_swapped():
    for source in (r"([^\p{L}\p{N}])\1{3,}", r"[[:alpha:]]+", r"\Ga", r"a(?|b|c)"):
        with pytest.raises(ValueError):
            fast_patterns.fast_pattern(redos.compile(source))
    with pytest.raises(ValueError):
        fast_patterns.fast_pattern(re.compile("a"))  # not NLTK's


def _guarded_left(obj) -> list:
    """Names of attributes of obj that still hold an NLTK guarded pattern (directly or in pairs)."""
    left = []
    for name in dir(obj):
        if name.startswith("__"):
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # noqa: BLE001 - properties that need state
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            parts = item if isinstance(item, tuple) else (item,)
            if any(isinstance(part, redos.TimedPattern) for part in parts):
                left.append(name)
    return left


def test_no_guarded_pattern_is_left_in_a_swapped_tokenizer():
    assert _guarded_left(NLTKWordTokenizer())  # the check sees them in stock NLTK
    for tokenizer in (
        fast_patterns.fast_word(),
        fast_patterns.fast_treebank(),
        fast_patterns.fast_wordpunct(),
        fast_patterns.fast_whitespace(),
    ):
        assert _guarded_left(tokenizer) == [], type(tokenizer).__name__
    punkt = fast_patterns.fast_punkt()
    assert _guarded_left(punkt._lang_vars) == []
    assert _guarded_left(punkt._Token("word.")) == []
    # TweetTokenizer: the main pattern is swapped; HANG_RE (regex-only \p{L}), the entity, handle and
    # lengthening patterns are module globals of NLTK's and stay guarded (the docstring says so).
    tweet = fast_patterns.fast_tweet()
    assert isinstance(tweet.WORD_RE, fast_patterns._CheckedPattern)
    assert isinstance(tweet.PHONE_WORD_RE, fast_patterns._CheckedPattern)
    assert isinstance(nltk.tokenize.casual.HANG_RE, redos.TimedPattern)


def test_stock_nltk_is_left_untouched():
    fast_patterns.fast_word(), fast_patterns.fast_punkt(), fast_patterns.fast_tweet()
    assert all(isinstance(p, redos.TimedPattern) for p, _ in NLTKWordTokenizer.PUNCTUATION)
    assert all(isinstance(p, redos.TimedPattern) for p, _ in TreebankWordTokenizer.ENDING_QUOTES)
    assert isinstance(nltk.tokenize.TweetTokenizer().WORD_RE, redos.TimedPattern)
    assert isinstance(nltk.tokenize.punkt.PunktToken._RE_NUMERIC, redos.TimedPattern)


# ---------------------------------------------------------------------------------------------
# Where the engines could disagree: routed to the guarded path, and that routing matters
# ---------------------------------------------------------------------------------------------


def test_the_unsafe_characters_are_where_the_engines_classify_differently():
    unsafe = fast_patterns.unsafe_characters()
    # \s: re counts the ASCII separators \x1c-\x1f as space, regex does not; \w: combining marks,
    # ZWJ, other numbers; \d: digits newer than CPython's Unicode; case: Turkish dotted/dotless i.
    for char in "\x1c\x1f\u0301\u200d\u00b2\u00bd\u0130\u0131":
        assert char in unsafe, hex(ord(char))
    for char in "aZ09_ .,'\"()\n\t\xe9\xdf\u201c\u2019\u00ab\u2014\U0001f600\u65e5":
        assert char not in unsafe, hex(ord(char))


def test_word_boundaries_follow_each_engines_own_word_characters():
    # So \b needs no entry of its own in unsafe_characters(): it agrees wherever \w agrees.
    everything = "".join(map(chr, range(0x110000)))
    spaced = " " + " ".join(everything) + " "
    for engine in (re, regex):
        words = set(engine.findall(r"\w", everything))
        before = {spaced[m.start()] for m in engine.finditer(r"\b(?=\S)", spaced)}
        assert before == words, engine.__name__


@pytest.mark.parametrize(
    "name, options, text",
    [
        ("whitespace", {}, "a\x1cb"),  # re splits at \x1c (str.isspace), regex does not
        ("wordpunct", {}, "a\x1cb"),
        ("word", {"preserve_line": True}, "'\xb2ll"),  # '²' is \w to re (isalnum), not to regex
    ],
)
def test_routing_is_load_bearing(name, options, text):
    routed = tokenizers.make_tokenizer(name, engine="fast", **options)
    stock = tokenizers.make_tokenizer(name, engine="guarded", **options)
    assert routed._fast(text) != stock(text)  # what the fast patterns alone would give
    assert routed(text) == stock(text)
    assert (routed.fast, routed.guarded) == (0, 1)


@pytest.mark.parametrize("text", ["a\x1cb", "x\xb2y", "e\u0301t"])
def test_the_tweet_pattern_checks_the_text_it_is_given(text):
    # TweetTokenizer turns entities such as &#x1c; into characters before its main pattern runs.
    checked = type(fast_patterns.fast_tweet())._PHONE_WORD_RE
    assert checked._fast(text) != checked._guarded.findall(text)
    assert checked.findall(text) == checked._guarded.findall(text)
    entity = "&#" + str(ord(text[1])) + ";"
    tweet = tokenizers.make_tokenizer("tweet", engine="fast")
    assert tweet(text[0] + entity + text[2:]) == nltk.tokenize.TweetTokenizer().tokenize(text[0] + entity + text[2:])


def test_long_messages_and_failures_take_the_guarded_path():
    routed = tokenizers.make_tokenizer("word", punkt="untrained")
    long_text = "word " * (fast_patterns.MAX_FAST_CHARS // 5 + 1)
    assert routed(long_text) == ["word"] * (fast_patterns.MAX_FAST_CHARS // 5 + 1)
    assert (routed.fast, routed.guarded) == (0, 1)
    failing = Routed(lambda text: 1 / 0, lambda text: ["guarded"])
    assert failing("x") == ["guarded"] and failing.guarded == 1


def test_user_patterns_always_run_guarded():
    tokenize = tokenizers.make_tokenizer("regexp", pattern=r"\w+", engine="fast")
    assert not isinstance(tokenize, Routed)
    assert tokenize("a b") == ["a", "b"]
    assert isinstance(tokenize.__self__._regexp, redos.TimedPattern)


# ---------------------------------------------------------------------------------------------
# Differential: real English prose and generated text, every variant
# ---------------------------------------------------------------------------------------------


def test_every_variant_equals_stock_nltk_on_english_prose(all_variants):
    corpus, texts = english_prose()
    for variant in all_variants:
        # The default (word) on every text; the others on every other one here, on all in the sweep.
        compared = texts if variant.name.startswith("word") else texts[::2]
        for text in compared:
            expected = outcome(variant.stock, text)
            assert outcome(variant.fast, text) == expected, f"{variant.name} on {corpus}: {describe(text)}"
        if variant.name.startswith("tweet"):
            continue
        # The prose is English: nearly all of it must have taken the fast path.
        assert variant.fast.fast >= 0.98 * len(compared), (variant.name, variant.fast.fast, variant.fast.guarded)


@settings(
    max_examples=GENERATED_EXAMPLES // _BATCH,
    deadline=None,
    database=None,
    phases=[Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
@given(texts=st.lists(TEXTS, min_size=_BATCH, max_size=_BATCH))
def test_every_variant_equals_stock_nltk_on_generated_text(all_variants, texts):
    for text in texts:
        for variant in all_variants:
            assert outcome(variant.fast, text) == outcome(variant.stock, text), f"{variant.name}: {describe(text)}"


def test_the_generated_text_exercises_the_fast_path(all_variants):
    """Most generated texts must reach the fast patterns, or the differential test proves little."""
    routed = next(v.fast for v in all_variants if v.name == "wordpunct")
    before = routed.fast, routed.guarded
    samples = []

    @settings(
        max_examples=300, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
    )
    @given(text=TEXTS)
    def collect(text):
        samples.append(text)

    collect()
    for text in samples:
        routed(text)
    fast, guarded = routed.fast - before[0], routed.guarded - before[1]
    assert fast >= 0.5 * len(samples), (fast, guarded)


# ---------------------------------------------------------------------------------------------
# The config key
# ---------------------------------------------------------------------------------------------


def test_tokenize_engine_is_a_config_key_fast_by_default():
    assert load_config(DIRECT).tokenize.engine == "fast"
    config = load_config(DIRECT, ["tokenize.engine=guarded"])
    assert config.tokenize.engine == "guarded"
    assert config.tokenize.engine == "guarded"
    with pytest.raises(ConfigError, match="engine"):
        load_config(DIRECT, ["tokenize.engine=turbo"])


def test_the_engine_reaches_the_worker():
    from transforms.text.tokenize import TokenizeText

    for engine, routed in (("fast", True), ("guarded", False)):
        fn = TokenizeText("word", punkt="untrained", engine=engine)._fn
        fn.setup()
        assert isinstance(fn._tokenize, Routed) is routed, engine
