"""`python -m pipeline nltk-data status|download`: the NLTK data this pipeline can use.

`status` lists where NLTK looks (`nltk.data.path`, led by the `NLTK_DATA`
directories) and which of the resources the tokenize settings use are there:
punkt_tab (per language), stopwords (per list) and wordnet. `download NAME...`
installs resources with NLTK's own downloader, which needs internet access; it
fails with a one-line message when there is none.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Optional

__all__ = ["RESOURCES", "ResourceStatus", "add_arguments", "resource_status", "run", "search_path"]


@dataclass(frozen=True)
class _Resource:
    package: str  # the NLTK downloader's package id
    path: str  # the resource under an nltk_data directory
    used_by: str


RESOURCES = (
    _Resource("punkt_tab", "tokenizers/punkt_tab", "tokenizer word and sentences (else punkt: untrained)"),
    _Resource("stopwords", "corpora/stopwords", "tokenize.stopwords: LIST-NAME"),
    _Resource("wordnet", "corpora/wordnet", "tokenize.lemmatize: wordnet"),
)


@dataclass(frozen=True)
class ResourceStatus:
    package: str
    location: Optional[str]  # None: not installed
    contents: tuple  # languages of punkt_tab, lists of stopwords
    used_by: str
    notes: tuple = ()  # NLTK's warnings, such as a directory it refuses


def search_path() -> list[tuple[str, bool, bool]]:
    """(directory, exists, from NLTK_DATA) for each entry of nltk.data.path, in search order."""
    import nltk

    from_env = {os.path.expanduser(d) for d in os.environ.get("NLTK_DATA", "").split(os.pathsep) if d}
    return [(str(d), os.path.isdir(str(d)), str(d) in from_env) for d in nltk.data.path]


def _entries(pointer) -> tuple:
    """The names directly under a found resource (a directory or a directory in a zip)."""
    from nltk.data import ZipFilePathPointer

    if isinstance(pointer, ZipFilePathPointer):
        prefix = pointer.entry.rstrip("/") + "/"
        names = {n[len(prefix) :].split("/", 1)[0] for n in pointer.zipfile.namelist() if n.startswith(prefix)}
    else:
        names = set(os.listdir(pointer.path))
    return tuple(sorted(n for n in names if n and not n.startswith(".") and not n.startswith("README")))


def _find(resource: _Resource) -> ResourceStatus:
    import nltk

    name = resource.path.rsplit("/", 1)[-1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pointer = None
        for candidate in (resource.path, f"{resource.path}.zip/{name}/"):
            try:
                pointer = nltk.data.find(candidate)
                break
            except LookupError:
                continue
    notes = tuple(dict.fromkeys(" ".join(str(w.message).split()) for w in caught))
    if pointer is None:
        return ResourceStatus(resource.package, None, (), resource.used_by, notes)
    contents = () if resource.package == "wordnet" else _entries(pointer)
    return ResourceStatus(resource.package, str(pointer), contents, resource.used_by, notes)


def resource_status() -> list[ResourceStatus]:
    """Where NLTK finds each resource the tokenize settings can use, and what it holds."""
    return [_find(resource) for resource in RESOURCES]


def _status() -> int:
    import nltk

    print(
        f"NLTK {nltk.__version__} looks for data in these directories, in order "
        "(nltk.data.path; NLTK_DATA puts its directories first):"
    )
    for directory, exists, from_env in search_path():
        print(f"  {directory}  [{'present' if exists else 'absent'}{', from NLTK_DATA' if from_env else ''}]")
    missing = []
    for status in resource_status():
        if status.location is None:
            missing.append(status.package)
            print(f"{status.package:<10} missing    used by {status.used_by}")
        else:
            held = f": {', '.join(status.contents)}" if status.contents else ""
            print(f"{status.package:<10} installed  {status.location}{held}")
        for note in status.notes:
            print(f"  note: {note}")
    if missing:
        names = " ".join(missing)
        print(
            f"to install: python -m pipeline nltk-data download {names} "
            "(needs internet; elsewhere copy an nltk_data directory and set NLTK_DATA)"
        )
    return 0


def _download(names: list, directory: Optional[str], server_index_url: Optional[str]) -> int:
    from nltk.downloader import Downloader

    downloader = Downloader(server_index_url=server_index_url) if server_index_url else Downloader()
    target = directory or downloader.default_download_dir()
    for name in names:
        errors = io.StringIO()  # NLTK prints its own wrapped lines; one line of ours says it all
        try:
            with warnings.catch_warnings():
                # NLTK warns about a download directory under a shared one such as /tmp; status shows it.
                warnings.simplefilter("ignore")
                done = downloader.download(
                    name, download_dir=target, quiet=True, raise_on_error=True, print_error_to=errors
                )
            reason = "" if done else errors.getvalue()
        except Exception as e:  # the downloader raises ValueError, OSError, URLError ...
            reason = str(e) or type(e).__name__
        if reason:
            reason = " ".join(reason.replace("[nltk_data]", " ").split())
            print(
                f"error: cannot download NLTK resource {name} into {target}: {reason} "
                "(without internet: copy an nltk_data directory that has it and set NLTK_DATA)",
                file=sys.stderr,
            )
            return 1
        print(f"{name}: installed in {target}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds `status` and `download` to the CLI's `nltk-data` subparser."""
    actions = parser.add_subparsers(dest="nltk_action", required=True)
    actions.add_parser("status", help="where NLTK looks, and which resources are installed")
    download = actions.add_parser("download", help="install NLTK resources with NLTK's downloader (needs internet)")
    download.add_argument("names", nargs="+", metavar="NAME", help="punkt_tab, stopwords, wordnet, ...")
    download.add_argument("--dir", help="the nltk_data directory to install into (default: NLTK's own choice)")
    download.add_argument(
        "--server-index-url",
        default=os.environ.get("NLTK_DOWNLOAD_URL"),
        help="the downloader's index (default: $NLTK_DOWNLOAD_URL or NLTK's)",
    )


def run(args: argparse.Namespace) -> int:
    """Runs `nltk-data` with arguments parsed by a parser that `add_arguments` set up."""
    if args.nltk_action == "status":
        return _status()
    return _download(args.names, args.dir, args.server_index_url)
