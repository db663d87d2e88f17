"""NLTK data: `nltk-data status|download`, missing data at validate time, and what remote workers see.

The remote-worker tests run the tokenizer's DoFn the way a Flink task manager or
a Dataflow worker does: pickled where the pipeline is built, then unpickled and
set up in a fresh Python process whose environment has no NLTK_DATA and whose
home has no nltk_data, so it sees only what the job ships.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nltk
import pytest
from apache_beam.internal import pickler

from tests.nltk_data_helpers import write_nltk_data
from transforms.text.nltk_resources import open_wordnet, wordnet_lemmatizer
from transforms.text.normalize import make_normalizer
from transforms.text.spec import TokenizeSpec
from transforms.text.tokenize import TokenizeText

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["Dr. Smith saw the geese in New York. The wolves ran!", "Mr. Jones met us at 5 p.m. on Main St. today."]


@pytest.fixture
def nltk_data(tmp_path, monkeypatch):
    """A test nltk_data directory (punkt_tab, stopwords, wordnet): the only place NLTK looks."""
    root = write_nltk_data(tmp_path / "nltk_data")
    monkeypatch.setattr(nltk.data, "path", [str(root)])
    nltk.tokenize._get_punkt_tokenizer.cache_clear()
    yield root
    nltk.tokenize._get_punkt_tokenizer.cache_clear()


@pytest.fixture
def no_nltk_data(tmp_path, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "empty")])


def _clean_env(home: Path, **extra: str) -> dict:
    """An environment with no NLTK_DATA and a home without nltk_data; the repo is importable."""
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "PYTHONPATH": str(REPO),
        "LANG": "C.UTF-8",
        **extra,
    }
    return env


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


_WORKER = textwrap.dedent("""
    import json, sys
    import nltk
    from apache_beam.internal import pickler
    from transforms.records import Message

    # What this process can find on its own: nothing, or the test is void.
    found = []
    for resource in ("tokenizers/punkt_tab/english/", "corpora/stopwords", "corpora/wordnet"):
        try:
            nltk.data.find(resource)
            found.append(resource)
        except LookupError:
            pass
    with open(sys.argv[1], "rb") as f:
        fn = pickler.loads(f.read())
    try:
        fn.setup()
    except LookupError as e:
        print(json.dumps({"found": found, "setup_error": str(e)}))
        sys.exit(0)
    tokens = [list(out.tokens) for text in json.loads(sys.argv[2]) for out in fn.process(Message(text, "k", "t", 0, 0))]
    print(json.dumps({"found": found, "tokens": tokens}))
""")


def _run_on_fresh_worker(transform: TokenizeText, tmp_path: Path, **env: str) -> dict:
    """Pickles the DoFn here; a fresh process that sees only the job unpickles, sets up and runs it."""
    job = tmp_path / "dofn.pickle"
    job.write_bytes(pickler.dumps(transform._fn))
    script = tmp_path / "worker.py"
    script.write_text(_WORKER, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(job), json.dumps(TEXTS)],
        cwd=tmp_path,
        env=_clean_env(tmp_path / "worker-home", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _expected(root: Path, **options) -> list:
    """What NLTK itself gives for TEXTS, with NLTK's data in `root`: word_tokenize, then the steps."""
    stopwords = nltk.corpus.reader.StopwordsCorpusReader(str(root / "corpora" / "stopwords"), ["english"])
    spec = TokenizeSpec(**options)
    lemmatizer = wordnet_lemmatizer(open_wordnet(str(root)), "n") if spec.lemmatize else None
    normalize = make_normalizer(spec, frozenset(stopwords.words("english")), lemmatizer)
    return [normalize(nltk.word_tokenize(text)) for text in TEXTS]


def test_a_fresh_worker_runs_with_only_the_data_the_job_ships(nltk_data, tmp_path):
    transform = TokenizeText("word", punkt="installed", stopwords="english", lemmatize="wordnet")
    result = _run_on_fresh_worker(transform, tmp_path)
    assert result == {"found": [], "tokens": _expected(nltk_data, lemmatize="wordnet")}
    assert result["tokens"][0] == ["dr.", "smith", "saw", "goose", "new", "york", "wolf", "ran"]


def test_in_workers_mode_a_worker_without_data_fails_in_setup_naming_the_resource(nltk_data, tmp_path):
    transform = TokenizeText("word", punkt="installed", nltk_data="workers")
    result = _run_on_fresh_worker(transform, tmp_path)
    assert result["found"] == []
    assert result["setup_error"].startswith("NLTK resource punkt_tab (english) is not installed in [")


