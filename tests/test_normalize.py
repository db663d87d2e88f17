"""Unit tests of transforms/text/normalize.py and the normalisation options of TokenizeText.

Each step is compared with the NLTK (or Python) function it stands for; NLTK data
(stopwords, WordNet) comes from an nltk_data directory built by the test.
"""

from __future__ import annotations

import unicodedata

import apache_beam as beam
import nltk
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nltk.corpus.reader import CorpusReader, WordNetCorpusReader
from nltk.corpus.util import LazyCorpusLoader
from nltk.stem import LancasterStemmer, PorterStemmer, SnowballStemmer, WordNetLemmatizer

from pipeline.config import ConfigError, load_config
from tests.nltk_data_helpers import STOPWORDS, write_nltk_data
from transforms.records import Message
from transforms.text.nltk_resources import MissingNltkData, load_stopwords, open_wordnet, wordnet_lemmatizer
from transforms.text.normalize import is_number, is_punctuation, make_normalizer
from transforms.text.spec import TokenizeSpec
from transforms.text.tokenize import TokenizedMessage, TokenizeText

DIRECT = "run_configs/direct.yaml"
_OFF = {"lowercase": False, "drop_punctuation": False}  # every default step off
WORDS = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "running",
                "Cats",
                "geese",
                "was",
                "better",
                "Generously",
                "fairly",
                "Straße",
                "häuser",
                "ran",
                "wolves",
                "churches",
                "flies",
                "sensational",
                "ﬁne",
                "maximum",
                "us",
                "dogs",
                "stopped",
            ]
        ),
        st.text(min_size=1, max_size=12),
    ),
    max_size=30,
)


def _normalize(tokens, stopwords=frozenset(), **options):
    return make_normalizer(TokenizeSpec(**options), stopwords)(list(tokens))


@pytest.fixture
def nltk_data(tmp_path, monkeypatch):
    """NLTK searches only a test nltk_data directory: punkt_tab, stopwords (english, german), wordnet."""
    root = write_nltk_data(tmp_path / "nltk_data")
    monkeypatch.setattr(nltk.data, "path", [str(root)])
    # NLTK's global WordNet, fresh, so that WordNetLemmatizer reads this directory too.
    omw = LazyCorpusLoader("omw-2.0", CorpusReader, r".*/wn-data-.*\.tab", encoding="utf8")
    monkeypatch.setattr(nltk.corpus, "wordnet", LazyCorpusLoader("wordnet", WordNetCorpusReader, omw))
    return root


def test_unicode_and_case_steps():
    tokens = ["ﬁne", "ＣＡＴＳ", "Straße", "ΣΊΣΥΦΟΣ"]
    assert _normalize(tokens, nfkc=True, **_OFF) == [unicodedata.normalize("NFKC", t) for t in tokens]
    assert _normalize(tokens, nfkc=True) == ["fine", "cats", "straße", "σίσυφος"]
    assert _normalize(tokens, nfkc=True, casefold=True) == ["fine", "cats", "strasse", "σίσυφοσ"]
    assert _normalize(tokens) == ["ﬁne", "ｃａｔｓ", "straße", "σίσυφος"]  # lowercase only: NFKC is off by default


def test_punctuation_numbers_empty_and_length():
    tokens = ["", "...", "«", "—", "$", "3.50", "1,000", "10:30", "-5", "½", "3rd", "covid-19", "a", "to", "cat"]
    assert [t for t in tokens if is_punctuation(t) and t] == ["...", "«", "—", "$"]
    assert [t for t in tokens if is_number(t)] == ["3.50", "1,000", "10:30", "-5", "½"]
    assert _normalize(tokens, **_OFF) == tokens[1:]  # empty tokens never count
    assert _normalize(tokens) == ["3.50", "1,000", "10:30", "-5", "½", "3rd", "covid-19", "a", "to", "cat"]
    assert _normalize(tokens, drop_numbers=True, min_length=3) == ["3rd", "covid-19", "cat"]


