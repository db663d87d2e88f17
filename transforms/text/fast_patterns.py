"""NLTK's own tokenizers, with NLTK's own fixed patterns compiled for a faster engine.

NLTK 3.10 compiles every pattern through `nltk.redos`: the third-party `regex`
engine, each match under a wall-clock timeout (`redos.TimedPattern`). For the
fixed patterns of NLTK's tokenizers that costs a Python wrapper per call and the
slower engine. This module builds NLTK's tokenizer objects as NLTK builds them
and swaps, in one place (`_swap`), each compiled fixed pattern for the SAME
pattern string with the SAME flags compiled by the standard library's `re`
(`fast_pattern`). No tokenizer code and no pattern here is our own: NLTK's
`tokenize` methods run unchanged on the swapped attributes, through the
extension points NLTK offers where it has them (Punkt's `lang_vars` and
`token_cls`; the tokenizers' pattern attributes; TweetTokenizer's class-level
compiled-pattern cache).

Compatibility note -- checked against NLTK 3.10.4 (`CHECKED_NLTK_VERSION`),
regex 2026.5.9 and CPython 3.11 (whose `re` has possessive quantifiers, used by
one NLTKWordTokenizer pattern). `PATTERNS_FINGERPRINT` is a digest of every
pattern string and flag set that is swapped (`nltk_fixed_patterns()`); when
the installed NLTK's patterns differ from it, `fast_unavailable()` says why and
`transforms.text.tokenizers` runs the guarded path instead, and
tests/test_fast_tokenizer.py fails loudly.

Why the output is exactly NLTK's:

- Both engines are backtracking engines with the same semantics for every
  construct these patterns use (alternation order, greedy/lazy/possessive
  quantifiers, lookarounds, anchors, back-references, `$` before a final
  newline, substitution templates `\\1` and `\\g<0>`). A pattern that `re`
  rejects or warns about (regex-only syntax such as `\\p{L}`) is never swapped.
- They differ in what a character IS: `\\w`, `\\s`, `\\d` (and so `\\b`, `\\W`,
  `\\S`, `\\D`) follow `str.isalnum`/`isspace`/`isdecimal` at CPython's Unicode
  version in `re`, but Unicode properties at the `regex` package's Unicode
  version; and case-insensitive matching of a literal differs on a few
  characters (e.g. `ı`, `İ`). `unsafe_characters()` computes, in this process,
  with the two engines actually installed, every code point on which they
  disagree on any of these (plus every code point whose `lower()` -- Punkt
  lowercases tokens before a pattern sees them -- yields one), so a text without
  them is classified identically character by character.
- So a message that contains any of them, or is longer than `MAX_FAST_CHARS`,
  is tokenized by stock NLTK (the guarded path), and so is any message on which
  the fast path raises. TweetTokenizer rewrites its text (HTML entities to
  characters) before its main pattern runs, so its swapped pattern makes the
  same check on the text it is actually given.
- The replacement templates stay NLTK's: on Python 3.11 each is handed to `sub` in the form
  `re` itself compiles it to (`re._subx`, once instead of on every call; see `_compiled_replacement`), so
  `re` expands it with its own template parser exactly as it would the string.
- NLTK's contraction patterns (`\\b(can)(not)\\b`, ...) are skipped where they cannot match: an
  ASCII text without the literal every match holds (`required_literal`, read from `re`'s own
  parse of the pattern; `_LiteralGated`). `sub` would return such a text unchanged.
- Evidence: tests/test_fast_tokenizer.py and `python -m benchmarks tokenizer
  --exactness` compare the two paths on the fortunes corpus and on generated text.

ReDoS: the swapped patterns run without a timeout, so messages above
`MAX_FAST_CHARS` characters go to NLTK's guarded path; below it the worst case
measured on adversarial inputs is in benchmarks/README.md (`python -m benchmarks
tokenizer --worst-case`). User patterns (the `regexp` tokenizer) are never
swapped.
"""

from __future__ import annotations

import hashlib
import re
import threading
import warnings
from array import array
from typing import Callable, Optional

