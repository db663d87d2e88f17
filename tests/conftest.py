"""Shared pytest fixtures (a real Kafka broker, the Prism binary, Flink) and the test tiers.

These fixtures never skip: if Kafka or Prism cannot be provided, the tests
that need them error with the stack's one-line explanation.

Tiers (docs/design.md, decision 11; the markers are declared in pyproject.toml): a test is
marked ``live`` when it starts Kafka, Prism or Flink or runs the pipeline's CLI as a
process, ``flink`` when it needs Flink, ``slow`` when it takes a minute or so by
design. The marks come from the fixtures a test uses and from what its code (and the
fixtures and helpers of tests/ that it calls) names, so a new test is tiered without
being told. ``python -m pytest -m "not live"`` is the inner loop. A test that is not
marked live but starts a JVM, Prism or the CLI all the same fails and says so, in
every run, rather than slowing the inner loop unnoticed.
"""

from __future__ import annotations

import os
import sys
import types
import uuid
from collections.abc import Callable, Iterator

import pytest

from pipeline.stack import FlinkCluster, KafkaBroker, prism_binary
from pipeline.stack.net import free_ports

__all__ = ["flink_cluster", "flink_job_server_jar", "fresh_topic", "kafka_broker", "prism_location"]

# Fixtures that start a service; a fixture that uses one of them is in a test's closure too.
LIVE_FIXTURES = {"kafka_broker", "fresh_topic", "prism_location", "flink_cluster", "flink_job_server_jar"}
FLINK_FIXTURES = {"flink_cluster", "flink_job_server_jar"}
# Fixtures of test modules whose set-up alone takes a minute or more.
SLOW_FIXTURES = {"outage_broker", "worker_venv"}
# Names that, in a test's code or in the tests/ code it reaches, start a service or run the CLI as a process.
_SERVICE_NAMES = {"KafkaBroker", "FlinkCluster", "prism_binary", "job_server_jar"}
_FLINK_NAMES = {"FlinkCluster", "job_server_jar"}
_CLI_NAMES = {"run_cli", "start_cli", "cli_command"}  # tests/integration_helpers.py


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A Kafka broker of this test session, on free ports, with its state in a temp dir.

    It shares the normal jar cache (so only the very first run fetches jars)
    but nothing else with ``python -m pipeline stack up``: a developer's own
    broker on 9092 is neither used nor disturbed. Stopped at session end.
    """
    port, controller_port = free_ports(2)
    state_dir = tmp_path_factory.mktemp("stack") / "kafka"
    broker = KafkaBroker(port, controller_port, state_dir, heap="512m")
    broker.start(timeout=120)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def fresh_topic(kafka_broker: KafkaBroker) -> Callable[..., str]:
    """A factory that creates a new, uniquely named topic on the session broker.

    Call it as ``fresh_topic()`` (3 partitions) or ``fresh_topic(partitions=1,
    prefix="words")``; it returns the topic name once every partition has a
    leader.
    """

    def create(partitions: int = 3, *, prefix: str = "test") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        # Tests write event times months old: keep them past the 7-day default retention.
        kafka_broker.create_topic(name, partitions, config={"retention.ms": "-1"})
        return name

    return create


@pytest.fixture(scope="session")
def prism_location() -> str:
    """Path of the Prism binary built for the installed apache-beam (built on first use)."""
    return str(prism_binary())


@pytest.fixture(scope="session")
def nltk_data_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real nltk_data directory with an English punkt_tab model trained here.

    The model is trained with NLTK's own Punkt trainer on the sample text plus
    abbreviation-rich sentences, and saved in the punkt_tab layout that
    `nltk.word_tokenize` loads, so the real loading code runs without a download.
    """
    from nltk.tabdata import TabEncoder
    from nltk.tokenize.punkt import PunktTrainer

    from pipeline.devtools.sample_text import SAMPLE_LINES

    trainer = PunktTrainer()
    trainer.INCLUDE_ALL_COLLOCS = True
    abbreviations = "Dr. Smith met Mr. Jones at 5 p.m. on Main St. near the U.S. border. " * 20
    trainer.train(" ".join(SAMPLE_LINES) + " " + abbreviations, finalize=True)
    params = trainer.get_params()
    root = tmp_path_factory.mktemp("nltk_data")
    model = root / "tokenizers" / "punkt_tab" / "english"
    model.mkdir(parents=True)
    encoder = TabEncoder()
    (model / "collocations.tab").write_text(encoder.tups2tab(params.collocations), encoding="utf-8")
    (model / "sent_starters.txt").write_text(encoder.set2txt(params.sent_starters), encoding="utf-8")
    (model / "abbrev_types.txt").write_text(encoder.set2txt(params.abbrev_types), encoding="utf-8")
    (model / "ortho_context.tab").write_text(encoder.ivdict2tab(params.ortho_context), encoding="utf-8")
    return str(root)


