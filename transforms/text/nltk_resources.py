"""NLTK data a job needs: found where the job is built, carried in the job, opened on workers.

In `ship` mode (the default of TokenizeText) every resource is looked up on the
machine that builds the pipeline, in NLTK's search path (`nltk.data.path`, which
starts with the `NLTK_DATA` directories), and travels inside the job: the Punkt
model as its loaded parameters, a stopword list as a set of words, and WordNet as
a compressed copy of its corpus directory that each worker process unpacks once
into a private temporary directory. Workers then need no NLTK data of their own.
In `workers` mode nothing travels: each worker loads from its own search path.

A resource that is missing raises MissingNltkData, a one-line LookupError that
names the resource, where NLTK looked and how to install it.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import os
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

import nltk
from nltk.corpus.reader import CorpusReader, StopwordsCorpusReader, WordNetCorpusReader
from nltk.corpus.util import LazyCorpusLoader
from nltk.data import FileSystemPathPointer, ZipFilePathPointer

from transforms.compat import wordnet_morphy

__all__ = [
    "NLTK_DATA_MODES",
    "MissingNltkData",
    "CorpusArchive",
    "add_search_dirs",
    "load_stopwords",
    "open_wordnet",
    "wordnet_lemmatizer",
]

NLTK_DATA_MODES = ("ship", "workers")
_STOPWORDS_FILE = "file:"
_lock = threading.Lock()
_unpacked: dict[str, str] = {}  # archive digest -> the root it was unpacked into, per process
_wordnets: dict[Optional[str], WordNetCorpusReader] = {}  # root (None: NLTK's search path) -> reader


class MissingNltkData(LookupError):
    """An NLTK resource the configuration needs is not installed."""


def missing(package: str, detail: str, fix: str) -> MissingNltkData:
    """The one-line error for an NLTK package that is not where NLTK looks."""
    return MissingNltkData(
        f"NLTK resource {package} ({detail}) is not installed in {nltk.data.path}: install it with "
        f"`python -m pipeline nltk-data download {package}` {fix}"
    )


def add_search_dirs(dirs: Iterable[str]) -> None:
    """Puts directories in front of NLTK's search path (once each), in the given order."""
    for directory in reversed([os.path.abspath(os.path.expanduser(d)) for d in dirs]):
        if directory in nltk.data.path:
            nltk.data.path.remove(directory)
        nltk.data.path.insert(0, directory)


def load_stopwords(spec) -> frozenset:
    """The stopword set of `spec`: an NLTK stopwords list name, `file:PATH` or a list of words.

    A file has one word per line; blank lines and lines starting with `#` are skipped.

    Raises:
        MissingNltkData: the NLTK stopwords corpus, or the named list in it, is not installed.
        OSError: the file cannot be read.
    """
    if spec is None:
        return frozenset()
    if not isinstance(spec, str):
        return frozenset(str(word) for word in spec)
    if spec.startswith(_STOPWORDS_FILE):
        with open(os.path.expanduser(spec[len(_STOPWORDS_FILE) :]), encoding="utf-8") as lines:
            return frozenset(w for w in (line.strip() for line in lines) if w and not w.startswith("#"))
    # A fresh loader, defined as nltk.corpus.stopwords is, so that it searches today's path.
    corpus = LazyCorpusLoader("stopwords", StopwordsCorpusReader, r"(?!README|\.).*", encoding="utf8")
    fix = "or give tokenize.stopwords as file:PATH or as a list of words"
    try:
        names = corpus.fileids()
    except LookupError:
        raise missing("stopwords", spec, fix) from None
    if spec not in names:
        raise MissingNltkData(f"NLTK's stopwords corpus has no list {spec!r}; it has {', '.join(names)}")
    return frozenset(corpus.words(spec))


def _wordnet_loader() -> LazyCorpusLoader:
    # Defined as nltk.corpus.wordnet is, but fresh: it searches the path as it is now.
    omw = LazyCorpusLoader("omw-2.0", CorpusReader, r".*/wn-data-.*\.tab", encoding="utf8")
    return LazyCorpusLoader("wordnet", WordNetCorpusReader, omw)


