"""Shared pytest fixtures: a real Kafka broker and the Prism binary, from pipeline.stack.

These fixtures never skip: if Kafka or Prism cannot be provided, the tests
that need them error with the stack's one-line explanation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from pipeline.stack import FlinkCluster, KafkaBroker, prism_binary
from pipeline.stack.net import free_ports

__all__ = ["flink_cluster", "flink_job_server_jar", "fresh_topic", "kafka_broker", "prism_location"]


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
