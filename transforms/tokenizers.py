"""NLTK tokenizers by name, loaded once, with the Punkt fallback made explicit.

Each name gives exactly what the NLTK function of the same name gives (NLTK is
pinned, because tokenizer output changes between releases):

- `word`: `nltk.word_tokenize(text, language, preserve_line)`: Punkt splits
  sentences, then NLTK's word tokenizer splits each one. Punkt needs the
  `punkt_tab` data; when it is not installed, `punkt: untrained` (or `auto`)
  uses an untrained Punkt instead.
- `sentences`: `nltk.sent_tokenize(text, language)`, the same Punkt.
- `treebank`: `TreebankWordTokenizer().tokenize`.
- `tweet`: `TweetTokenizer(strip_handles=..., reduce_len=...).tokenize`.
- `wordpunct`: `nltk.wordpunct_tokenize`.
- `whitespace`: `WhitespaceTokenizer().tokenize`.
- `regexp`: `nltk.regexp_tokenize(text, pattern, gaps=...)`; the pattern runs on
  the `regex` engine under NLTK's ReDoS guard, and is checked with the same.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

import nltk.redos
from nltk.tokenize import (
    NLTKWordTokenizer,
    PunktTokenizer,
    RegexpTokenizer,
    TreebankWordTokenizer,
    TweetTokenizer,
    WhitespaceTokenizer,
    WordPunctTokenizer,
)
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

from transforms.nltk_resources import MissingNltkData, missing

__all__ = [
    "TOKENIZERS",
    "PUNKT_MODES",
    "MissingNltkData",
    "make_tokenizer",
    "needs_punkt",
    "punkt_installed",
    "punkt_parameters",
    "validate_pattern",
]

TOKENIZERS = ("word", "treebank", "tweet", "wordpunct", "whitespace", "regexp", "sentences")
PUNKT_MODES = ("installed", "untrained", "auto")
# RegexpTokenizer's default flags: a pattern is checked exactly as it will run.
_REGEXP_FLAGS = re.UNICODE | re.MULTILINE | re.DOTALL

Tokenize = Callable[[str], list]


def needs_punkt(name: str, preserve_line: bool = False) -> bool:
    """True when the tokenizer splits sentences with Punkt."""
    return name == "sentences" or (name == "word" and not preserve_line)


def punkt_installed(language: str = "english") -> bool:
    """True when NLTK finds the punkt_tab model for the language."""
    try:
        PunktTokenizer(language)
    except LookupError:
        return False
    return True


def punkt_parameters(language: str = "english", punkt: str = "auto") -> Optional[PunktParameters]:
    """The installed punkt_tab model of the language, or None for an untrained Punkt.

    `untrained` gives None; `auto` gives None when the model is not installed.

    Raises:
        MissingNltkData: `installed` and the model is not where NLTK looks.
    """
    if punkt == "untrained":
        return None
    try:
        return PunktTokenizer(language)._params  # the model word_tokenize loads, as it loads it
    except LookupError:
        if punkt == "auto":
            return None
        raise missing("punkt_tab", language, "or set tokenize.punkt: untrained") from None


def validate_pattern(pattern: str) -> None:
    """Checks a regexp tokenizer pattern with the engine and guard NLTK will run it under.

    Raises:
        ValueError: not a valid `regex` pattern, refused by NLTK's ReDoS guard, or
            with capturing groups (NLTK would return tuples of groups, not tokens).
    """
    try:
        compiled = nltk.redos.compile(pattern, _REGEXP_FLAGS)
    except re.error as e:  # nltk.redos.error is a re.error
        raise ValueError(f"invalid regular expression: {e}") from None
    except ValueError as e:
        raise ValueError(f"regular expression refused by NLTK's ReDoS guard: {e}") from None
    if compiled.groups:
        raise ValueError("the pattern has capturing groups, which make NLTK return groups instead of "
                         "tokens: use non-capturing groups (?:...)")


def _sentence_splitter(language: str, punkt: str, parameters: Optional[PunktParameters]) -> Tokenize:
    if parameters is not None:
        return PunktSentenceTokenizer(parameters).tokenize
    parameters = punkt_parameters(language, punkt)
    return (PunktSentenceTokenizer(parameters) if parameters is not None else PunktSentenceTokenizer()).tokenize


def make_tokenizer(
    name: str = "word",
    *,
    language: str = "english",
    punkt: str = "auto",
    preserve_line: bool = False,
    pattern: str | None = None,
    gaps: bool = False,
    strip_handles: bool = False,
    reduce_len: bool = False,
    punkt_parameters: Optional[PunktParameters] = None,
) -> Tokenize:
    """Returns a function text -> tokens identical to the NLTK tokenizer `name`.

    Args:
        punkt_parameters: a Punkt model already loaded (see `punkt_parameters()`),
            used instead of looking for punkt_tab; how a job carries the model to workers.

    Raises:
        MissingNltkData: the tokenizer needs data that is not installed.
        ValueError: an unknown tokenizer, or a regexp without a valid pattern.
    """
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    if name == "word":
        words = NLTKWordTokenizer().tokenize
        if preserve_line:
            return words
        sentences = _sentence_splitter(language, punkt, punkt_parameters)
        return lambda text: [token for sentence in sentences(text) for token in words(sentence)]
    if name == "sentences":
        return _sentence_splitter(language, punkt, punkt_parameters)
    if name == "treebank":
        return TreebankWordTokenizer().tokenize
    if name == "tweet":
        return TweetTokenizer(strip_handles=strip_handles, reduce_len=reduce_len).tokenize
    if name == "wordpunct":
        return WordPunctTokenizer().tokenize
    if name == "whitespace":
        return WhitespaceTokenizer().tokenize
    if not pattern:
        raise ValueError("the regexp tokenizer needs a pattern")
    validate_pattern(pattern)
    return RegexpTokenizer(pattern, gaps=gaps).tokenize
