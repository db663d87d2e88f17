"""Nothing lost: offsets are committed behind the written output, on the real broker, through the CLI.

Each record is one unique token (`r000042`), so the count rows of every run,
added up, say which records were counted and how often: lost = produced and
never counted; duplicated = counted more than once (at-least-once allows it).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions

from pipeline.devtools.producer import ProducerRecord, produce_messages
from pipeline.stack import KafkaBroker
from pipeline.stack.net import free_ports
from tests.integration_helpers import (
    DIRECT_CONFIG,
    config_overrides,
    descendants,
    read_rows,
    records_accounting,
    start_cli,
    wait_gone,
)


def _stream_settings(bootstrap: str, topic: str, group: str, out, late, **more) -> list[str]:
    """A stream of one-token records in 2 s windows, counts and late records to JSON lines."""
    return config_overrides(
        source__bootstrap_servers=bootstrap,
        source__topics=[topic],
        source__group_id=group,
        source__max_out_of_orderness="1s",
        window__size="2s",
        tokenize__tokenizer="whitespace",
        tokenize__lowercase=False,
        count__top_k=1,
        sink__type="jsonl",
        sink__path=str(out),
        late_records__type="jsonl",
        late_records__path=str(late),
        **more,
    )


def _record(n: int) -> ProducerRecord:
    return ProducerRecord(f"r{n:06d}", f"k{n % 7}", None)  # event time: the send time


class _Producer:
    """Sends numbered records at a steady rate in the background until stopped."""

    def __init__(self, bootstrap: str, topic: str, first: int, rate: float):
        self._stop = threading.Event()
        self.sent = first
        self._thread = threading.Thread(target=self._run, args=(bootstrap, topic, rate), daemon=True)
        self._thread.start()

    def _numbers(self):
        while not self._stop.is_set():
            yield _record(self.sent)
            self.sent += 1

    def _run(self, bootstrap: str, topic: str, rate: float):
        # Records sent while the broker is frozen wait in the client: longer than the outage, not the default 30 s.
        produce_messages(bootstrap, topic, self._numbers(), rate=rate, producer_config={"message.timeout.ms": 180_000})

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=60)
        return self.sent


def _committed(bootstrap: str, topic: str, group: str, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
        return sum(max(tp.offset, 0) for tp in found)
    finally:
        consumer.close()


def _run_ids(path) -> set:
    return {row["run_id"] for row in read_rows(path, "count")}


def _start_group_at_zero(bootstrap: str, topic: str, group: str, partitions: int) -> None:
    """A fresh broker creates its offsets topic at the first commit, which takes seconds: not under test here."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, 0) for p in range(partitions)], asynchronous=False)
    finally:
        consumer.close()


def test_sigkill_restarts_under_load_lose_nothing(kafka_broker, fresh_topic, prism_location, tmp_path):
    bootstrap, topic, group = kafka_broker.bootstrap_servers, fresh_topic(partitions=4), f"g-{uuid.uuid4().hex[:8]}"
    _start_group_at_zero(bootstrap, topic, group, 4)
    produce_messages(bootstrap, topic, [_record(n) for n in range(3000)])  # a backlog
    out, late = tmp_path / "counts.jsonl", tmp_path / "late.jsonl"
    settings = _stream_settings(bootstrap, topic, group, out, late, source__start="committed")
    producer = _Producer(bootstrap, topic, 3000, rate=60)
    kills, committed, random_delay = [], [], random.Random(7)
    try:
        for attempt in range(3):
            runs_before = _run_ids(out)
            runner = start_cli("run", "--config", DIRECT_CONFIG, *settings, log_path=tmp_path / f"run{attempt}.log")
            # Killed at a random moment after its first pane: a loaded machine may start a run slowly.
            deadline = time.monotonic() + 120
            while _run_ids(out) == runs_before and runner.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(random_delay.uniform(0, 6))
            assert runner.poll() is None, (tmp_path / f"run{attempt}.log").read_text()[-3000:]
            family = descendants(runner.pid)
            os.kill(runner.pid, signal.SIGKILL)
            committed.append(_committed(bootstrap, topic, group, 4))
            runner.wait(timeout=30)
            left = wait_gone(family, timeout_s=10)
            assert not left, f"processes left behind by the killed run: {sorted(left)}"
            kills.append(len(read_rows(out, "count")))
    finally:
        produced = producer.stop()
    # A drained run after the kills: it must start cleanly and count the rest.
    final = start_cli("run", "--config", DIRECT_CONFIG, "--duration", "25s", *settings, log_path=tmp_path / "final.log")
    assert final.wait(timeout=240) == 0, (tmp_path / "final.log").read_text()[-3000:]
    records_accounting((tmp_path / "final.log").read_text())

    counted = Counter()
    for row in read_rows(out, "count"):
        counted[row["token"]] += row["count"]
    expected = {_record(n).value for n in range(produced)}
    late_tokens = {__import__("base64").b64decode(r["value_b64"]).decode() for r in read_rows(late, "late_record")}
    lost = expected - set(counted) - late_tokens
    duplicated = sum(n - 1 for n in counted.values() if n > 1)
    runs = {row["run_id"] for row in read_rows(out, "count")}
    print(
        f"produced {produced}, counted {len(set(counted) & expected)}, late {len(late_tokens)}, lost {len(lost)}, "
        f"duplicated {duplicated}, rows after each kill {kills}, committed at each kill {committed}, runs {len(runs)}"
    )
    assert not lost, f"{len(lost)} of {produced} records lost, e.g. {sorted(lost)[:5]}"
    assert set(counted) <= expected
    assert len(runs) == 4


