"""Builders of real (small) NLTK data for the tests, in NLTK's installed layout, and their English corpus.

Nothing here downloads: a Punkt model trained with NLTK's own trainer, stopword
lists in the stopwords corpus layout and a tiny WordNet database in WordNet's
own file format, written where NLTK's loaders look for them. The real English
the tokenizer tests compare over is prose that pip installs: the paragraphs of
NLTK's own doctests (shipped in its wheel) and of the standard library's docstrings.
"""

from __future__ import annotations

import ast
import functools
import re
import sysconfig
from pathlib import Path

import nltk
from nltk.tabdata import TabEncoder
from nltk.tokenize.punkt import PunktTrainer

from pipeline.devtools.sample_text import SAMPLE_LINES

__all__ = ["STOPWORDS", "english_prose", "write_nltk_data", "write_punkt_tab", "write_stopwords", "write_wordnet"]

STOPWORDS = {
    "english": ["a", "an", "and", "the", "of", "in", "is", "it", "to", "not", "i", "we", "he", "she", "they"],
    "german": ["der", "die", "das", "und", "daß", "nicht"],
}
_ABBREVIATIONS = "Dr. Smith met Mr. Jones at 5 p.m. on Main St. near the U.S. border. " * 20

# A tiny WordNet 3.0 database: index entries (lemma -> part of speech) and the exception lists.
_WORDNET_INDEX = {
    "noun": ["box", "child", "church", "city", "dog", "goose", "mouse", "u", "us", "wolf", "woman", "york"],
    "verb": ["be", "go", "love", "make", "run", "see", "stop"],
    "adj": ["big", "good", "happy", "well"],
    "adv": ["quickly", "well"],
}
_WORDNET_EXCEPTIONS = {
    "noun": ["geese goose", "mice mouse", "women woman", "wolves wolf"],
    "verb": ["was be", "were be", "ran run", "went go", "saw see", "made make", "stopped stop"],
    "adj": ["better good well", "best good well", "bigger big"],
    "adv": ["better well", "best well"],
}
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather "
    "adj.ppl"
).split()
_POS_LETTER = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
_LICENSE = (
    "  1 This is a test database in the WordNet format.  \n  2 WordNet 3.0 Copyright 2006 by Princeton University.  \n"
)


def write_punkt_tab(root: Path, language: str = "english", text: str = "") -> Path:
    """Trains Punkt with NLTK's trainer and saves the model as punkt_tab/<language>."""
    trainer = PunktTrainer()
    trainer.INCLUDE_ALL_COLLOCS = True
    trainer.train(text or " ".join(SAMPLE_LINES) + " " + _ABBREVIATIONS, finalize=True)
    params = trainer.get_params()
    model = root / "tokenizers" / "punkt_tab" / language
    model.mkdir(parents=True, exist_ok=True)
    encoder = TabEncoder()
    (model / "collocations.tab").write_text(encoder.tups2tab(params.collocations), encoding="utf-8")
    (model / "sent_starters.txt").write_text(encoder.set2txt(params.sent_starters), encoding="utf-8")
    (model / "abbrev_types.txt").write_text(encoder.set2txt(params.abbrev_types), encoding="utf-8")
    (model / "ortho_context.tab").write_text(encoder.ivdict2tab(params.ortho_context), encoding="utf-8")
    return model


def write_stopwords(root: Path, lists: dict = STOPWORDS) -> Path:
    """Writes stopword lists in the layout of NLTK's stopwords corpus (one file per language)."""
    corpus = root / "corpora" / "stopwords"
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "README").write_text("Test stopword lists.\n", encoding="utf-8")
    for language, words in lists.items():
        (corpus / language).write_text("".join(f"{word}\n" for word in words), encoding="utf-8")
    return corpus


def write_wordnet(root: Path) -> Path:
    """Writes a tiny WordNet 3.0 database (index, exception, data and lexnames files)."""
    corpus = root / "corpora" / "wordnet"
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "lexnames").write_text(
        "".join(
            f"{i:02d}\t{name}\t{[1, 2, 3, 4][['noun', 'verb', 'adj', 'adv'].index(name.split('.')[0])]}\n"
            for i, name in enumerate(_LEXNAMES)
        ),
        encoding="utf-8",
    )
    offset = 1000
    for pos, lemmas in _WORDNET_INDEX.items():
        lines = []
        for lemma in sorted(lemmas):
            offset += 100
            lines.append(f"{lemma} {_POS_LETTER[pos]} 1 0 1 0 {offset:08d}  \n")
        (corpus / f"index.{pos}").write_text(_LICENSE + "".join(lines), encoding="utf-8")
        (corpus / f"{pos}.exc").write_text("".join(f"{line}\n" for line in _WORDNET_EXCEPTIONS[pos]), encoding="utf-8")
        (corpus / f"data.{pos}").write_text(_LICENSE, encoding="utf-8")
    for empty in ("index.sense", "cntlist.rev"):
        (corpus / empty).write_text("", encoding="utf-8")
    return corpus


