"""The end-of-run account on a real broker: every committed offset is a record written or an offset proven empty.

Each test is one way a run used to print "ok" while records were lost or offsets were
committed for output that did not exist (issue: every committed offset is accounted for).
"""

from __future__ import annotations

import json
import threading
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.devtools.producer import ProducerRecord, produce_messages
from tests.integration_helpers import DIRECT_CONFIG, committed_offsets, config_overrides, read_rows, run_cli

BASE_MS = 1_767_600_000_000


def _commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, offset)], asynchronous=False)
    finally:
        consumer.close()


def _delete_below(bootstrap: str, topic: str, offset: int) -> None:
    """Moves partition 0's log start to `offset`, as retention would."""
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until its future resolves
    for future in admin.delete_records([TopicPartition(topic, 0, offset)], request_timeout=30).values():
        future.result(timeout=60)


def _counted(path) -> int:
    """Messages counted over the run's final panes (fixed windows, one pane each)."""
    return sum(row["messages"] for row in read_rows(path, "summary"))


def _run(bootstrap: str, topic: str, group: str, out, *extra: str, **settings):
    overrides = config_overrides(
        source__bootstrap_servers=bootstrap,
        source__topics=[topic],
        source__group_id=group,
        source__stop="latest",
        sink__type="jsonl",
        sink__path=str(out),
        **settings,
    )
    return run_cli("run", "--config", DIRECT_CONFIG, *overrides, *extra)


def test_a_slow_fetch_never_commits_what_was_not_read(kafka_broker, fresh_topic, tmp_path):
    # Each fetch waits 3 s for 10 MB that never come: the reader is slow, not at the end.
    topic = fresh_topic(partitions=2)
    produce_messages(
        kafka_broker.bootstrap_servers,
        topic,
        [ProducerRecord(f"word{i} text", f"k{i}", BASE_MS + i) for i in range(600)],
    )
    out = tmp_path / "rows.jsonl"
    slow = {"fetch.wait.max.ms": 3000, "fetch.min.bytes": 10_000_000}
    result = _run(kafka_broker.bootstrap_servers, topic, "slow", out, source__consumer_config=slow)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _counted(out) == 600
    assert sum(committed_offsets(kafka_broker.bootstrap_servers, topic, "slow", 2)) == 600
    assert "offsets, 2 partition(s): committed 600 = read 600 + proven empty 0: ok" in result.stderr
    assert "account: ok" in result.stderr


def test_offsets_deleted_by_retention_are_a_counted_logged_skip(kafka_broker, fresh_topic, tmp_path):
    # The group committed 10; retention then moved the log start to 50.
    topic, bootstrap = fresh_topic(partitions=1), kafka_broker.bootstrap_servers
    produce_messages(bootstrap, topic, [ProducerRecord(f"word{i}", None, BASE_MS + i) for i in range(200)])
    _commit(bootstrap, "retention", topic, 10)
    _delete_below(bootstrap, topic, 50)
    out = tmp_path / "rows.jsonl"
    result = _run(bootstrap, topic, "retention", out, source__start="committed")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _counted(out) == 150
    assert "offsets 10..49 were deleted by retention before they were read: skipping 40 offsets" in result.stderr
    assert f"offsets {topic}-0: committed 190 = read 150 + proven empty 40 (retention 40): ok" in result.stderr
    assert committed_offsets(bootstrap, topic, "retention", 1) == [200]


def test_out_of_range_with_reset_error_is_one_clear_line_and_commits_nothing(kafka_broker, fresh_topic, tmp_path):
    topic, bootstrap = fresh_topic(partitions=1), kafka_broker.bootstrap_servers
    produce_messages(bootstrap, topic, [ProducerRecord(f"word{i}", None, BASE_MS + i) for i in range(60)])
    _commit(bootstrap, "strict", topic, 10)
    _delete_below(bootstrap, topic, 50)
    result = _run(
        bootstrap,
        topic,
        "strict",
        tmp_path / "rows.jsonl",
        source__start="committed",
        source__consumer_config={"auto.offset.reset": "error"},
    )
    assert result.returncode != 0
    assert f"offset 10 of {topic}-0 is out of range (the log holds 50..60)" in result.stderr
    assert committed_offsets(bootstrap, topic, "strict", 1) == [10]


