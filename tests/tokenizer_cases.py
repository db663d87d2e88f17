"""The differential cases of the fast tokenizer engine: generated text and the tokenizer variants.

Shared by tests/test_fast_tokenizer.py (a CI-sized run) and `python -m benchmarks tokenizer
--exactness` (the large sweep). Each variant is the project's tokenizer with `engine="fast"`
next to the stock NLTK function it must equal, called as NLTK documents it.
"""

from __future__ import annotations

import string
import sys
import unicodedata
from typing import Callable, NamedTuple

import nltk
from hypothesis import strategies as st
from nltk.tokenize import NLTKWordTokenizer, TreebankWordTokenizer, TweetTokenizer, WhitespaceTokenizer
from nltk.tokenize.punkt import PunktSentenceTokenizer

from transforms.text.tokenizers import make_tokenizer

__all__ = ["CATEGORIES", "TEXTS", "Variant", "variants"]

# Every general category Unicode has, unassigned (Cn) and surrogates (Cs) included.
CATEGORIES = (
    "Lu",
    "Ll",
    "Lt",
    "Lm",
    "Lo",
    "Mn",
    "Mc",
    "Me",
    "Nd",
    "Nl",
    "No",
    "Pc",
    "Pd",
    "Ps",
    "Pe",
    "Pi",
    "Pf",
    "Po",
    "Sm",
    "Sc",
    "Sk",
    "So",
    "Zs",
    "Zl",
    "Zp",
    "Cc",
    "Cf",
    "Cs",
    "Co",
    "Cn",
)

# What NLTK's patterns look for: quotes, brackets, contractions, sentence ends, URLs, emoticons,
# emoji, handles, hashtags, HTML entities, phone numbers, abbreviations, numbers.
FRAGMENTS = (
    '"',
    "'",
    "`",
    "``",
    "''",
    "«",
    "»",
    "“",
    "”",
    "‘",
    "’",
    "„",
    "‹",
    "›",
    "\"'",
    "'\"",
    "' ",
    " '",
    '" ',
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "<",
    ">",
    "((",
    "))",
    "([{<",
    ">}])",
    "(a)",
    "[b]",
    "{c}",
    "<d>",
    ".",
    ",",
    ":",
    ";",
    "!",
    "?",
    "...",
    "..",
    ". . .",
    "?!",
    "!!",
    "--",
    "-",
    "–",
    "—",
    "―",
    "‒",
    "*",
    "@",
    "#",
    "$",
    "%",
    "&",
    "/",
    "\\",
    "|",
    "~",
    "^",
    "_",
    "+",
    "=",
    "…",
    "can't",
    "won't",
    "I'm",
    "you're",
    "they'll",
    "we've",
    "he'd",
    "she's",
    "it's",
    "isn't",
    "CAN'T",
    "Y'ALL",
    "cannot",
    "Cannot",
    "gimme",
    "gonna",
    "gotta",
    "lemme",
    "wanna ",
    "more'n",
    "d'ye",
    " 'tis",
    " 'Twas",
    "whaddya",
    "whatcha",
    "o'clock",
    "rock'n'roll",
    "'em",
    "'90s",
    "ma'am",
    "Dr.",
    "Mr.",
    "Mrs.",
    "St.",
    "U.S.",
    "U.S.A.",
    "p.m.",
    "e.g.",
    "i.e.",
    "etc.",
    "No.",
    "Jan.",
    "vs.",
    "A.",
    "J. S. Bach",
    "3.88",
    "1,000",
    "-3.5",
    "3,36",
    "10:30",
    "2nd",
    "1.",
    "42",
    "0.5%",
    "$3.88",
    "£100",
    "1/2",
    "1e10",
    "http://example.com",
    "https://www.example.co.uk/path?q=1&r=2#frag",
    "http://x.com/a(b)c",
    "http://en.wikipedia.org/wiki/Foo_(bar)",
    "www.example.org/",
    "example.com",
    "foo.na@example.com",
    "user@mail.example.com",
    "ftp://a.b",
    "https://t.co/AbC123",
    ":-)",
    ":)",
    ";)",
    ":D",
    ":-P",
    ":p",
    "<3",
    "</3",
    ":'(",
    ">:(",
    "=)",
    "8-)",
    "o.O",
    "^_^",
    "\\o/",
    "(:",
    "😀",
    "😂",
    "👍🏽",
    "❤️",
    "👨‍👩‍👧",
    "🇺🇸",
    "🏳️‍🌈",
    "✌",
    "☺",
    "🤷‍♀️",
    "🙂🙃",
    "@user",
    "@user_name_long_handle",
    "@a@b",
    ".@x",
    "#tag",
    "#hash_tag",
    "&amp;",
    "&lt;",
    "&gt;",
    "&quot;",
    "&#39;",
    "&#x27;",
    "&#150;",
    "&#x131;",
    "&nbsp;",
    "&bogus;",
    "&#99999999;",
    "(555) 123-4567",
    "+1 555 123 4567",
    "555-1234",
    "1-800-FLOWERS",
    "+44 20 7946 0958",
    "naïve",
    "café",
    "Zürich",
    "straße",
    "İstanbul",
    "ıi",
    "ǅ",
    "Ⅻ",
    "x²",
    "½",
    "٣",
    "𝟘",
    "ﬁ",
    "Ǆ",
    "ſ",
    "K",
    "e\u0301",
    "\u200b",
    "\u200d",
    "\u00ad",
    "\ufeff",
    "\u2060",
    "日本語",
    "中文",
    "한국어",
    "עברית",
    "العربية",
    "हिन्दी",
    "ไทย",
    "Ελληνικά",
    "Русский",
)
WHITESPACE = (
    " ",
    "  ",
    "\n",
    "\n\n",
    "\t",
    "\r\n",
    "\r",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x1f",
    "\x85",
    "\xa0",
    "\u2028",
    "\u2029",
    "\u3000",
    "\u2009",
    "\u200a",
    "\u180e",
)
WORDS = st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True)
ANY_CATEGORY = st.sampled_from(CATEGORIES).flatmap(lambda category: st.characters(categories=[category]))
RUN_UNITS = st.one_of(st.sampled_from(list(string.printable) + list(FRAGMENTS[:60]) + list(WHITESPACE)), ANY_CATEGORY)
RUNS = st.builds(lambda unit, count: unit * count, RUN_UNITS, st.integers(2, 400))
PIECES = st.one_of(
    WORDS,
    WORDS,
    WORDS,
    st.sampled_from(FRAGMENTS),
    st.sampled_from(FRAGMENTS),
    st.sampled_from(WHITESPACE),
    st.just(" "),
    st.just(" "),
    st.just(". "),
    ANY_CATEGORY,
    st.text(ANY_CATEGORY, max_size=6),
    st.text(st.characters(max_codepoint=0x7F), max_size=6),
    RUNS,
)
#: Generated text: up to 60 pieces, from empty to about 25,000 characters (long runs).
TEXTS = st.lists(PIECES, max_size=60).map("".join)