def write_nltk_data(root: Path) -> Path:
    """An nltk_data directory with punkt_tab (english), stopwords (english, german) and wordnet."""
    write_punkt_tab(root)
    write_stopwords(root)
    write_wordnet(root)
    return root


# Standard-library modules whose docstrings are mostly prose, in the order their paragraphs are taken.
# A module a later Python has dropped or emptied is passed over; english_prose() checks the total.
_STDLIB_MODULES = (
    "_pydecimal _pyio abc argparse asyncio/events asyncio/streams asyncio/tasks base64 bdb bisect bz2 calendar "
    "cmd codecs collections/__init__ concurrent/futures/_base configparser contextlib copy datetime difflib dis "
    "doctest email/message enum fileinput fnmatch ftplib functools graphlib gzip heapq hmac http/cookiejar "
    "http/server imaplib inspect ipaddress json/__init__ logging/__init__ lzma mailbox mimetypes numbers "
    "operator os pathlib pdb pkgutil platform poplib pydoc queue random runpy sched secrets selectors shutil "
    "smtplib socket ssl stat statistics subprocess symtable tarfile tempfile textwrap threading timeit "
    "traceback turtle types unittest/case urllib/parse uuid webbrowser xml/etree/ElementTree xmlrpc/client "
    "xmlrpc/server zipfile zipimport"
).split()
_UNDERLINE = re.compile(r"^([=\-~^*#+`'\"])\1{2,}$")  # a reStructuredText heading's underline


def _prose_paragraphs(text: str) -> list:
    """The paragraphs of reStructuredText that are prose, lines as they are.

    Passed over: doctest code (`>>>`, `...`) and its output (same paragraph), headings,
    directives, literal and indented blocks, and fragments of fewer than four words.
    """
    paragraphs = []
    for block in re.split(r"\n[ \t]*\n", text.strip("\n")):
        lines = block.strip("\n").split("\n")
        if any(line[:1].isspace() for line in lines):
            continue
        if any(line.startswith((">>>", "...", "..", "::")) or _UNDERLINE.match(line.strip()) for line in lines):
            continue
        if len(block.split()) >= 4 and re.search(r"[a-z]{3}", block):
            paragraphs.append(block.strip("\n"))
    return paragraphs


def _nltk_doctest_prose() -> list:
    doctests = sorted((Path(nltk.__file__).parent / "test").glob("*.doctest"))
    return [paragraph for path in doctests for paragraph in _prose_paragraphs(path.read_text(encoding="utf-8"))]


def _stdlib_docstring_prose() -> list:
    stdlib, paragraphs = Path(sysconfig.get_paths()["stdlib"]), []
    for module in _STDLIB_MODULES:
        path = stdlib / f"{module}.py"
        if not path.is_file():
            continue
        # Parsed, never imported: no module's import-time side effects, and the same text on every machine.
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                paragraphs += _prose_paragraphs(ast.get_docstring(node) or "")
    return paragraphs


@functools.cache
def english_prose() -> tuple:
    """(corpus name, texts): real English prose that pip installs, one paragraph per text, in a fixed order.

    The prose paragraphs of NLTK's doctests (`nltk/test/*.doctest`, in NLTK's wheel),
    then those of the docstrings of a fixed list of standard-library modules: 6,775
    texts and about 9,400 sentences with NLTK 3.10.4 on Python 3.11. The same on every
    machine with the same NLTK and Python; no system package is read.
    """
    doctests, docstrings = _nltk_doctest_prose(), _stdlib_docstring_prose()
    texts = tuple(doctests + docstrings)
    assert len(doctests) >= 800 and len(docstrings) >= 4000, (
        f"too little prose: {len(doctests)} doctest and {len(docstrings)} docstring paragraphs"
    )
    name = f"English prose of NLTK {nltk.__version__}'s doctests and the standard library's docstrings"
    return f"{name} ({len(doctests)} + {len(docstrings)} paragraphs)", texts