def test_sliding_windows_report_each_closed_window_and_commit_to_the_end(kafka_broker, fresh_topic, tmp_path):
    # Sliding 20 s every 10 s, 1 s of out-of-orderness; 4 records arrive 12 s behind the stream:
    # each belongs to two windows, the earlier of which has closed.
    topic, bootstrap = fresh_topic(partitions=1), kafka_broker.bootstrap_servers
    out, late = tmp_path / "rows.jsonl", tmp_path / "late.jsonl"

    sent = []

    def send_now(value: str, event_ms: int | None = None) -> None:
        now_ms = int(time.time() * 1000)
        produce_messages(bootstrap, topic, [ProducerRecord(value, None, event_ms or now_ms)])
        sent.append(value)

    def send():
        time.sleep(8)  # the job is reading by now
        for i in range(16):
            send_now(f"on{i} time")
            time.sleep(0.5)
            if i % 4 == 3:
                # Between 3 and 8 s into a 10 s period P: a record at P - 5 s is in [P-20, P), closed by
                # now (the watermark trails the stream by about 1.5 s), and in [P-10, P+10), still open.
                while not 3_000 <= time.time() * 1000 % 10_000 < 7_000:
                    send_now(f"on{i}x time")
                    time.sleep(0.5)
                period_ms = int(time.time() * 1000) // 10_000 * 10_000
                send_now(f"behind{i} late", period_ms - 5_000)

    producer = threading.Thread(target=send)
    producer.start()
    try:
        result = run_cli(
            "run",
            "--config",
            DIRECT_CONFIG,
            "--duration",
            "50s",
            *config_overrides(
                source__bootstrap_servers=bootstrap,
                source__topics=[topic],
                source__group_id="sliding",
                source__max_out_of_orderness="1s",
                window={"type": "sliding", "size": "20s", "period": "10s"},
                sink__type="jsonl",
                sink__path=str(out),
                late_records={"type": "jsonl", "path": str(late)},
            ),
        )
    finally:
        producer.join()
    assert result.returncode == 0, result.stderr[-3000:]
    late_rows = read_rows(late, "late_record")
    behind = {row["offset"] for row in late_rows}
    behind_counts = [r for r in read_rows(out, "count") if r["token"].startswith("behind")]
    assert len(behind) == 4 and len(late_rows) == 4, (
        [(r["offset"], r["window_end"], r["reason"][-60:]) for r in late_rows],
        [(r["token"], r["window_start"], r["count"]) for r in behind_counts],
    )  # one row per closed window
    assert all(row["window_start"] and row["window_end"] for row in late_rows)
    # Every record is counted in each of its windows still open: the 4 behind records in one each.
    counts = read_rows(out, "count")
    behind_tokens = sum(row["count"] for row in counts if row["token"].startswith("behind"))
    assert behind_tokens == 4, [json.dumps(r) for r in counts if r["token"].startswith("behind")]
    assert committed_offsets(bootstrap, topic, "sliding", 1) == [len(sent)]
    assert "account: ok" in result.stderr


def test_a_record_near_kafkas_size_limit_leaves_a_dead_letter_row_kafka_takes(kafka_broker, fresh_topic, tmp_path):
    # 800 KB of bad UTF-8: its whole value in base64 would make a row over the producer's 1 MB limit.
    topic, dead_topic, bootstrap = fresh_topic(partitions=1), fresh_topic(partitions=1), kafka_broker.bootstrap_servers
    produce_messages(
        bootstrap,
        topic,
        [ProducerRecord("fine words", None, BASE_MS), ProducerRecord(b"\xff" * 800_000, None, BASE_MS + 1)],
    )
    out = tmp_path / "rows.jsonl"
    result = _run(bootstrap, topic, "large", out, dead_letter={"type": "kafka", "topic": dead_topic})
    assert result.returncode == 0, result.stderr[-3000:]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "large-check", "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([dead_topic])
        rows = []
        deadline = time.monotonic() + 30
        while not rows and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                rows.append(json.loads(message.value()))
    finally:
        consumer.close()
    assert [(r["offset"], r["value_bytes"], r["value_truncated"]) for r in rows] == [(1, 800_000, True)]
    assert committed_offsets(bootstrap, topic, "large", 1) == [2]
