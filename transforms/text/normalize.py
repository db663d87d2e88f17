"""Token normalisation after tokenization: each step optional, always in this order.

1. `nfkc`: Unicode NFKC normalisation of each token (compatibility forms: `ﬁ` -> `fi`, full-width -> ASCII).
2. `lowercase` (`str.lower`) or `casefold` (`str.casefold`, full Unicode case folding: `ß` -> `ss`).
3. Empty tokens are dropped; `drop_punctuation` drops tokens made only of punctuation,
   `drop_numbers` tokens made only of digits and punctuation (`42`, `3.50`, `10:30`, `1,000`).
4. `min_length`: drops tokens shorter than N characters.
5. `stopwords`: drops tokens in the stopword set, compared caselessly (`str.casefold`).
6. `stem` (NLTK's `porter`, `snowball` in `stem_language`, `lancaster`; each lowercases, as NLTK's
   stemmers do) or `lemmatize: wordnet` (NLTK's WordNet lemmatizer, with `lemma_pos`).
7. `ngrams`: N > 1 replaces the tokens with their N-grams (`nltk.ngrams`), joined by a space.

The steps are those a TokenizeSpec (transforms/text/spec.py) asks for. `make_normalizer`
builds the function once (in `DoFn.setup`); it maps one message's token list to its
normalised token list.
"""

from __future__ import annotations

import functools
import string
import unicodedata
from typing import TYPE_CHECKING, Callable, Optional

from nltk.stem import LancasterStemmer, PorterStemmer, SnowballStemmer
from nltk.util import ngrams as nltk_ngrams

if TYPE_CHECKING:
    from transforms.text.spec import TokenizeSpec

__all__ = [
    "STEMMERS",
    "LEMMATIZERS",
    "LEMMA_POS",
    "is_number",
    "is_punctuation",
    "make_normalizer",
]

STEMMERS = ("porter", "snowball", "lancaster")
LEMMATIZERS = ("wordnet",)
LEMMA_POS = ("n", "v", "a", "r", "s")
_ASCII_PUNCTUATION = frozenset(string.punctuation)
# Tokens follow Zipf's law: a small cache answers most calls.
_TOKEN_CACHE = 1 << 16
_CACHED_TOKEN_LENGTH = 40

Normalize = Callable[[list], list]


def is_punctuation(token: str) -> bool:
    """True for a token made only of punctuation (Unicode P* or ASCII punctuation)."""
    return all(ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P") for ch in token)


def is_number(token: str) -> bool:
    """True for a token of numeric characters and punctuation with at least one numeric character."""
    return any(ch.isnumeric() for ch in token) and all(ch.isnumeric() or is_punctuation(ch) for ch in token)


def _stemmer(name: str, language: str) -> Callable[[str], str]:
    stemmer = {"porter": PorterStemmer, "lancaster": LancasterStemmer}.get(name)
    return stemmer().stem if stemmer else SnowballStemmer(language).stem


def _token_steps(options: TokenizeSpec, stopwords: frozenset, lemmatizer: Optional[Callable[[str], str]]) -> list:
    """The per-token steps: maps (str -> str) and filters (str -> bool), in order."""
    steps = []
    if options.nfkc:
        steps.append(("map", functools.partial(unicodedata.normalize, "NFKC")))
    if options.casefold:
        steps.append(("map", str.casefold))
    elif options.lowercase:
        steps.append(("map", str.lower))
    steps.append(("keep", bool))
    if options.drop_punctuation:
        steps.append(("keep", lambda token: not is_punctuation(token)))
    if options.drop_numbers:
        steps.append(("keep", lambda token: not is_number(token)))
    if options.min_length > 1:
        steps.append(("keep", lambda token: len(token) >= options.min_length))
    if stopwords:
        stopwords = frozenset(word.casefold() for word in stopwords)
        steps.append(("keep", lambda token: token.casefold() not in stopwords))
    if options.stem:
        steps.append(("map", _stemmer(options.stem, options.stemmer_language)))
    if lemmatizer is not None:
        steps.append(("map", lemmatizer))
    return steps


def _token_normalizer(steps: list) -> Callable[[str], Optional[str]]:
    """One token through every step: its normalised form, or None when a step drops it."""

    def normalize_token(token: str) -> Optional[str]:
        for kind, step in steps:
            if kind == "map":
                token = step(token)
            elif not step(token):
                return None
        return token

    return normalize_token


def make_normalizer(
    options: TokenizeSpec, stopwords: frozenset = frozenset(), lemmatizer: Optional[Callable[[str], str]] = None
) -> Normalize:
    """Returns a function tokens -> normalised tokens; build it once per worker.

    Args:
        options: the steps to run.
        stopwords: the words to drop (see `transforms.text.nltk_resources.load_stopwords`).
        lemmatizer: word -> lemma, required when `options.lemmatize` is set
            (see `transforms.text.nltk_resources.wordnet_lemmatizer`).
    """
    if options.lemmatize and lemmatizer is None:
        raise ValueError("lemmatize needs a lemmatizer")
    steps = _token_steps(options, stopwords, lemmatizer if options.lemmatize else None)
    # Every step depends on the token alone, and tokens follow Zipf's law: a cache of
    # the whole chain answers most tokens with one lookup. Long tokens bypass it, so
    # that odd input cannot fill it with large strings.
    normalize_token = _token_normalizer(steps)
    cached = functools.lru_cache(maxsize=_TOKEN_CACHE)(normalize_token)
    n = options.ngrams

    def normalize(tokens: list) -> list:
        normals = (cached(token) if len(token) <= _CACHED_TOKEN_LENGTH else normalize_token(token) for token in tokens)
        tokens = [normal for normal in normals if normal is not None]
        return [" ".join(gram) for gram in nltk_ngrams(tokens, n)] if n > 1 else tokens

    return normalize