import nltk
import regex
from nltk import redos
from nltk.tokenize import (
    NLTKWordTokenizer,
    TreebankWordTokenizer,
    TweetTokenizer,
    WhitespaceTokenizer,
    WordPunctTokenizer,
)
from nltk.tokenize.punkt import PunktLanguageVars, PunktParameters, PunktSentenceTokenizer, PunktToken

from transforms.compat import re_compiled_template, re_parsed

__all__ = [
    "CHECKED_NLTK_VERSION",
    "MAX_FAST_CHARS",
    "PATTERNS_FINGERPRINT",
    "Routed",
    "fast_pattern",
    "fast_punkt",
    "fast_treebank",
    "fast_tweet",
    "fast_unavailable",
    "fast_whitespace",
    "fast_word",
    "fast_wordpunct",
    "nltk_fixed_patterns",
    "patterns_fingerprint",
    "unsafe_characters",
]

CHECKED_NLTK_VERSION = "3.10.4"
#: sha256 of `nltk_fixed_patterns()` as NLTK 3.10.4 defines them (see `patterns_fingerprint`).
PATTERNS_FINGERPRINT = "ac37e0c4469e2b7c49a039ea791bdd2f87739c6580b7fa1558d25eca7bebbd2c"
#: Longer messages run on NLTK's guarded path: the fast patterns have no timeout. Below it the
#: measured worst case on adversarial text is small (benchmarks/README.md, "tokenizer alone").
MAX_FAST_CHARS = 10_000

# The flags both engines read the same way; regex's V0 (its default, re-compatible behaviour) is dropped.
_SHARED_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.UNICODE | re.VERBOSE | re.ASCII
_REGEX_DEFAULT_VERSION = int(regex.V0)

# NLTKWordTokenizer / TreebankWordTokenizer: the attributes that hold (pattern, replacement) pairs.
_PAIR_LISTS = ("STARTING_QUOTES", "ENDING_QUOTES", "PUNCTUATION", "CONVERT_PARENTHESES")
_PAIRS = ("PARENS_BRACKETS", "DOUBLE_DASHES")
_PUNKT_TOKEN_PATTERNS = ("_RE_ELLIPSIS", "_RE_NUMERIC", "_RE_INITIAL", "_RE_ALPHA")


# --------------------------------------------------------------------------------------------
# NLTK's fixed patterns, where they live, and the engine each one gets
# --------------------------------------------------------------------------------------------


def nltk_fixed_patterns() -> dict:
    """{location: NLTK's compiled pattern} for every fixed pattern the fast path swaps."""
    found = {}
    for cls in (NLTKWordTokenizer, TreebankWordTokenizer):
        for attr in _PAIR_LISTS:
            for i, (pattern, _) in enumerate(getattr(cls, attr)):
                found[f"{cls.__name__}.{attr}[{i}]"] = pattern
        for attr in _PAIRS:
            found[f"{cls.__name__}.{attr}"] = getattr(cls, attr)[0]
    lang_vars = PunktLanguageVars()
    found["PunktLanguageVars._re_word_tokenizer"] = lang_vars._word_tokenizer_re()
    found["PunktLanguageVars._re_period_context"] = lang_vars.period_context_re()
    found["PunktLanguageVars.re_boundary_realignment"] = PunktLanguageVars.re_boundary_realignment
    for attr in _PUNKT_TOKEN_PATTERNS:
        found[f"PunktToken.{attr}"] = getattr(PunktToken, attr)
    tweet = TweetTokenizer()
    found["TweetTokenizer.WORD_RE"] = tweet.WORD_RE
    found["TweetTokenizer.PHONE_WORD_RE"] = tweet.PHONE_WORD_RE
    for cls in (WordPunctTokenizer, WhitespaceTokenizer):
        tokenizer = cls()
        tokenizer._check_regexp()
        found[f"{cls.__name__}._regexp"] = tokenizer._regexp
    return found


