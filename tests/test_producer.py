"""Tests of the sample producer (`python -m pipeline produce`) against a real Kafka broker.

Every test that sends reads the topic back with confluent-kafka and checks the exact
values, keys and CreateTimes that arrived.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.config import parse_duration
from pipeline.devtools import produce_command
from pipeline.devtools.producer import ProduceProgress, ProducerError, ProducerRecord, produce_messages
from pipeline.devtools.sample_text import SAMPLE_LINES

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# An address where nothing listens: a test that should fail before connecting but
# does not will fail here too, never write to a real broker.
NOWHERE = "127.0.0.1:1"


def _read_back(bootstrap_servers: str, topic: str, timeout_s: float = 30.0) -> list:
    """Every record in the topic (partition by partition, in offset order)."""
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "test-producer"})
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        assigned = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]
        expected = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in assigned)
        consumer.assign(assigned)
        records, deadline = [], time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            record = consumer.poll(0.5)
            if record is not None and record.error() is None:
                records.append(record)
        assert len(records) == expected, f"read {len(records)} of {expected} records"
        return records
    finally:
        consumer.close()


def _minute_ago_iso(minutes: int) -> str:
    """A whole minute in the recent past: far older timestamps would meet retention."""
    now_s = int(time.time()) // 60 * 60
    return datetime.fromtimestamp(now_s - 60 * minutes, tz=UTC).isoformat()


def _cli(*args: str, stdin: bytes = b"", env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs `python -m pipeline produce ARGS` the way a user does."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "produce", *args],
        cwd=PROJECT_ROOT,
        input=stdin,
        capture_output=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_spread_timestamps_and_round_robin_keys_arrive_exactly(kafka_broker, fresh_topic) -> None:
    topic = fresh_topic(partitions=3)
    start = _minute_ago_iso(10)
    start_ms = int(datetime.fromisoformat(start).timestamp() * 1000)
    # 12 messages over [start, start + 6s): one every 500 ms.
    end = datetime.fromtimestamp(start_ms / 1000 + 6, tz=UTC).isoformat()
    argv = ["--bootstrap-servers", kafka_broker.bootstrap_servers, "--topic", topic, "--count", "12"]
    assert produce_command.main([*argv, "--keys", "3", "--start", start, "--end", end]) == 0

    received = {r.value(): (r.key(), r.timestamp()) for r in _read_back(kafka_broker.bootstrap_servers, topic)}
    expected = {
        line.encode(): (f"key-{i % 3}".encode(), (TIMESTAMP_CREATE_TIME, start_ms + 500 * i))
        for i, line in enumerate(SAMPLE_LINES[:12])
    }
    assert received == expected


def test_produce_messages_sends_values_keys_and_timestamps_unchanged(kafka_broker, fresh_topic) -> None:
    topic = fresh_topic(partitions=1)
    sent_at_ms = int(time.time() * 1000) - 3_600_000
    messages = [
        ProducerRecord(b"\xff\xfe not UTF-8", key=b"k1", timestamp_ms=sent_at_ms),
        ProducerRecord("café naïve ☔", key="k2", timestamp_ms=sent_at_ms + 1),
        ProducerRecord("no key, send-time timestamp"),
    ]
    snapshots: list[ProduceProgress] = []
    before_ms = int(time.time() * 1000)

    assert produce_messages(kafka_broker.bootstrap_servers, topic, messages, progress=snapshots.append) == 3

    records = _read_back(kafka_broker.bootstrap_servers, topic)
    assert [(r.value(), r.key()) for r in records] == [
        (b"\xff\xfe not UTF-8", b"k1"),
        ("café naïve ☔".encode(), b"k2"),
        (b"no key, send-time timestamp", None),
    ]
    assert [r.timestamp()[1] for r in records[:2]] == [sent_at_ms, sent_at_ms + 1]
    assert records[2].timestamp()[1] >= before_ms
    assert snapshots[-1].done and snapshots[-1].delivered == 3 and snapshots[-1].failed == 0


def test_jitter_is_bounded_out_of_order_and_reproducible_with_a_seed(kafka_broker, fresh_topic) -> None:
    start = _minute_ago_iso(30)
    start_ms = int(datetime.fromisoformat(start).timestamp() * 1000)
    end = datetime.fromtimestamp(start_ms / 1000 + 60, tz=UTC).isoformat()
    runs = []
    for _ in range(2):
        topic = fresh_topic(partitions=1)
        argv = ["--bootstrap-servers", kafka_broker.bootstrap_servers, "--topic", topic, "--count", "60"]
        assert produce_command.main([*argv, "--start", start, "--end", end, "--jitter", "2s", "--seed", "7"]) == 0
        runs.append([r.timestamp()[1] for r in _read_back(kafka_broker.bootstrap_servers, topic)])

    stamps = runs[0]
    assert runs[1] == stamps  # the same seed gives the same event times
    assert stamps != sorted(stamps)  # some events really are out of order
    assert all(start_ms <= ts < start_ms + 60_000 for ts in stamps)
    # No event is more than the jitter older than any event sent before it.
    assert all(ts >= max(stamps[:i]) - 2000 for i, ts in enumerate(stamps) if i)


def test_rate_paces_the_sending(kafka_broker, fresh_topic) -> None:
    topic = fresh_topic(partitions=1)
    started = time.monotonic()
    messages = (ProducerRecord(f"message {i}") for i in range(10))

    delivered = produce_messages(kafka_broker.bootstrap_servers, topic, messages, rate=20.0)

    # Sanity bounds only: 10 messages at 20/s take about 0.45 s; never a burst.
    assert delivered == 10
    assert 0.35 <= time.monotonic() - started < 30
    assert len(_read_back(kafka_broker.bootstrap_servers, topic)) == 10


def test_file_lines_skip_blank_lines_and_keep_bytes(kafka_broker, fresh_topic, tmp_path) -> None:
    topic = fresh_topic(partitions=1)
    path = tmp_path / "input.txt"
    path.write_bytes(b"first line\r\n\n   \t\nsecond \xff line\n\nthird, no newline")
    argv = ["--bootstrap-servers", kafka_broker.bootstrap_servers, "--topic", topic, "--file", str(path)]

    assert produce_command.main(argv) == 0

    values = [r.value() for r in _read_back(kafka_broker.bootstrap_servers, topic)]
    assert values == [b"first line", b"second \xff line", b"third, no newline"]


def test_file_paragraphs_cycle_until_count(kafka_broker, fresh_topic, tmp_path) -> None:
    topic = fresh_topic(partitions=1)
    path = tmp_path / "paragraphs.txt"
    path.write_text("\nOne line,\nthen another.\n\n\n  \nSecond paragraph.\n")
    argv = ["--bootstrap-servers", kafka_broker.bootstrap_servers, "--topic", topic, "--file", str(path)]

    assert produce_command.main([*argv, "--split", "paragraph", "--count", "5"]) == 0

    first, second = b"One line,\nthen another.", b"Second paragraph."
    values = [r.value() for r in _read_back(kafka_broker.bootstrap_servers, topic)]
    assert values == [first, second, first, second, first]


def test_stdin_lines_through_the_cli(kafka_broker, fresh_topic) -> None:
    topic = fresh_topic(partitions=1)

    result = _cli(
        "--bootstrap-servers", kafka_broker.bootstrap_servers, "--topic", topic, "--stdin", "--keys", "2",
        stdin=b"alpha beta\n\ngamma\n",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stderr.decode().splitlines()[-1].startswith(f"produced 2 messages to {topic}")
    records = _read_back(kafka_broker.bootstrap_servers, topic)
    assert [(r.value(), r.key()) for r in records] == [(b"alpha beta", b"key-0"), (b"gamma", b"key-1")]


def test_missing_topic_is_created_with_the_requested_partitions(kafka_broker) -> None:
    topic = f"test-created-{uuid.uuid4().hex[:12]}"
    argv = ["--bootstrap-servers", kafka_broker.bootstrap_servers, "--topic", topic]

    assert produce_command.main([*argv, "--partitions", "2", "--count", "4"]) == 0

    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 2
    assert len(_read_back(kafka_broker.bootstrap_servers, topic)) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "argument --rate: expected a positive number"),
        (["--jitter", "2x"], "expected a duration like 500ms, 30s, 5m, 1h or 1d, got '2x'"),
        (["--count", "3", "--forever"], "not allowed with argument --count"),
        (["--start", "yesterday"], "invalid ISO-8601 time 'yesterday'"),
        (["--start", "2026-01-02", "--end", "2026-01-01"], "error: --start must be before --end"),
        (["--timestamps", "now", "--end", "2026-01-01"], "error: --start and --end apply to"),
        (["--split", "paragraph"], "error: --split applies to --file and --stdin"),
        (["--file", "/no/such/file.txt"], "error: cannot read /no/such/file.txt"),
        (
            ["-X", "sasl.password=${PRODUCER_TEST_UNSET}"],
            "environment variable PRODUCER_TEST_UNSET is not set",
        ),
        (["--connect-timeout", "1s"], f"error: cannot reach Kafka at {NOWHERE} within 1s"),
    ],
)
def test_bad_arguments_exit_nonzero_with_a_one_line_error(args: Sequence[str], message: str) -> None:
    result = _cli("--bootstrap-servers", NOWHERE, *args)

    stderr = result.stderr.decode()
    assert result.returncode in (1, 2)
    assert "Traceback" not in stderr
    error_lines = [line for line in stderr.splitlines() if "error" in line]
    assert len(error_lines) == 1 and message in error_lines[0], stderr


def test_config_values_are_never_printed(kafka_broker) -> None:
    secret = f"s3cret-{uuid.uuid4().hex}"
    sasl = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=u"]
    attempts = [
        _cli(*sasl, "-X", "sasl.password=${PRODUCER_TEST_SECRET}", "--connect-timeout", "2s",
             "--bootstrap-servers", kafka_broker.bootstrap_servers, env={"PRODUCER_TEST_SECRET": secret}),
        _cli("-X", f"acks={secret}", "--bootstrap-servers", kafka_broker.bootstrap_servers),
    ]  # fmt: skip

    for result in attempts:
        assert result.returncode == 1
        assert len(result.stderr.decode().splitlines()) == 1, result.stderr
        assert secret.encode() not in result.stderr + result.stdout


def test_delivery_failure_raises_a_one_line_producer_error(kafka_broker, fresh_topic) -> None:
    topic = fresh_topic(partitions=1)
    # The client lets the record through, the broker refuses it (message.max.bytes ~1 MB).
    messages = [ProducerRecord("fits"), ProducerRecord(b"x" * 1_500_000)]

    with pytest.raises(ProducerError) as failure:
        produce_messages(
            kafka_broker.bootstrap_servers, topic, messages, producer_config={"message.max.bytes": 3_000_000}
        )

    assert "\n" not in str(failure.value)
    assert re.search(rf"sending to topic {topic} failed: .*too large", str(failure.value))
    assert failure.value.delivered == 1


def test_ctrl_c_flushes_and_reports_what_was_delivered(kafka_broker, fresh_topic) -> None:
    topic = fresh_topic()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "produce", "--bootstrap-servers", kafka_broker.bootstrap_servers,
         "--topic", topic, "--rate", "200", "--forever"],
        cwd=PROJECT_ROOT,
        stderr=subprocess.PIPE,
        text=True,
        # A shell without job control starts background jobs ignoring SIGINT, and the
        # child would inherit that; one signal() call before exec is safe.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )  # fmt: skip
    assert process.stderr.readline().startswith("sending messages from the built-in sample text")
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)

    assert process.returncode == 130
    summary = re.fullmatch(rf"interrupted: produced (\d+) messages to {topic} in .*", rest.strip())
    assert summary, rest
    assert int(summary.group(1)) == len(_read_back(kafka_broker.bootstrap_servers, topic)) > 0


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1.5h", 5400), ("10", 10)])
def test_produce_reads_durations_as_run_configs_do(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_sample_lines_are_unique_and_varied() -> None:
    text = " ".join(SAMPLE_LINES)
    assert len(SAMPLE_LINES) >= 140 and len(set(SAMPLE_LINES)) == len(SAMPLE_LINES)
    assert all(marker in text for marker in ("café", "naïve", "don't", '"', "7:15"))
    assert any(ord(ch) > 0xFFFF for ch in text)  # an emoji
