"""`python -m pipeline lag`: the printed table against offsets committed on a real broker."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from pipeline.stack.net import free_ports
from tests.integration_helpers import DIRECT_CONFIG, config_overrides, run_cli


def _produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition, count in per_partition.items():
        for i in range(count):
            producer.produce(topic, value=f"message {i}".encode(), partition=partition)
    assert producer.flush(30) == 0


def _commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def _lag(bootstrap: str, topic: str, group: str, *extra: str):
    overrides = config_overrides(source__bootstrap_servers=bootstrap, source__topics=[topic], source__group_id=group)
    return run_cli("lag", "--config", DIRECT_CONFIG, *overrides, *extra, timeout=120)


def _table(stdout: str) -> dict[str, list[str]]:
    """Rows of the printed table by their first two cells ('topic/partition', or 'total')."""
    rows = {}
    for line in stdout.splitlines()[2:]:
        cells = line.split()
        rows["total" if cells[0] == "total" else f"{cells[0]}/{cells[1]}"] = cells
    return rows


def test_lag_prints_committed_end_and_lag_per_partition(kafka_broker, fresh_topic):
    topic = fresh_topic(partitions=3)
    group = f"lag-{uuid.uuid4().hex[:8]}"
    bootstrap = kafka_broker.bootstrap_servers
    _produce(bootstrap, topic, {0: 10, 1: 7, 2: 4})
    _commit(bootstrap, group, topic, {0: 6, 1: 7})  # partition 2: no commit

    result = _lag(bootstrap, topic, group)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"group {group} on {bootstrap}"
    assert lines[1].split() == ["topic", "partition", "committed", "end", "lag"]
    rows = _table(result.stdout)
    assert rows[f"{topic}/0"] == [topic, "0", "6", "10", "4"]
    assert rows[f"{topic}/1"] == [topic, "1", "7", "7", "0"]
    assert rows[f"{topic}/2"] == [topic, "2", "-", "4", "-"]
    assert rows["total"][:3] == ["total", "21", "4"]
    assert "1 of 3 partitions with records and no commit" in lines[-1]


def test_lag_exits_1_when_the_group_has_no_commits(kafka_broker, fresh_topic):
    topic = fresh_topic(partitions=2)
    bootstrap = kafka_broker.bootstrap_servers
    _produce(bootstrap, topic, {0: 3, 1: 2})

    result = _lag(bootstrap, topic, f"never-{uuid.uuid4().hex[:8]}")

    assert result.returncode == 1, result.stdout + result.stderr
    rows = _table(result.stdout)
    assert rows[f"{topic}/0"][2:] == ["-", "3", "-"]
    assert rows["total"] == ["total", "5", "-"]
    [explanation] = result.stderr.strip().splitlines()
    assert explanation.startswith("no commits: group") and topic in explanation


def test_lag_config_errors_are_one_line_exit_2(kafka_broker, fresh_topic, monkeypatch):
    bootstrap = kafka_broker.bootstrap_servers
    missing = _lag(bootstrap, f"no-such-{uuid.uuid4().hex[:8]}", "g")
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: ") and "source.topics: no such topic" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1

    # consumer_config is applied: SASL against a plaintext listener cannot connect, and the secret stays hidden.
    monkeypatch.setenv("LAG_TEST_PASSWORD", "s3cret-value-42")
    topic = fresh_topic(partitions=1)
    sasl = _lag(
        bootstrap,
        topic,
        "g",
        *config_overrides(
            source__consumer_config={
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN",
                "sasl.username": "user",
                "sasl.password": "${LAG_TEST_PASSWORD}",
            }
        ),
    )
    assert sasl.returncode == 2
    assert sasl.stderr.startswith("error: ") and "cannot reach Kafka" in sasl.stderr
    assert "s3cret-value-42" not in sasl.stdout + sasl.stderr


def test_lag_unreachable_broker_exit_2():
    [port] = free_ports(1)
    result = _lag(f"127.0.0.1:{port}", "t", "g")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "cannot reach Kafka" in line and "stack up" in line