def patterns_fingerprint(patterns: Optional[dict] = None) -> str:
    """sha256 over (location, pattern string, flags) of NLTK's fixed patterns, in location order.

    Punkt builds one character class of its patterns from a `set` (`_re_non_word_chars`), so
    its order changes with the process's hash seed; that class is hashed as its sorted characters.
    """
    patterns = nltk_fixed_patterns() if patterns is None else patterns
    non_word = PunktLanguageVars()._re_non_word_chars
    digest = hashlib.sha256()
    for location in sorted(patterns):
        pattern = patterns[location]
        source = pattern.pattern.replace(non_word, "%(NonWord)s" + "".join(sorted(non_word)))
        digest.update(f"{location}\0{source}\0{int(pattern.flags)}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def fast_pattern(pattern) -> "re.Pattern":
    """NLTK's compiled pattern (a redos.TimedPattern) compiled again by `re`: same string, same flags.

    Raises:
        ValueError: the pattern is not one `re` reads exactly as `regex` does (regex-only
            syntax, flags `re` lacks, or anything `re` warns about); it stays on NLTK's engine.
    """
    if not isinstance(pattern, redos.TimedPattern):
        raise ValueError(f"not an NLTK-guarded pattern: {pattern!r}")
    flags = int(pattern.flags)
    if flags & ~(_SHARED_FLAGS | _REGEX_DEFAULT_VERSION):
        raise ValueError(f"flags {flags:#x} of {pattern.pattern!r} have no `re` equivalent")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. FutureWarning "possible nested set": regex reads it otherwise
        try:
            return re.compile(pattern.pattern, flags & _SHARED_FLAGS)
        except (re.error, Warning) as e:
            raise ValueError(f"`re` does not read {pattern.pattern!r} as `regex` does: {e}") from None


def fast_unavailable() -> Optional[str]:
    """None when the fast path may run here, else why not (one line)."""
    if nltk.__version__ != CHECKED_NLTK_VERSION:
        return (
            f"the fast tokenizer engine was checked against NLTK {CHECKED_NLTK_VERSION}, "
            f"NLTK {nltk.__version__} is installed"
        )
    fingerprint = patterns_fingerprint()
    if fingerprint != PATTERNS_FINGERPRINT:
        return f"NLTK's tokenizer patterns differ from those checked (fingerprint {fingerprint[:12]})"
    return None


# --------------------------------------------------------------------------------------------
# The characters on which the two engines could disagree
# --------------------------------------------------------------------------------------------

_UNSAFE_LOCK = threading.Lock()
_UNSAFE: list = []


def _class_members(engine, pattern: str, everything: str) -> set:
    return set(engine.findall(pattern, everything))


def _case_literals() -> str:
    """Every literal a case-insensitive swapped pattern can hold: printable ASCII, and the non-ASCII
    characters (written as such or as \\x/\\u escapes) in the sources of those patterns."""
    literals = {chr(c) for c in range(0x20, 0x7F)}
    for pattern in nltk_fixed_patterns().values():
        source = pattern.pattern
        if not (int(pattern.flags) & re.IGNORECASE or "(?i" in source):
            continue
        literals.update(c for c in source if ord(c) > 0x7F)
        escapes = re.findall(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4}))", source)
        literals.update(chr(int(code, 16)) for groups in escapes for code in groups if code)
    return "".join(sorted(literals))


def _every_code_point() -> str:
    return array("I", range(0x110000)).tobytes().decode("utf-32-le", "surrogatepass")  # lone surrogates too


def _compute_unsafe() -> frozenset:
    everything = _every_code_point()
    unsafe = set()
    for cls in (r"\w", r"\s", r"\d"):
        unsafe |= _class_members(re, cls, everything) ^ _class_members(regex, cls, everything)
    # Case-insensitive literals: the characters either engine folds onto one of them, where the two
    # engines do not fold the character onto the same literals.
    literals = _case_literals()
    any_literal = "(?i)(?:" + "|".join(map(re.escape, literals)) + ")"
    folded = "".join(_class_members(re, any_literal, everything) | _class_members(regex, any_literal, everything))
    for literal in literals:
        source = "(?i)" + re.escape(literal)
        unsafe |= _class_members(re, source, folded) ^ _class_members(regex, source, folded)
    # Punkt lowercases a token before _RE_NUMERIC sees it: a safe character must lowercase to safe ones.
    for char in everything:
        lower = char.lower()
        if lower != char and any(c in unsafe for c in lower):
            unsafe.add(char)
    return frozenset(unsafe)