def test_stopwords_are_compared_caselessly():
    options = {**_OFF, "stopwords": frozenset(["the", "DASS"])}
    assert _normalize(["The", "THE", "cat", "daß", "Dass", "da"], **options) == ["cat", "da"]  # daß casefolds to dass
    assert _normalize(["the", "Cat"], stopwords=frozenset(["THE"])) == ["cat"]


@pytest.mark.parametrize(
    "stem, stemmer",
    [
        ("porter", PorterStemmer()),
        ("lancaster", LancasterStemmer()),
        ("snowball", SnowballStemmer("german")),
    ],
)
@given(tokens=WORDS)
@settings(max_examples=200, deadline=None)
def test_stemming_is_nltks_stemmer(stem, stemmer, tokens):
    expected = [stemmer.stem(t) for t in tokens]
    assert _normalize(tokens, stem=stem, stem_language="german", **_OFF) == expected


@pytest.mark.parametrize("pos", ["n", "v", "a", "r", "s"])
@given(tokens=WORDS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_lemmatisation_is_nltks_wordnet_lemmatizer(nltk_data, pos, tokens):
    lemmatize = wordnet_lemmatizer(open_wordnet(str(nltk_data)), pos)
    options = TokenizeSpec(lemmatize="wordnet", lemma_pos=pos, **_OFF)
    assert make_normalizer(options, lemmatizer=lemmatize)(tokens) == [
        WordNetLemmatizer().lemmatize(t, pos) for t in tokens
    ]


def test_lemmatisation_with_the_test_wordnet(nltk_data):
    lemmatize = wordnet_lemmatizer(open_wordnet(str(nltk_data)), "n")
    assert [lemmatize(w) for w in ["dogs", "geese", "churches", "wolves", "us", "cats"]] == [
        "dog",
        "goose",
        "church",
        "wolf",
        "u",
        "cats",
    ]  # "cats": not in the test WordNet, so unchanged


@given(tokens=WORDS, n=st.integers(min_value=2, max_value=4))
def test_ngrams_are_nltk_ngrams_joined_by_a_space(tokens, n):
    assert _normalize(tokens, ngrams=n, **_OFF) == [" ".join(gram) for gram in nltk.ngrams(tokens, n)]


def test_the_steps_run_in_the_documented_order():
    tokens = ["The", "ＣＡＴＳ", "are", "in", "New", "York", "!", "42", "a", "Running"]
    options = TokenizeSpec(nfkc=True, drop_numbers=True, min_length=2, stem="porter", ngrams=2)
    # NFKC, lowercase, drop "!" and "42", drop "a" (length 1), drop stopwords, stem, then pairs.
    assert make_normalizer(options, frozenset(["the", "are", "in"]))(tokens) == ["cat new", "new york", "york run"]


def test_stopwords_from_nltk_a_file_or_a_list(nltk_data, tmp_path):
    assert load_stopwords("english") == frozenset(STOPWORDS["english"])
    assert load_stopwords("german") == frozenset(
        nltk.corpus.reader.StopwordsCorpusReader(str(nltk_data / "corpora" / "stopwords"), ["german"]).words("german")
    )
    assert "cannot" in load_stopwords("english-extended")  # NLTK 3.10's list built from english
    file = tmp_path / "stop.txt"
    file.write_text("# my list\nfoo\n\n  bar  \n", encoding="utf-8")
    assert load_stopwords(f"file:{file}") == {"foo", "bar"}
    assert load_stopwords(["x", "y"]) == {"x", "y"}
    with pytest.raises(MissingNltkData, match=r"^NLTK's stopwords corpus has no list 'klingon'; it has english, "):
        load_stopwords("klingon")


def test_missing_stopwords_or_wordnet_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(MissingNltkData) as raised:
        TokenizeText("whitespace", stopwords="english")
    assert str(raised.value) == (
        f"NLTK resource stopwords (english) is not installed in {[str(tmp_path)]}: install it with "
        "`python -m pipeline nltk-data download stopwords` or give tokenize.stopwords as file:PATH or as a list of words"
    )
    with pytest.raises(MissingNltkData) as raised:
        TokenizeText("whitespace", lemmatize="wordnet")
    assert str(raised.value) == (
        f"NLTK resource wordnet (corpora/wordnet) is not installed in {[str(tmp_path)]}: install it with "
        "`python -m pipeline nltk-data download wordnet` or use tokenize.stem instead of lemmatize"
    )


def test_tokenize_text_normalises_in_a_pipeline(nltk_data):
    texts = ["The geese saw New York.", "ＣＡＴＳ and dogs ran 42 miles!"]
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        messages = p | beam.Create([Message(text, f"k{i}", "t", 0, i) for i, text in enumerate(texts)])
        out = messages | TokenizeText(
            "word", punkt="installed", nfkc=True, drop_numbers=True, stopwords="english", lemmatize="wordnet", ngrams=2
        )
        assert_that(
            out.tokens,
            equal_to(
                [
                    TokenizedMessage("k0", ("goose saw", "saw new", "new york"), "t", 0, 0),
                    TokenizedMessage("k1", ("cats dog", "dog ran", "ran miles"), "t", 0, 1),
                ]
            ),
        )


def test_config_keys_of_normalisation(tmp_path):
    stop = tmp_path / "stop.txt"
    stop.write_text("foo\n", encoding="utf-8")
    config = load_config(
        DIRECT,
        (
            "tokenize.nfkc=true",
            "tokenize.casefold=true",
            "tokenize.drop_numbers=true",
            "tokenize.min_length=2",
            f"tokenize.stopwords=file:{stop}",
            "tokenize.stem=snowball",
            "tokenize.stem_language=german",
            "tokenize.ngrams=2",
        ),
    ).tokenize
    assert (
        config.nfkc,
        config.casefold,
        config.drop_numbers,
        config.min_length,
        config.stopwords,
        config.stem,
        config.stem_language,
        config.ngrams,
    ) == (True, True, True, 2, f"file:{stop}", "snowball", "german", 2)
    assert load_config(DIRECT, ("tokenize.stopwords=[a, b]",)).tokenize.stopwords == ("a", "b")

    def error(*overrides: str) -> str:
        with pytest.raises(ConfigError) as raised:
            load_config(DIRECT, overrides)
        return str(raised.value)

    assert error("tokenize.stem=porter", "tokenize.lemmatize=wordnet") == (
        f"{DIRECT}: tokenize.lemmatize: choose stem or lemmatize, not both"
    )
    assert error("tokenize.stem=snowball", "tokenize.stem_language=klingon").startswith(
        f"{DIRECT}: tokenize.stem_language: the snowball stemmer has no language 'klingon'; choose one of arabic, "
    )
    assert error("tokenize.stem=snowball", "tokenize.language=estonian").startswith(
        f"{DIRECT}: tokenize.language: the snowball stemmer has no language 'estonian'"
    )
    assert error("tokenize.stopwords=file:/nonexistent/stop.txt") == (
        f"{DIRECT}: tokenize.stopwords: no such file: '/nonexistent/stop.txt'"
    )
    assert error("tokenize.stopwords=[a, 1]") == (
        f"{DIRECT}: tokenize.stopwords: expected an NLTK list name (english), file:PATH or a list of words, got ['a', 1]"
    )
    assert error("tokenize.min_length=0") == f"{DIRECT}: tokenize.min_length: must be at least 1, got 0"
    assert error("tokenize.ngrams=0") == f"{DIRECT}: tokenize.ngrams: must be between 1 and 10, got 0"
    assert error("tokenize.lemma_pos=x") == f"{DIRECT}: tokenize.lemma_pos: must be one of n, v, a, r, s, got 'x'"
    assert error("tokenize.stem=krovetz") == (
        f"{DIRECT}: tokenize.stem: must be one of porter, snowball, lancaster, got 'krovetz'"
    )