class Variant(NamedTuple):
    """A tokenizer with its options: the project's fast one and stock NLTK's."""

    name: str
    fast: Callable[[str], list]
    stock: Callable[[str], list]


def _untrained_word_tokenize() -> Callable[[str], list]:
    punkt, words = PunktSentenceTokenizer(), NLTKWordTokenizer()
    return lambda text: [token for sentence in punkt.tokenize(text) for token in words.tokenize(sentence)]


def variants(installed_punkt: bool) -> list:
    """Every tokenizer and option the fast engine serves. With `installed_punkt`, NLTK must find a
    punkt_tab model for english (the tests' nltk_data_dir), used by both sides."""
    cases = [
        ("word-untrained", {"punkt": "untrained"}, _untrained_word_tokenize()),
        ("word-preserve_line", {"preserve_line": True}, lambda text: nltk.word_tokenize(text, preserve_line=True)),
        ("sentences-untrained", {"punkt": "untrained"}, PunktSentenceTokenizer().tokenize),
        ("treebank", {}, TreebankWordTokenizer().tokenize),
        ("tweet", {}, TweetTokenizer().tokenize),
        ("tweet-strip_handles", {"strip_handles": True}, TweetTokenizer(strip_handles=True).tokenize),
        ("tweet-reduce_len", {"reduce_len": True}, TweetTokenizer(reduce_len=True).tokenize),
        (
            "tweet-strip_handles-reduce_len",
            {"strip_handles": True, "reduce_len": True},
            TweetTokenizer(strip_handles=True, reduce_len=True).tokenize,
        ),
        ("wordpunct", {}, nltk.wordpunct_tokenize),
        ("whitespace", {}, WhitespaceTokenizer().tokenize),
    ]
    if installed_punkt:
        # nltk.word_tokenize caches the model it loaded first: both sides read the one on the path now.
        nltk.tokenize._get_punkt_tokenizer.cache_clear()
        cases[:0] = [
            ("word-installed", {"punkt": "installed"}, nltk.word_tokenize),
            ("sentences-installed", {"punkt": "installed"}, nltk.sent_tokenize),
        ]
    built = []
    for name, options, stock in cases:
        tokenizer = name.split("-")[0]
        built.append(Variant(name, make_tokenizer(tokenizer, engine="fast", **options), stock))
    return built


def outcome(tokenize: Callable[[str], list], text: str):
    """The tokens, or the type of exception: both paths must agree on either."""
    try:
        return tokenize(text)
    except Exception as e:  # noqa: BLE001 - an exception is an outcome to compare
        return type(e).__name__


def describe(text: str, limit: int = 200) -> str:
    """A readable account of a failing text: repr and the categories of its characters."""
    categories = sorted({unicodedata.category(c) for c in text})
    return f"{text[:limit]!r}{'...' if len(text) > limit else ''} ({len(text)} chars, categories {categories})"


if __name__ == "__main__":  # a look at what the strategy makes
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 10):
        print(describe(TEXTS.example()))
