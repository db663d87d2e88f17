"""Shared pytest fixtures: a real Kafka broker and the Prism binary, from pipeline.stack.

These fixtures never skip: if Kafka or Prism cannot be provided, the tests
that need them error with the stack's one-line explanation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from pipeline.stack import KafkaBroker, prism_binary
from pipeline.stack.net import free_ports

__all__ = ["fresh_topic", "kafka_broker", "prism_location"]


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
        kafka_broker.create_topic(name, partitions)
        return name

    return create


@pytest.fixture(scope="session")
def prism_location() -> str:
    """Path of the Prism binary built for the installed apache-beam (built on first use)."""
    return str(prism_binary())