def open_wordnet(root: Optional[str] = None) -> WordNetCorpusReader:
    """NLTK's WordNet reader, loaded once per process and root.

    Args:
        root: an nltk_data directory to load `corpora/wordnet` from first (an
            unpacked CorpusArchive), or None for NLTK's search path as it is.
    """
    with _lock:
        if root not in _wordnets:
            if root is not None:
                add_search_dirs([root])
            loader = _wordnet_loader()
            try:
                loader.ensure_loaded()
            except LookupError:
                raise missing("wordnet", "corpora/wordnet", "or use tokenize.stem instead of lemmatize") from None
            _wordnets[root] = loader
        return _wordnets[root]


def wordnet_lemmatizer(reader: WordNetCorpusReader, pos: str) -> Callable[[str], str]:
    """`WordNetLemmatizer().lemmatize(word, pos)`, on a given reader instead of the global one."""

    def lemmatize(word: str) -> str:
        lemmas = wordnet_morphy(reader, word, pos)
        return min(lemmas, key=len) if lemmas else word

    return lemmatize


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _files(pointer) -> Iterable[tuple[str, Callable[[], bytes]]]:
    """(relative name, reader) of every file under a found NLTK resource, directory or zip entry."""
    if isinstance(pointer, FileSystemPathPointer):
        base = pointer.path
        for directory, _, names in sorted(os.walk(base)):
            for name in sorted(names):
                path = os.path.join(directory, name)
                yield os.path.relpath(path, base), lambda path=path: _read(path)
    elif isinstance(pointer, ZipFilePathPointer):
        prefix = pointer.entry.rstrip("/") + "/"
        for info in pointer.zipfile.infolist():
            if info.filename.startswith(prefix) and not info.is_dir():
                yield info.filename[len(prefix) :], lambda name=info.filename: pointer.zipfile.read(name)
    else:  # pragma: no cover - NLTK has no other kind of pointer
        raise TypeError(f"cannot read NLTK resource at {pointer!r}")


@dataclass(frozen=True)
class CorpusArchive:
    """A corpus directory in memory (zip bytes), carried in the job and unpacked once per worker process.

    Attributes:
        resource: the NLTK resource name, such as `corpora/wordnet`.
        data: the corpus files, zipped, named relative to the resource.
        digest: SHA-256 of `data`.
    """

    resource: str
    data: bytes = field(repr=False)
    digest: str

    @classmethod
    def pack(cls, resource: str, package: str, fix: str) -> "CorpusArchive":
        """Reads the resource from NLTK's search path (a directory or an installed zip)."""
        name = resource.rsplit("/", 1)[-1]
        pointer = None
        for candidate in (resource, f"{resource}.zip/{name}/"):
            try:
                pointer = nltk.data.find(candidate)
                break
            except LookupError:
                continue
        if pointer is None:
            raise missing(package, resource, fix)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for relative, read in _files(pointer):
                archive.writestr(relative.replace(os.sep, "/"), read())
        data = buffer.getvalue()
        return cls(resource, data, hashlib.sha256(data).hexdigest())

    def unpack(self) -> str:
        """Unpacks into a private temporary nltk_data root (once per process) and returns the root."""
        with _lock:
            root = _unpacked.get(self.digest)
            if root is None or not os.path.isdir(root):
                root = tempfile.mkdtemp(prefix="beam-nltk-data-")  # mode 0700: NLTK trusts only private dirs
                atexit.register(shutil.rmtree, root, True)
                target = os.path.join(root, *self.resource.split("/"))
                with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
                    for info in archive.infolist():
                        path = os.path.realpath(os.path.join(target, info.filename))
                        if not path.startswith(os.path.realpath(target) + os.sep):
                            raise ValueError(f"unsafe name in the {self.resource} archive: {info.filename!r}")
                        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
                        with open(path, "wb") as out:
                            out.write(archive.read(info))
                _unpacked[self.digest] = root
            return root
