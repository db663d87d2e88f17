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

`engine` picks how NLTK's own fixed patterns run: `guarded` is stock NLTK (its
`regex` engine under a timeout, `nltk.redos`); `fast` (the default) runs the
same NLTK tokenizer code on the same pattern strings compiled by `re`
(transforms/text/fast_patterns.py), with the messages it cannot prove identical
(too long, or holding a character the engines classify differently) on the
guarded path. The `regexp` tokenizer's user pattern is always guarded.
"""

from __future__ import annotations

import logging
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

from transforms.compat import punkt_parameters_of
from transforms.text import fast_patterns
from transforms.text.nltk_resources import MissingNltkData, missing

__all__ = [
    "ENGINES",
    "TOKENIZERS",
    "PUNKT_MODES",
    "MissingNltkData",
    "make_tokenizer",
    "needs_punkt",
    "punkt_installed",
    "punkt_parameters",
    "refuse_catastrophic_backtracking",
    "validate_pattern",
]

_log = logging.getLogger(__name__)

TOKENIZERS = ("word", "treebank", "tweet", "wordpunct", "whitespace", "regexp", "sentences")
PUNKT_MODES = ("installed", "untrained", "auto")
ENGINES = ("fast", "guarded")
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
        return punkt_parameters_of(PunktTokenizer(language))  # the model word_tokenize loads, as it loads it
    except LookupError:
        if punkt == "auto":
            return None
        raise missing("punkt_tab", language, "or set tokenize.punkt: untrained") from None


_load_punkt = punkt_parameters  # make_tokenizer's argument of that name hides the function


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
        raise ValueError(
            "the pattern has capturing groups, which make NLTK return groups instead of "
            "tokens: use non-capturing groups (?:...)"
        )


def refuse_catastrophic_backtracking(pattern: str) -> None:
    """Before a job starts: a pattern that stalls on a few kilobytes of plain input would stall on real messages.

    NLTK's guard would turn each such message into a dead letter after its timeout; refusing the
    pattern up front (validate, run) saves that on every message. A transform built in code keeps
    NLTK's per-message guard only.

    Raises:
        ValueError: a probe input runs past the limit.
    """
    slow = _backtracking_probe(nltk.redos.compile(pattern, _REGEXP_FLAGS), pattern)
    if slow is not None:
        raise ValueError(
            f"the pattern backtracks catastrophically: on {slow} it runs past "
            f"{_PROBE_LIMIT_S:g}s (every such message would stall a worker): avoid nested or "
            "overlapping repetition such as (a|a)* or (a+)+"
        )


# A pattern that takes this long on a few kilobytes of plain input will stall on real messages.
_PROBE_LIMIT_S = 0.2
_PROBE_RUN = 2000


def _backtracking_probe(compiled, pattern: str) -> Optional[str]:
    """The first probe input the pattern cannot finish within the limit, described; None if it finishes all.

    Probes are long runs of single characters (the pattern's own literal characters among them,
    since a catastrophic branch matches those) and of two alternating ones, each ending in
    a character that makes the match fail at the end, which is where backtracking explodes.
    """
    characters = list(dict.fromkeys("a1 x.-" + "".join(c for c in pattern if c.isalnum())))[:16]
    probes = [(f"{_PROBE_RUN} x {c!r}", c * _PROBE_RUN + "!") for c in characters]
    probes += [(f"{_PROBE_RUN} x 'ab'", "ab" * _PROBE_RUN + "!"), (f"{_PROBE_RUN} x 'a '", "a " * _PROBE_RUN + "!")]
    for described, text in probes:
        try:
            compiled.findall(text, timeout=_PROBE_LIMIT_S)
        except TimeoutError:
            return described
    return None


def _sentence_splitter(
    language: str, punkt: str, parameters: Optional[PunktParameters], fast: bool = False
) -> Tokenize:
    if parameters is None:
        parameters = punkt_parameters(language, punkt)
    if fast:
        return fast_patterns.fast_punkt(parameters).tokenize
    return (PunktSentenceTokenizer(parameters) if parameters is not None else PunktSentenceTokenizer()).tokenize


def _nltk_tokenizer(
    name: str,
    *,
    language: str,
    punkt: str,
    preserve_line: bool,
    strip_handles: bool,
    reduce_len: bool,
    parameters: Optional[PunktParameters],
    fast: bool,
) -> Tokenize:
    """NLTK's tokenizer `name` (not regexp): stock, or with its fixed patterns on `re` (fast)."""
    if name in ("word", "sentences"):
        words = (fast_patterns.fast_word() if fast else NLTKWordTokenizer()).tokenize
        if name == "word" and preserve_line:
            return words
        sentences = _sentence_splitter(language, punkt, parameters, fast)
        if name == "sentences":
            return sentences
        return lambda text: [token for sentence in sentences(text) for token in words(sentence)]
    if name == "treebank":
        return (fast_patterns.fast_treebank() if fast else TreebankWordTokenizer()).tokenize
    if name == "tweet":
        make = fast_patterns.fast_tweet if fast else TweetTokenizer
        return make(strip_handles=strip_handles, reduce_len=reduce_len).tokenize
    if name == "wordpunct":
        return (fast_patterns.fast_wordpunct() if fast else WordPunctTokenizer()).tokenize
    return (fast_patterns.fast_whitespace() if fast else WhitespaceTokenizer()).tokenize


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
    engine: str = "fast",
) -> Tokenize:
    """Returns a function text -> tokens identical to the NLTK tokenizer `name`.

    Args:
        punkt_parameters: a Punkt model already loaded (see `punkt_parameters()`),
            used instead of looking for punkt_tab; how a job carries the model to workers.
        engine: `fast` (NLTK's fixed patterns on `re`, see transforms/text/fast_patterns.py;
            the guarded path where the installed NLTK is not the one checked) or
            `guarded` (stock NLTK). The regexp tokenizer is guarded either way.

    Raises:
        MissingNltkData: the tokenizer needs data that is not installed.
        ValueError: an unknown tokenizer or engine, or a regexp without a valid pattern.
    """
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    if engine not in ENGINES:
        raise ValueError(f"unknown tokenizer engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if name == "regexp":
        if not pattern:
            raise ValueError("the regexp tokenizer needs a pattern")
        validate_pattern(pattern)
        return RegexpTokenizer(pattern, gaps=gaps).tokenize
    options = dict(
        language=language, punkt=punkt, preserve_line=preserve_line, strip_handles=strip_handles, reduce_len=reduce_len
    )
    if needs_punkt(name, preserve_line) and punkt_parameters is None:
        punkt_parameters = _load_punkt(language, punkt)  # the model, loaded once for both paths
    guarded = _nltk_tokenizer(name, parameters=punkt_parameters, fast=False, **options)
    if engine == "guarded":
        return guarded
    unavailable = fast_patterns.fast_unavailable()
    if unavailable:
        _log.warning("tokenize.engine fast: %s; tokenizing on NLTK's guarded path", unavailable)
        return guarded
    try:
        fast = _nltk_tokenizer(name, parameters=punkt_parameters, fast=True, **options)
    except ValueError as e:  # a pattern this Python's `re` cannot read as `regex` does (e.g. `*+` before 3.11)
        _log.warning("tokenize.engine fast: %s; tokenizing on NLTK's guarded path", e)
        return guarded
    # TweetTokenizer rewrites its text before its main pattern runs: that pattern checks characters itself.
    return fast_patterns.Routed(fast, guarded, check_characters=name != "tweet")
