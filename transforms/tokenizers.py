"""NLTK tokenizers by name, loaded once, with the Punkt fallback made explicit.

`word` has `nltk.word_tokenize` semantics: Punkt splits sentences, then NLTK's
word tokenizer splits each one. Punkt needs the `punkt_tab` data; when it is not
installed, `punkt: untrained` (or `auto`) uses an untrained Punkt instead.
"""

from __future__ import annotations

from typing import Callable

import nltk
from nltk.tokenize import (
    NLTKWordTokenizer,
    PunktTokenizer,
    RegexpTokenizer,
    TreebankWordTokenizer,
    TweetTokenizer,
    WhitespaceTokenizer,
    WordPunctTokenizer,
)
from nltk.tokenize.punkt import PunktSentenceTokenizer

__all__ = ["TOKENIZERS", "PUNKT_MODES", "MissingNltkData", "make_tokenizer", "punkt_installed"]

TOKENIZERS = ("word", "treebank", "tweet", "wordpunct", "whitespace", "regexp", "sentences")
PUNKT_MODES = ("installed", "untrained", "auto")

Tokenize = Callable[[str], list]


class MissingNltkData(LookupError):
    """An NLTK resource the configuration needs is not installed."""


def punkt_installed(language: str = "english") -> bool:
    """True when NLTK finds the punkt_tab model for the language."""
    try:
        PunktTokenizer(language)
    except LookupError:
        return False
    return True


def _sentence_splitter(language: str, punkt: str) -> Callable[[str], list]:
    if punkt == "untrained" or (punkt == "auto" and not punkt_installed(language)):
        return PunktSentenceTokenizer().tokenize
    try:
        return PunktTokenizer(language).tokenize
    except LookupError:
        raise MissingNltkData(
            f"NLTK resource punkt_tab ({language}) is not installed in {nltk.data.path}: "
            "install it with `python -m nltk.downloader punkt_tab` "
            "or set tokenize.punkt: untrained"
        ) from None


def make_tokenizer(
    name: str = "word",
    *,
    language: str = "english",
    punkt: str = "auto",
    preserve_line: bool = False,
    pattern: str | None = None,
    strip_handles: bool = False,
    reduce_len: bool = False,
) -> Tokenize:
    """Returns a function text -> tokens identical to the NLTK tokenizer `name`.

    Raises:
        MissingNltkData: the tokenizer needs data that is not installed.
        ValueError: an unknown tokenizer, or a regexp without a pattern.
    """
    if name == "word":
        words = NLTKWordTokenizer().tokenize
        if preserve_line:
            return words
        sentences = _sentence_splitter(language, punkt)
        return lambda text: [token for sentence in sentences(text) for token in words(sentence)]
    if name == "sentences":
        return _sentence_splitter(language, punkt)
    if name == "treebank":
        return TreebankWordTokenizer().tokenize
    if name == "tweet":
        return TweetTokenizer(strip_handles=strip_handles, reduce_len=reduce_len).tokenize
    if name == "wordpunct":
        return WordPunctTokenizer().tokenize
    if name == "whitespace":
        return WhitespaceTokenizer().tokenize
    if name == "regexp":
        if not pattern:
            raise ValueError("the regexp tokenizer needs a pattern")
        return RegexpTokenizer(pattern).tokenize
    raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
