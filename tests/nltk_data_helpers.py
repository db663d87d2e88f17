"""Builders of real (small) NLTK data for the tests, in NLTK's installed layout.

Nothing here downloads: a Punkt model trained with NLTK's own trainer, stopword
lists in the stopwords corpus layout and a tiny WordNet database in WordNet's
own file format, written where NLTK's loaders look for them.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest
from nltk.tabdata import TabEncoder
from nltk.tokenize.punkt import PunktTrainer

from pipeline.devtools.sample_text import SAMPLE_LINES

__all__ = ["STOPWORDS", "fortunes", "in_ci", "write_nltk_data", "write_punkt_tab", "write_stopwords", "write_wordnet"]

FORTUNES_DIR = "/usr/share/games/fortunes"
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


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def fortunes() -> tuple[str, list]:
    """(corpus name, texts): the fortunes of Debian's `fortunes` package, one text per fortune.

    Where the package is not installed (it is in CI: .ci/run installs it), the
    built-in English sample text stands in, outside CI only.
    """
    files = sorted(
        f for f in glob.glob(os.path.join(FORTUNES_DIR, "*")) if os.path.isfile(f) and "." not in os.path.basename(f)
    )
    if not files:
        if in_ci():
            pytest.fail(f"the fortunes corpus is not installed in {FORTUNES_DIR}: apt-get install -y fortunes")
        return "pipeline.devtools.sample_text (fortunes not installed)", list(SAMPLE_LINES)
    texts = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as file:
            texts += [text for text in file.read().split("\n%\n") if text.strip()]
    return f"Debian fortunes ({len(files)} files in {FORTUNES_DIR})", texts