def unsafe_characters() -> frozenset:
    """The code points on which `re` and `regex` (as installed) could classify a character
    differently in NLTK's patterns; computed once per process (about half a second)."""
    with _UNSAFE_LOCK:
        if not _UNSAFE:
            chars = _compute_unsafe()
            _UNSAFE.append(chars)
            _UNSAFE.append(_character_class(c for c in chars if c.isascii()).search)
        return _UNSAFE[0]


def _unsafe_search() -> Callable[[str], bool]:
    """text -> True when the text holds one of `unsafe_characters()`.

    ASCII text (nearly every message) is checked with a small character class; other text with
    a set intersection (one big character class of every unsafe code point costs re a range
    scan per character: about 80 us for an average fortune)."""
    unsafe = unsafe_characters()
    ascii_search = _UNSAFE[1]
    isdisjoint = unsafe.isdisjoint

    def holds_unsafe(text: str) -> bool:
        if text.isascii():
            return ascii_search(text) is not None
        return not isdisjoint(text)

    return holds_unsafe


def _character_class(chars) -> "re.Pattern":
    codes = sorted(map(ord, chars))
    ranges, start = [], None
    for i, code in enumerate(codes):
        if start is None:
            start = code
        if i + 1 == len(codes) or codes[i + 1] != code + 1:
            ranges.append(re.escape(chr(start)) + ("-" + re.escape(chr(code)) if code != start else ""))
            start = None
    return re.compile("[" + "".join(ranges) + "]" if ranges else "(?!)")


# --------------------------------------------------------------------------------------------
# NLTK's tokenizers with the patterns swapped
# --------------------------------------------------------------------------------------------


# Python 3.11's `re` hands a replacement template that holds a backslash (NLTK's r" \1 ",
# r" \g<0> ") to `re._subx` on EVERY `sub` call, matched or not: a Python call and a cache
# lookup that hashes the compiled pattern's code, about a third of the word tokenizer's time.
# `_subx` returns what `sub` then runs (the literal, or re's own `expand_template` over re's own
# parse of the template), so calling it once per (pattern, template) and handing `sub` its
# result is NLTK's replacement on NLTK's pattern, expanded by `re` itself
# (transforms.compat.re_compiled_template). Python 3.12 parses templates differently (no
# `_subx`); there the templates stay strings.


def _compiled_replacement(pattern: "re.Pattern", template: str):
    """What `pattern.sub(template, ...)` runs for `template`, computed once (see above)."""
    if "\\" not in template:
        return template  # `re` takes a template without a backslash as a literal itself
    compiled = re_compiled_template(pattern, template)
    if compiled is None or (isinstance(compiled, str) and "\\" in compiled):
        return template  # a literal that `sub` would parse again: keep the template as NLTK gives it
    return compiled


def _swap(tokenizer):
    """Sets, on this NLTKWordTokenizer/TreebankWordTokenizer instance only, each pattern
    attribute to the same (pattern, replacement) pairs with `re`-compiled patterns, and each
    replacement template in the form `re` itself compiles it to (`_compiled_replacement`)."""
    cls = type(tokenizer)

    def pair(guarded, template):
        pattern = fast_pattern(guarded)
        return pattern, _compiled_replacement(pattern, template)

    for attr in _PAIR_LISTS:
        setattr(tokenizer, attr, [pair(p, replacement) for p, replacement in getattr(cls, attr)])
    for attr in _PAIRS:
        setattr(tokenizer, attr, pair(*getattr(cls, attr)))
    # CONTRACTIONS2/3 are stdlib `re` patterns in NLTK itself, with their template in NLTK's code:
    # the same patterns, skipped on the texts they cannot match (_LiteralGated).
    for attr in _CONTRACTIONS:
        setattr(tokenizer, attr, [_LiteralGated(pattern) for pattern in getattr(cls, attr)])
    return tokenizer