@pytest.fixture(scope="module")
def outage_broker(tmp_path_factory) -> Iterator[KafkaBroker]:
    """A broker of its own, to freeze and restart without disturbing the other tests."""
    port, controller_port = free_ports(2)
    broker = KafkaBroker(port, controller_port, tmp_path_factory.mktemp("outage") / "kafka", heap="512m")
    broker.start(timeout=120)
    try:
        yield broker
    finally:
        broker.stop()


def _stream_through_an_outage(broker: KafkaBroker, tmp_path, outage) -> None:
    """Streams numbered records for a minute while `outage(broker)` runs; all must be counted, none late."""
    bootstrap, topic = broker.bootstrap_servers, f"outage-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, 2)
    out, late, log = tmp_path / "counts.jsonl", tmp_path / "late.jsonl", tmp_path / "run.log"
    runner = start_cli(
        "run",
        "--config",
        DIRECT_CONFIG,
        "--duration",
        "75s",
        *_stream_settings(bootstrap, topic, topic, out, late),
        log_path=log,
    )
    producer = _Producer(bootstrap, topic, 0, rate=20)
    try:
        time.sleep(15)
        assert runner.poll() is None, log.read_text()[-3000:]
        outage(broker)
        time.sleep(10)
    finally:
        produced = producer.stop()
    assert runner.wait(timeout=240) == 0, log.read_text()[-3000:]
    counted = {row["token"] for row in read_rows(out, "count")}
    expected = {_record(n).value for n in range(produced)}
    late_rows = read_rows(late, "late_record")
    print(
        f"produced {produced}, counted {len(counted & expected)}, late {len(late_rows)}, lost {len(expected - counted)}"
    )
    assert not late_rows, f"{len(late_rows)} records came out late"
    assert counted == expected, f"{len(expected - counted)} of {produced} records lost"
    assert records_accounting(log.read_text())[:2] == (produced, produced)


def _freeze(broker: KafkaBroker) -> None:
    os.kill(broker.pid(), signal.SIGSTOP)
    try:
        time.sleep(30)
    finally:
        os.kill(broker.pid(), signal.SIGCONT)


def _restart(broker: KafkaBroker) -> None:
    broker.stop()
    time.sleep(5)
    broker.start(timeout=120)


def test_a_broker_frozen_for_30s_loses_nothing_and_makes_nothing_late(outage_broker, prism_location, tmp_path):
    _stream_through_an_outage(outage_broker, tmp_path, _freeze)


def test_a_broker_restarted_on_its_state_loses_nothing_and_makes_nothing_late(outage_broker, prism_location, tmp_path):
    _stream_through_an_outage(outage_broker, tmp_path, _restart)


def test_partitions_added_while_a_stream_runs_are_read(kafka_broker, fresh_topic, prism_location, tmp_path):
    bootstrap, topic = kafka_broker.bootstrap_servers, fresh_topic(partitions=2)
    out, log = tmp_path / "counts.jsonl", tmp_path / "run.log"
    runner = start_cli(
        "run",
        "--config",
        DIRECT_CONFIG,
        "--duration",
        "35s",
        *config_overrides(
            source__bootstrap_servers=bootstrap,
            source__topics=[topic],
            source__group_id=topic,
            source__partition_discovery="2s",
            source__max_out_of_orderness="1s",
            window__size="2s",
            tokenize__tokenizer="whitespace",
            tokenize__lowercase=False,
            sink__type="jsonl",
            sink__path=str(out),
        ),
        log_path=log,
    )
    produce_messages(bootstrap, topic, [_record(n) for n in range(20)], rate=10)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_partitions([NewPartitions(topic, 4)])[topic].result(30)
    time.sleep(8)  # two discovery intervals and more
    producer = Producer({"bootstrap.servers": bootstrap})
    for n in range(20, 60):
        producer.produce(topic, _record(n).value.encode(), partition=2 + n % 2)
        time.sleep(0.05)
    producer.flush(30)
    assert runner.wait(timeout=180) == 0, log.read_text()[-3000:]
    counted = {row["token"] for row in read_rows(out, "count")}
    assert counted == {_record(n).value for n in range(60)}
    assert records_accounting(log.read_text())[:2] == (60, 60)
