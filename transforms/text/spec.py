"""TokenizeSpec: the NLTK tokenizer and the normalisation of its tokens, as TokenizeText takes them.

The spec checks what it can know by itself: names, ranges, the keys that only one
tokenizer takes, a regexp pattern's syntax. Whether NLTK has the
data a name asks for (a Punkt model, a stopwords list) depends on where the job is
built; TokenizeText finds out when it loads that data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Optional, Union

from nltk.stem import SnowballStemmer
from pydantic import Field, model_validator

from transforms.spec import Bool, Spec, SpecError, Str, int_range, named_choice, one_of, plain, spec, strings
from transforms.text.nltk_resources import NLTK_DATA_MODES
from transforms.text.normalize import LEMMA_POS, LEMMATIZERS, STEMMERS
from transforms.text.tokenizers import ENGINES, PUNKT_MODES, TOKENIZERS, validate_pattern

__all__ = ["DEFAULT_MAX_CHARS", "LANGUAGE_NAME", "TokenizeSpec"]

LANGUAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
# At most this many characters are tokenized per message (0.5 s of Punkt at its worst, measured
# on 20,000 characters of ". "); longer messages become dead letters, and the output one
# huge token can cause is bounded by it too.
DEFAULT_MAX_CHARS = 20_000
# The keys that only one tokenizer takes.
_ONLY_FOR = {
    "pattern": "regexp",
    "gaps": "regexp",
    "strip_handles": "tweet",
    "reduce_len": "tweet",
    "preserve_line": "word",
}
# The fields that are make_tokenizer's options.
_TOKENIZER_OPTIONS = ("language", "punkt", "preserve_line", "pattern", "gaps", "strip_handles", "reduce_len", "engine")


def _stopwords(value: Any):
    """None, an NLTK list name (NLTK is asked when the data is loaded), `file:PATH` of a file, or words."""
    if value is None or (isinstance(value, str) and value and not value.startswith("file:")):
        return value
    if isinstance(value, str):
        path = Path(value[len("file:") :]).expanduser()
        if not value or not path.is_file():
            raise ValueError(f"no such file: {str(path)!r}" if value else "must not be empty")
        return value
    return strings(value, "an NLTK list name (english), file:PATH or a list of words")


def _directories(value: Any) -> tuple:
    if value is None:
        return ()
    return strings([value] if isinstance(value, str) else value, "a directory or a list of directories")


@spec
class TokenizeSpec(Spec):
    """The NLTK tokenizer and the normalisation of its tokens."""

    tokenizer: named_choice("tokenizer", TOKENIZERS) = "word"
    """Gives exactly what the NLTK function of that name gives (word: nltk.word_tokenize)."""
    lowercase: Bool = True
    drop_punctuation: Bool = True
    """Drop tokens made only of punctuation."""
    language: Str = Field("english", json_schema_extra={"pattern": LANGUAGE_NAME.pattern})
    """The Punkt model and the default stem_language: a Snowball language or an installed Punkt model."""
    punkt: one_of(*PUNKT_MODES) = "auto"
    """word and sentences: installed (punkt_tab), untrained (no data), auto (installed when present)."""
    preserve_line: Bool = False
    """word only: no sentence splitting."""
    pattern: Optional[Str] = None
    """regexp only, required: what a token looks like (NLTK's regex engine, under its ReDoS guard)."""
    gaps: Bool = False
    """regexp only: the pattern matches the gaps between tokens."""
    strip_handles: Bool = False
    """tweet only: drop @handles."""
    reduce_len: Bool = False
    """tweet only: shorten runs of a character repeated more than 3 times to 3."""
    engine: one_of(*ENGINES) = "fast"
    """fast: NLTK's fixed patterns on `re` where proven identical; guarded: stock NLTK."""
    max_chars: int_range(1) = DEFAULT_MAX_CHARS
    """The CPU budget of one message: a longer message is a dead letter (message too long to tokenize)."""
    casefold: Bool = False
    """Full Unicode case folding instead of lowercase."""
    nfkc: Bool = False
    """Unicode NFKC of each token."""
    drop_numbers: Bool = False
    """Drop tokens made only of digits and punctuation."""
    min_length: int_range(1) = 1
    """Drop tokens shorter than this many characters."""
    stopwords: Annotated[Any, plain(_stopwords, Optional[Union[str, list[str]]])] = None
    """Drop these words: an NLTK stopwords list name, file:PATH (one word per line) or a list of words."""
    stem: Optional[one_of(*STEMMERS)] = None
    stem_language: Optional[Str] = None
    """The snowball stemmer's language; null: language."""
    lemmatize: Optional[one_of(*LEMMATIZERS)] = None
    """wordnet: NLTK's WordNetLemmatizer; not together with stem."""
    lemma_pos: one_of(*LEMMA_POS) = "n"
    ngrams: int_range(1, 10) = 1
    """2 counts bigrams, 3 trigrams, ...: joined by a space."""
    nltk_data: one_of(*NLTK_DATA_MODES) = "ship"
    """ship: NLTK data is read where the job is built and travels inside it; workers: each worker reads its own."""
    nltk_data_path: Annotated[tuple, plain(_directories, Optional[Union[str, list[str]]])] = ()
    """Directories (one or a list) NLTK searches first."""

    @model_validator(mode="after")
    def _check(self):
        for key, tokenizer in _ONLY_FOR.items():
            if getattr(self, key) and self.tokenizer != tokenizer:
                raise SpecError(key, f"only the {tokenizer} tokenizer takes {key} (tokenizer is {self.tokenizer})")
        if self.tokenizer == "regexp":
            if not self.pattern:
                raise SpecError("pattern", "the regexp tokenizer needs a pattern")
            try:
                validate_pattern(self.pattern)
            except ValueError as e:
                raise SpecError("pattern", str(e)) from None
        if not LANGUAGE_NAME.match(self.language):
            raise SpecError("language", f"expected a language name such as english, got {self.language!r}")
        if self.stem and self.lemmatize:
            raise SpecError("lemmatize", "choose stem or lemmatize, not both")
        if self.stem == "snowball" and self.stemmer_language not in SnowballStemmer.languages:
            raise SpecError(
                "stem_language" if self.stem_language else "language",
                f"the snowball stemmer has no language {self.stemmer_language!r}; "
                f"choose one of {', '.join(SnowballStemmer.languages)}",
            )
        return self

    @property
    def stemmer_language(self) -> str:
        return self.stem_language or self.language

    def tokenizer_options(self) -> dict:
        """The keyword arguments of transforms.text.tokenizers.make_tokenizer after the name."""
        return {name: getattr(self, name) for name in _TOKENIZER_OPTIONS}