@pytest.fixture
def use_nltk_data(nltk_data_dir: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Makes this process and the processes it starts find the test's nltk_data."""
    import nltk

    monkeypatch.setenv("NLTK_DATA", nltk_data_dir)
    monkeypatch.setattr(nltk.data, "path", [nltk_data_dir, *nltk.data.path])
    return nltk_data_dir


@pytest.fixture(scope="session")
def flink_job_server_jar() -> str:
    """The Beam Flink job server jar, fetched with Maven on first use (see pipeline.stack.flink)."""
    from pipeline.stack.flink import job_server_jar

    return str(job_server_jar())


@pytest.fixture(scope="session")
def flink_cluster(
    tmp_path_factory: pytest.TempPathFactory, nltk_data_dir: str, flink_job_server_jar: str
) -> Iterator[FlinkCluster]:
    """A Flink session cluster and Beam worker pool of this test session, on free ports.

    Started once and shared by every test that needs it (a JobManager, a
    TaskManager with 2 slots, the worker pool); its Python SDK harnesses find
    the session's nltk_data. Like the broker, it shares only the cache with
    ``python -m pipeline stack up --flink``. Stopped at session end.
    """
    rest_port, rpc_port, pool_port = free_ports(3)
    cluster = FlinkCluster(rest_port, rpc_port, pool_port, tmp_path_factory.mktemp("stack") / "flink")
    cluster.start(timeout=180, env={"NLTK_DATA": nltk_data_dir})
    try:
        yield cluster
    finally:
        cluster.stop()


# --- Tiers -------------------------------------------------------------------------------------


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _reached(functions: list) -> tuple[set, set]:
    """(names, string constants) in the code of the functions and of every tests/ function or class they name.

    Static and cheap: a helper of tests/ that a test calls by name (``run_cli``, a
    module's ``_cli``) is read too, so is a string a test hands to
    ``request.getfixturevalue``; library code is not followed.
    """
    names, strings, seen, todo = set(), set(), set(), list(functions)
    while todo:
        function = todo.pop()
        function = getattr(getattr(function, "hypothesis", None), "inner_test", function)  # @given's own test
        code = getattr(function, "__code__", None)
        if code is None or code in seen:
            continue
        seen.add(code)
        for inner in _code_objects(code):
            names.update(inner.co_names)
            strings.update(const for const in inner.co_consts if isinstance(const, str))
            for name in inner.co_names:
                found = function.__globals__.get(name)
                if str(getattr(found, "__module__", None)).startswith("tests"):
                    todo += list(vars(found).values()) if isinstance(found, type) else [found]
    return names, strings


def _tiers(item: pytest.Function) -> set:
    """The tier markers of one test, from its fixtures and from what its code reaches."""
    used = set(item.fixturenames)
    own = [
        definitions[-1].func
        for name, definitions in item._fixtureinfo.name2fixturedefs.items()
        if definitions and definitions[-1].func.__module__.startswith("tests.test_")
    ]
    names, strings = _reached([item.function, *own])
    runs_cli = names & _CLI_NAMES or {"-m", "pipeline"} <= strings  # or [python, "-m", "pipeline", ...]
    live = used & LIVE_FIXTURES or names & _SERVICE_NAMES or strings & LIVE_FIXTURES or runs_cli
    # A parametrized test that asks for Flink only for some runners (request.getfixturevalue) is flink for those.
    callspec = getattr(item, "callspec", None)
    asks_for_flink = strings & FLINK_FIXTURES and (callspec is None or "flink" in callspec.id)
    flink = used & FLINK_FIXTURES or names & _FLINK_NAMES or asks_for_flink
    markers = {"live"} if live or flink else set()
    if flink:
        markers |= {"flink", "slow"}
    if used & SLOW_FIXTURES:
        markers |= {"live", "slow"}
    return markers


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    for item in items:
        present = {mark.name for mark in item.iter_markers()}
        for name in sorted(_tiers(item) - present):
            item.add_marker(name)


_running: list = [None]  # the test whose set-up or call runs now


def _is_live_process(executable, argv) -> bool:
    argv = [os.fsdecode(arg) for arg in argv] if isinstance(argv, (list, tuple)) else [os.fsdecode(argv)]
    program = os.path.basename(os.fsdecode(executable or argv[0]))
    command = " ".join(argv)
    return program == "java" or "prism" in program or " -m pipeline" in f" {command}"


def _refuse_live_processes_outside_the_live_tier(event: str, args: tuple) -> None:
    item = _running[0]
    if event != "subprocess.Popen" or item is None or item.get_closest_marker("live"):
        return
    executable, argv = args[0], args[1]
    if _is_live_process(executable, argv):
        raise RuntimeError(
            f"{item.nodeid} starts {os.path.basename(os.fsdecode(executable))} (a JVM, Prism or the pipeline's CLI) "
            "but is not marked live: tell tests/conftest.py's tiers what it uses, or mark it @pytest.mark.live"
        )


sys.addaudithook(_refuse_live_processes_outside_the_live_tier)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    _running[0] = item
    try:
        yield
    finally:
        _running[0] = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    _running[0] = item
    try:
        yield
    finally:
        _running[0] = None