# The contraction patterns: each is ten re scans per sentence for words that are rare
# ("cannot", "gonna", " 'tis"), a third of the word tokenizer's time before they were gated.
_CONTRACTIONS = ("CONTRACTIONS2", "CONTRACTIONS3")


def required_literal(pattern: "re.Pattern") -> Optional[str]:
    """The longest run of characters that every match of `pattern` holds, as `re` parses it
    (lowercased where the pattern ignores case), or None: none of two characters or more, or one
    that is not ASCII. Zero-width items (\\b, lookarounds) match no characters, so the literals
    on either side of them are one run."""
    runs, run = [], []

    def walk(items) -> None:
        for name, arg in items:
            if name == "LITERAL":
                run.append(chr(arg))
            elif name == "SUBPATTERN" and arg is not None:
                walk(arg)
            elif name not in ("AT", "ASSERT", "ASSERT_NOT"):
                runs.append("".join(run))
                run.clear()

    walk(re_parsed(pattern))
    runs.append("".join(run))
    literal = max(runs, key=len)
    if len(literal) < 2 or not literal.isascii():
        return None
    return literal.lower() if pattern.flags & re.IGNORECASE else literal


class _LiteralGated:
    """An `re` pattern whose `sub` returns an ASCII text that lacks the pattern's required
    literal as it is, without scanning it: no match is possible there, so `sub` would return the
    text unchanged. In ASCII text a character matches an ASCII literal case-insensitively exactly
    when their lowercase forms are equal, so the test is a substring test on `text.lower()`. Other
    text, and texts that hold the literal, run the pattern. A template is compiled once
    (`_compiled_replacement`), as for the swapped pairs."""

    __slots__ = ("compiled", "pattern", "flags", "_literal", "_ignore_case", "_replacements")

    def __init__(self, pattern: "re.Pattern"):
        self.compiled = pattern
        self.pattern, self.flags = pattern.pattern, pattern.flags
        self._literal = required_literal(pattern)
        self._ignore_case = bool(pattern.flags & re.IGNORECASE)
        self._replacements: dict = {}

    def sub(self, template: str, text: str) -> str:
        literal = self._literal
        if literal is not None and text.isascii() and literal not in (text.lower() if self._ignore_case else text):
            return text
        replacement = self._replacements.get(template)
        if replacement is None:
            replacement = self._replacements[template] = _compiled_replacement(self.compiled, template)
        return self.compiled.sub(replacement, text)


def fast_word() -> NLTKWordTokenizer:
    """NLTKWordTokenizer (what word_tokenize runs on each sentence) on `re`."""
    return _swap(NLTKWordTokenizer())


def fast_treebank() -> TreebankWordTokenizer:
    return _swap(TreebankWordTokenizer())


def _fast_regexp_tokenizer(cls):
    tokenizer = cls()
    tokenizer._check_regexp()  # NLTK compiles its own pattern with its own flags...
    tokenizer._regexp = fast_pattern(tokenizer._regexp)  # ...and the same string runs on `re`
    return tokenizer


def fast_wordpunct() -> WordPunctTokenizer:
    return _fast_regexp_tokenizer(WordPunctTokenizer)


def fast_whitespace() -> WhitespaceTokenizer:
    return _fast_regexp_tokenizer(WhitespaceTokenizer)


_PUNKT_CLASSES: list = []


