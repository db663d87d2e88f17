"""The whole pipeline on a real Kafka broker, through the CLI, executed by Prism."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone

import nltk
import pytest

from pipeline.devtools.producer import ProducerRecord, produce_messages
from pipeline.devtools.sample_text import SAMPLE_LINES
from tests.integration_helpers import (
    DIRECT_CONFIG,
    committed_offsets,
    config_overrides,
    read_rows,
    records_accounting,
    run_cli,
    start_cli,
)

BASE_MS = int(datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc).timestamp() * 1000)
WINDOW_MS = 10_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _known_messages(count: int = 90) -> list[ProducerRecord]:
    # Half a second apart, slightly out of order, so that three 10 s windows fill.
    return [
        ProducerRecord(SAMPLE_LINES[i % len(SAMPLE_LINES)], f"key-{i % 4}", BASE_MS + i * 333 - (i % 3) * 200)
        for i in range(count)
    ]


def _expected_counts(messages: list[ProducerRecord]) -> Counter:
    """(window_start, token) -> count, from nltk.word_tokenize itself."""
    expected = Counter()
    for message in messages:
        window_start = _iso(message.timestamp_ms - message.timestamp_ms % WINDOW_MS)
        for token in nltk.word_tokenize(message.value):
            expected[(window_start, token)] += 1
    return expected


@pytest.mark.parametrize(
    "workers, executing_on",
    [
        (1, "PrismRunner"),
        (2, "FnApiRunner (2 worker processes)"),
    ],
)
def test_bounded_read_counts_every_token_of_every_window_exactly(
    kafka_broker, fresh_topic, prism_location, use_nltk_data, tmp_path, workers, executing_on
):
    topic = fresh_topic(partitions=3)
    messages = _known_messages()
    produce_messages(kafka_broker.bootstrap_servers, topic, messages)
    out = tmp_path / "counts.jsonl"
    result = run_cli(
        "run",
        "--config",
        DIRECT_CONFIG,
        *config_overrides(
            source__bootstrap_servers=kafka_broker.bootstrap_servers,
            source__topics=[topic],
            source__stop="latest",
            tokenize__punkt="installed",
            tokenize__lowercase=False,
            tokenize__drop_punctuation=False,
            sink__type="jsonl",
            sink__path=str(out),
            count__top_k=3,
            options__direct_num_workers=workers,
        ),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"executing on: {executing_on}" in result.stderr
    counted = Counter({(r["window_start"], r["token"]): r["count"] for r in read_rows(out, "count")})
    assert counted == _expected_counts(messages)
    summaries = {r["window_start"]: r["messages"] for r in read_rows(out, "summary")}
    assert sum(summaries.values()) == len(messages) and len(summaries) == 3
    assert records_accounting(result.stderr) == (len(messages), len(messages), 0, "ok")


def test_bad_bytes_become_dead_letters_and_nothing_is_lost(kafka_broker, fresh_topic, prism_location, tmp_path):
    topic = fresh_topic(partitions=2)
    good = [ProducerRecord(f"message number {i}", None, BASE_MS + i) for i in range(20)]
    bad = [ProducerRecord(b"\xff\xfe not utf-8", None, BASE_MS + 50), ProducerRecord(b"caf\xe9", None, BASE_MS + 60)]
    produce_messages(kafka_broker.bootstrap_servers, topic, good + bad)
    dead_path, out = tmp_path / "dead.jsonl", tmp_path / "out.jsonl"
    result = run_cli(
        "run",
        "--config",
        DIRECT_CONFIG,
        *config_overrides(
            source__bootstrap_servers=kafka_broker.bootstrap_servers,
            source__topics=[topic],
            source__stop="latest",
            sink__type="jsonl",
            sink__path=str(out),
            dead_letter__type="jsonl",
            dead_letter__path=str(dead_path),
        ),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    dead = read_rows(dead_path, "dead_letter")
    assert sorted(d["value_b64"] for d in dead) == sorted(["Y2Fm6Q==", "//4gbm90IHV0Zi04"])
    assert all(d["topic"] == topic and d["reason"].startswith("invalid utf-8") for d in dead)
    assert sum(r["messages"] for r in read_rows(out, "summary")) == 20
    assert records_accounting(result.stderr) == (22, 20, 2, "ok")


def _wait_for_rows(path, kind: str, timeout_s: float) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = read_rows(path, kind)
        if rows:
            return rows
        time.sleep(0.5)
    return []


def test_streaming_panes_appear_while_running_and_restart_resumes_after_commits(
    kafka_broker, fresh_topic, prism_location, tmp_path
):
    topic, group = fresh_topic(partitions=3), f"group-{time.time_ns()}"
    bootstrap = kafka_broker.bootstrap_servers
    settings = dict(
        source__bootstrap_servers=bootstrap,
        source__topics=[topic],
        source__group_id=group,
        source__max_out_of_orderness="1s",
        window__size="2s",
        sink__type="jsonl",
    )
    first_out = tmp_path / "first.jsonl"
    runner = start_cli(
        "run",
        "--config",
        DIRECT_CONFIG,
        "--duration",
        "25s",
        *config_overrides(**settings, sink__path=str(first_out)),
        log_path=tmp_path / "first.log",
    )
    first_batch = [ProducerRecord(f"streaming words number {i}", None, None) for i in range(40)]
    produce_messages(bootstrap, topic, first_batch, rate=10)
    panes = _wait_for_rows(first_out, "summary", timeout_s=20)
    assert panes and runner.poll() is None, "no pane was written while the pipeline was running"
    assert runner.wait(timeout=120) == 0, (tmp_path / "first.log").read_text()[-3000:]
    first_read = records_accounting((tmp_path / "first.log").read_text())[0]
    assert first_read == 40
    assert sum(committed_offsets(bootstrap, topic, group, 3)) == 40

    produce_messages(bootstrap, topic, [ProducerRecord(f"after the restart {i}", None, None) for i in range(15)])
    second_out = tmp_path / "second.jsonl"
    result = run_cli(
        "run",
        "--config",
        DIRECT_CONFIG,
        *config_overrides(**settings, sink__path=str(second_out), source__start="committed", source__stop="latest"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert records_accounting(result.stderr)[:2] == (15, 15)
    tokens = {r["token"] for r in read_rows(second_out, "count")}
    assert "restart" in tokens and "streaming" not in tokens
