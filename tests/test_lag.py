"""`python -m pipeline lag`: the printed table against offsets committed on a real broker, and the reader's
watermark report (which partition holds the watermark) read back from Kafka."""

from __future__ import annotations

import re
import time
import uuid

from apache_beam.utils.timestamp import Duration, Timestamp
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from pipeline.stack.net import free_ports
from tests.integration_helpers import DIRECT_CONFIG, config_overrides, run_cli
from transforms.kafka.offsets import PartitionWatermarkEstimator
from transforms.kafka.read import consumer_settings
from transforms.kafka.watermarks import PartitionWatermark, ReaderWatch, status_group, to_status


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
    """Rows of the printed lag table by their first two cells ('topic/partition', or 'total')."""
    rows = {}
    for line in stdout.splitlines()[2:]:
        if not line:
            break  # the reader's watermark report follows
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
    [total] = [line for line in lines if line.startswith("total")]
    assert "1 of 3 partitions with records and no commit" in total
    # No job of the group has run: no watermark report, and lag says where one would be.
    assert lines[-1] == (
        f"reader watermarks: none reported to consumer group {group}.watermarks "
        "(a running job's reader reports them about once a second)"
    )


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


def _wait_for_report(bootstrap: str, group: str, topic: str, partitions: int) -> None:
    """Waits until Kafka holds a status record of `group` for every partition (the reader commits asynchronously)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": status_group(group)})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
            except KafkaException:  # the group's coordinator is being set up
                found = []
            if found and all(tp.metadata for tp in found):
                return
            time.sleep(0.2)
        raise AssertionError(f"no status record of {group} for every partition of {topic}")
    finally:
        consumer.close()


def test_lag_shows_the_readers_report_and_names_the_partition_holding_the_watermark(kafka_broker, fresh_topic):
    topic = fresh_topic(partitions=3)
    group = f"lag-{uuid.uuid4().hex[:8]}"
    bootstrap = kafka_broker.bootstrap_servers
    _produce(bootstrap, topic, {0: 5, 2: 10})
    # What a reader reports: 0 read to its end, 1 empty and idle for 30 s, 2 nothing read yet (10 to read).
    watch = ReaderWatch(consumer_settings(bootstrap, group, {}), status_group(group))
    estimator = PartitionWatermarkEstimator(Duration(seconds=5), None)
    now = time.time()
    estimator.track([(topic, 2)])
    estimator.observe_record((topic, 0), Timestamp(seconds=now - 1))
    watch.observe((topic, 0), Timestamp(seconds=now - 1))
    watch.read([(topic, 0)], now)
    estimator.advance_when_idle((topic, 1), Timestamp(seconds=now - 30))
    watch.caught_up((topic, 1), now - 30)
    try:
        assert watch.publish(0, estimator, {(topic, 0): 5, (topic, 1): 0, (topic, 2): 0}, now, time.monotonic())
        _wait_for_report(bootstrap, group, topic, 3)
    finally:
        watch.close()
    _commit(bootstrap, group, topic, {0: 5})

    result = _lag(bootstrap, topic, group)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"reader watermarks, as the running job reports them (consumer group {group}.watermarks)" in out
    assert re.search(rf"{topic}\s+0\s+5\s+\d\d:\d\d:\d\d\s+\d\d:\d\d:\d\d\s+reading\n", out), out
    assert re.search(rf"{topic}\s+1\s+0\s+\d\d:\d\d:\d\d\s+-\s+idle 3\ds\n", out), out
    assert re.search(rf"{topic}\s+2\s+0\s+-\s+-\s+no record yet, 10 to read <- holds\n", out), out
    assert f"reader watermark: none yet, held by {topic}-2: no record read yet, 10 to read" in out
    assert f"no window can close before {topic}-2 has a watermark" in out


def test_lag_says_when_the_report_is_old(kafka_broker, fresh_topic):
    topic = fresh_topic(partitions=1)
    group = f"lag-{uuid.uuid4().hex[:8]}"
    bootstrap = kafka_broker.bootstrap_servers
    then_ms = int(time.time() * 1000) - 600_000
    report = PartitionWatermark(topic, 0, then_ms - 5000, then_ms, None, 0, then_ms)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": status_group(group)})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 0, metadata=to_status(report))], asynchronous=False)
    finally:
        consumer.close()

    result = _lag(bootstrap, topic, group)

    assert result.returncode == 1  # the group itself has committed nothing
    assert re.search(
        r"as a job of this group last reported them 10m0\ds ago: no reader of the group runs now", result.stdout
    )
    assert f"held by {topic}-0: reading" in result.stdout