def _punkt_classes():
    """Subclasses of Punkt's two extension points whose pattern attributes are `re`-compiled."""
    if not _PUNKT_CLASSES:
        stock = PunktLanguageVars()

        class FastPunktLanguageVars(PunktLanguageVars):
            re_boundary_realignment = fast_pattern(PunktLanguageVars.re_boundary_realignment)
            _fast_word_tokenizer = fast_pattern(stock._word_tokenizer_re())
            _fast_period_context = fast_pattern(stock.period_context_re())

            def __init__(self):
                # The slots PunktLanguageVars fills lazily with its compiled patterns, filled now.
                self._re_word_tokenizer = self._fast_word_tokenizer
                self._re_period_context = self._fast_period_context

        class FastPunktToken(PunktToken):
            __slots__ = ()

        for attr in _PUNKT_TOKEN_PATTERNS:
            setattr(FastPunktToken, attr, fast_pattern(getattr(PunktToken, attr)))
        _PUNKT_CLASSES.extend([FastPunktLanguageVars, FastPunktToken])
    return _PUNKT_CLASSES


def fast_punkt(parameters: Optional[PunktParameters] = None) -> PunktSentenceTokenizer:
    """PunktSentenceTokenizer with the given model (None: untrained) and `re`-compiled patterns."""
    lang_vars_cls, token_cls = _punkt_classes()
    return PunktSentenceTokenizer(parameters, lang_vars=lang_vars_cls(), token_cls=token_cls)


class _CheckedPattern:
    """TweetTokenizer's main pattern: `re` on a text of safe characters within the size limit,
    else NLTK's own guarded pattern (TweetTokenizer turns HTML entities into characters first)."""

    __slots__ = ("_fast", "_guarded", "_unsafe")

    def __init__(self, guarded):
        self._fast = fast_pattern(guarded).findall
        self._guarded = guarded
        self._unsafe = None  # computed on first use: building a tokenizer to validate a job stays cheap

    def findall(self, text, timeout=None):
        unsafe = self._unsafe or self._load()
        if len(text) > MAX_FAST_CHARS or unsafe(text):
            return self._guarded.findall(text, timeout=timeout)
        return self._fast(text)

    def _load(self):
        self._unsafe = _unsafe_search()
        return self._unsafe


_TWEET_CLASS: list = []


def fast_tweet(**options) -> TweetTokenizer:
    """TweetTokenizer whose main pattern (WORD_RE / PHONE_WORD_RE, NLTK's class-level cache of
    its compiled patterns) runs on `re`; its other patterns (HTML entities, handles, lengthening,
    HANG_RE, which needs `regex`) are module-level in NLTK and stay on its guarded engine."""
    if not _TWEET_CLASS:
        stock = TweetTokenizer()

        class FastTweetTokenizer(TweetTokenizer):
            _WORD_RE = _CheckedPattern(stock.WORD_RE)
            _PHONE_WORD_RE = _CheckedPattern(stock.PHONE_WORD_RE)

        _TWEET_CLASS.append(FastTweetTokenizer)
    return _TWEET_CLASS[0](**options)


# --------------------------------------------------------------------------------------------
# Routing: each message to the fast path or to stock NLTK
# --------------------------------------------------------------------------------------------


class Routed:
    """text -> tokens: the fast tokenizer for a message within `max_chars` and free of
    `unsafe_characters()`, else the guarded (stock NLTK) one; the guarded one too when the fast
    one raises. `fast` and `guarded` count the messages each path took."""

    __slots__ = ("_fast", "_guarded", "_unsafe", "max_chars", "fast", "guarded", "check_characters")

    def __init__(
        self, fast: Callable, guarded: Callable, *, max_chars: int = MAX_FAST_CHARS, check_characters: bool = True
    ):
        self._fast = fast
        self._guarded = guarded
        self._unsafe = None  # computed on first use (about half a second once per process)
        self.max_chars = max_chars
        self.check_characters = check_characters
        self.fast = 0
        self.guarded = 0

    def __call__(self, text: str) -> list:
        if self._unsafe is None:
            self._unsafe = _unsafe_search()
        if len(text) <= self.max_chars and not (self.check_characters and self._unsafe(text)):
            try:
                tokens = self._fast(text)
            except Exception:  # noqa: BLE001 - the guarded path decides what this message gives
                pass
            else:
                self.fast += 1
                return tokens
        self.guarded += 1
        return self._guarded(text)