def test_in_workers_mode_a_worker_reads_nltk_data_or_the_configured_path(nltk_data, tmp_path):
    expected = _expected(nltk_data, lemmatize="wordnet")
    options = {"punkt": "installed", "stopwords": "english", "lemmatize": "wordnet", "nltk_data": "workers"}
    with_env = _run_on_fresh_worker(TokenizeText("word", **options), tmp_path, NLTK_DATA=str(nltk_data))
    assert with_env["tokens"] == expected
    with_path = _run_on_fresh_worker(TokenizeText("word", nltk_data_path=[str(nltk_data)], **options), tmp_path)
    assert (with_path["found"], with_path["tokens"]) == ([], expected)


def test_punkt_auto_is_decided_where_the_job_is_built_so_every_worker_agrees(no_nltk_data, tmp_path):
    transform = TokenizeText("word", punkt="auto")  # no punkt_tab here: the untrained Punkt, for every worker
    data = write_nltk_data(tmp_path / "worker_nltk_data")
    result = _run_on_fresh_worker(transform, tmp_path, NLTK_DATA=str(data))
    assert "tokenizers/punkt_tab/english/" in result["found"]
    assert result["tokens"][1][:3] == ["mr", "jones", "met"]  # the untrained Punkt splits "Mr." from "Jones"


def test_validate_stops_before_the_job_with_one_line_naming_the_resource(tmp_path):
    env = _clean_env(tmp_path / "home")
    base = ("validate", "--config", "run_configs/direct.yaml", "--set", "options.prism_location=/nonexistent/prism")
    for setting, resource in [
        ("tokenize.punkt=installed", "punkt_tab (english)"),
        ("tokenize.stopwords=english", "stopwords (english)"),
        ("tokenize.lemmatize=wordnet", "wordnet (corpora/wordnet)"),
    ]:
        done = _cli(*base, "--set", setting, env=env)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        # Named by the config key where the config layer finds it (stopwords), else by the resource alone.
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
        assert f"NLTK resource {resource} is not installed in [" in lines[0], lines
        assert "python -m pipeline nltk-data download" in lines[0]
    done = _cli(*base, env=env)  # the default, punkt: auto, needs no data
    assert done.returncode == 0, done.stderr


def test_status_lists_the_search_path_and_what_is_installed(tmp_path):
    data = write_nltk_data(tmp_path / "nltk_data")
    done = _cli("nltk-data", "status", env=_clean_env(tmp_path / "home", NLTK_DATA=str(data)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"NLTK {nltk.__version__} looks for data in these directories, in order")
    assert lines[1] == f"  {data}  [present, from NLTK_DATA]"
    assert f"  {tmp_path / 'home' / 'nltk_data'}  [absent]" in lines
    assert f"punkt_tab  installed  {data / 'tokenizers' / 'punkt_tab'}: english" in lines
    assert f"stopwords  installed  {data / 'corpora' / 'stopwords'}: english, german" in lines
    assert f"wordnet    installed  {data / 'corpora' / 'wordnet'}" in lines


def test_status_says_what_is_missing_and_how_to_install_it(tmp_path):
    done = _cli("nltk-data", "status", env=_clean_env(tmp_path / "home"))
    assert done.returncode == 0, done.stderr
    assert "punkt_tab  missing    used by tokenizer word and sentences (else punkt: untrained)" in done.stdout
    assert done.stdout.splitlines()[-1] == (
        "to install: python -m pipeline nltk-data download punkt_tab stopwords wordnet "
        "(needs internet; elsewhere copy an nltk_data directory and set NLTK_DATA)"
    )


def test_download_without_a_reachable_index_fails_with_one_line(tmp_path):
    target = tmp_path / "downloads"
    # An index URL that cannot be reached, so the test means the same with or without internet.
    done = _cli(
        "nltk-data",
        "download",
        "stopwords",
        "--dir",
        str(target),
        "--server-index-url",
        "http://127.0.0.1:9/index.xml",
        env=_clean_env(tmp_path / "home"),
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: cannot download NLTK resource stopwords into {target}: Error loading stopwords")
    assert lines[0].endswith("(without internet: copy an nltk_data directory that has it and set NLTK_DATA)")
    assert done.stdout == ""
