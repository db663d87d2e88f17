"""Checks made before a job starts, so that a missing broker or topic is one line, not a worker traceback."""

from __future__ import annotations

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from pipeline.config import ConfigError, RunConfig

__all__ = ["check_kafka_source"]

_TIMEOUT_S = 10.0


def check_kafka_source(config: RunConfig) -> None:
    """Raises ConfigError when the broker cannot be reached or a topic does not exist."""
    source = config.source
    # log_level 0: the client would print every failed reconnect; the error below says it once.
    admin = AdminClient({"bootstrap.servers": source.bootstrap_servers, **source.consumer_config, "log_level": 0})
    try:
        topics = admin.list_topics(timeout=_TIMEOUT_S).topics
    except KafkaException as e:
        hint = " (start one with: python -m pipeline stack up)" if source.bootstrap_servers.startswith(
            ("127.0.0.1", "localhost")) else ""
        raise ConfigError(f"{config.path}: source.bootstrap_servers: cannot reach Kafka at "
                          f"{source.bootstrap_servers}: {e.args[0].str()}{hint}") from None
    missing = [topic for topic in source.topics if topic not in topics]
    if missing:
        raise ConfigError(f"{config.path}: source.topics: no such topic on {source.bootstrap_servers}: "
                          f"{', '.join(missing)}")
