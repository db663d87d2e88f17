"""One scenario, every runner: the same config gives the same rows on Prism, embedded Flink and a Flink cluster.

The scenario: known messages with event times in a fresh topic, read bounded
(`source.stop: latest`), counted in fixed and in sliding windows. Rows are
compared as sets, without `pane_index` / `pane_is_last` (a runner may split a
window's firing into panes differently). A stream on the Flink cluster then
shows panes of closed windows while the job runs.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timezone

import nltk
import pytest
from confluent_kafka import Consumer, TopicPartition

from pipeline.devtools.producer import ProducerRecord, produce_messages
from pipeline.devtools.sample_text import SAMPLE_LINES
from tests.integration_helpers import (
    REPO,
    config_overrides,
    read_rows,
    records_accounting,
    run_cli,
    start_cli,
)

CONFIGS = {name: str(REPO / "run_configs" / f"{name}.yaml") for name in ("direct", "flink-local", "flink-cluster")}
WINDOWS = {
    "fixed": {"window__type": "fixed", "window__size": "10s"},
    "sliding": {"window__type": "sliding", "window__size": "10s", "window__period": "5s"},
}
BASE_MS = int(datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc).timestamp() * 1000)
# How a runner splits a firing into panes may differ; each run has its own run_id.
_PANE_FIELDS = ("pane_index", "pane_is_last", "run_id")
_direct_rows: dict[str, set] = {}


def _iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _known_messages(count: int = 60) -> list[ProducerRecord]:
    # A third of a second apart and slightly out of order: 20 s of event time.
    return [
        ProducerRecord(SAMPLE_LINES[i % len(SAMPLE_LINES)], None, BASE_MS + i * 333 - (i % 3) * 150)
        for i in range(count)
    ]


def _windows_of(ms: int, kind: str) -> list[int]:
    if kind == "fixed":
        return [ms - ms % 10_000]
    last = ms - ms % 5_000
    return [start for start in (last - 5_000, last) if start <= ms < start + 10_000]


def _expected_counts(messages: list[ProducerRecord], kind: str) -> Counter:
    """(window_start, token) -> count, from nltk.word_tokenize itself."""
    expected = Counter()
    for message in messages:
        for start in _windows_of(message.timestamp_ms, kind):
            for token in nltk.word_tokenize(message.value):
                expected[(_iso(start), token)] += 1
    return expected


def _comparable(rows: list[dict]) -> set[str]:
    return {json.dumps({k: v for k, v in row.items() if k not in _PANE_FIELDS}, sort_keys=True) for row in rows}


def _new_topic(kafka_broker, prefix: str) -> str:
    # Kept forever: the scenario's event times are older than Kafka's default retention.
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    kafka_broker.create_topic(name, 3, config={"retention.ms": "-1"})
    return name


@pytest.fixture(scope="module")
def scenario(kafka_broker):
    """A fresh topic holding the known messages, and the messages."""
    topic = _new_topic(kafka_broker, "runners")
    messages = _known_messages()
    produce_messages(kafka_broker.bootstrap_servers, topic, messages)
    return topic, messages


def _cluster_overrides(request) -> dict:
    cluster = request.getfixturevalue("flink_cluster")
    return {"options__flink_master": cluster.flink_master, "options__environment_config": cluster.worker_pool_address}


def _run_scenario(runner: str, window: str, topic: str, bootstrap: str, tmp_path, extra: dict):
    out = tmp_path / f"{runner}-{window}.jsonl"
    started = time.monotonic()
    result = run_cli(
        "run",
        "--config",
        CONFIGS[runner],
        *config_overrides(
            source__bootstrap_servers=bootstrap,
            source__topics=[topic],
            source__stop="latest",
            source__group_id=f"runners-{uuid.uuid4().hex[:8]}",
            tokenize__punkt="installed",
            tokenize__lowercase=False,
            tokenize__drop_punctuation=False,
            count__top_k=3,
            sink__type="jsonl",
            sink__path=str(out),
            **WINDOWS[window],
            **extra,
        ),
        timeout=600,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"{runner} {window}: {seconds:.1f}s")
    return read_rows(out), result.stderr


def _direct(window: str, topic: str, bootstrap: str, tmp_path) -> set[str]:
    if window not in _direct_rows:
        rows, _ = _run_scenario("direct", window, topic, bootstrap, tmp_path, {})
        _direct_rows[window] = _comparable(rows)
    return _direct_rows[window]


@pytest.mark.parametrize("window", list(WINDOWS))
def test_prism_counts_every_token_of_every_window(window, kafka_broker, scenario, use_nltk_data, tmp_path):
    topic, messages = scenario
    rows, stderr = _run_scenario("direct", window, topic, kafka_broker.bootstrap_servers, tmp_path, {})
    _direct_rows[window] = _comparable(rows)
    assert "executing on: PrismRunner" in stderr
    counted = Counter({(r["window_start"], r["token"]): r["count"] for r in rows if r["kind"] == "count"})
    assert counted == _expected_counts(messages, window)
    assert records_accounting(stderr) == (len(messages), len(messages), 0, "ok")


@pytest.mark.parametrize("runner", ["flink-local", "flink-cluster"])
@pytest.mark.parametrize("window", list(WINDOWS))
def test_flink_gives_the_same_rows_as_prism(
    runner, window, request, kafka_broker, scenario, flink_job_server_jar, use_nltk_data, tmp_path
):
    topic, messages = scenario
    bootstrap = kafka_broker.bootstrap_servers
    extra = _cluster_overrides(request) if runner == "flink-cluster" else {}
    rows, stderr = _run_scenario(runner, window, topic, bootstrap, tmp_path, extra)
    assert "executing on: FlinkRunner" in stderr
    assert records_accounting(stderr) == (len(messages), len(messages), 0, "ok")
    assert rows and _comparable(rows) == _direct(window, topic, bootstrap, tmp_path)


def _committed(bootstrap: str, topic: str, group: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        return sum(max(tp.offset, 0) for tp in found)
    finally:
        consumer.close()


def _wait_for(what: str, check, timeout_s: float, runner=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:  # Flink's REST API can be slow to answer while it starts a job: ask again
            value = None
        if value:
            return value
        assert runner is None or runner.poll() is None, f"the run ended before {what}"
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {timeout_s:g}s")


def _running_job(cluster) -> str | None:
    jobs = cluster.rest("/jobs/overview")["jobs"]
    return next((job["jid"] for job in jobs if job["state"] == "RUNNING"), None)


def test_a_stream_on_the_flink_cluster_fires_closed_windows_while_it_runs(
    kafka_broker, flink_cluster, flink_job_server_jar, tmp_path
):
    topic, group = _new_topic(kafka_broker, "flink-stream"), f"group-{uuid.uuid4().hex[:8]}"
    bootstrap, out, log = kafka_broker.bootstrap_servers, tmp_path / "stream.jsonl", tmp_path / "run.log"
    # The default checkpoint interval (10 s): a checkpoint that Flink triggers while the job's
    # tasks are still starting can hold back the Impulse source of Beam 2.62's Flink runner.
    runner = start_cli(
        "run",
        "--config",
        CONFIGS["flink-cluster"],
        "--duration",
        "60s",
        *config_overrides(
            source__bootstrap_servers=bootstrap,
            source__topics=[topic],
            source__group_id=group,
            source__max_out_of_orderness="1s",
            window__size="2s",
            options__flink_master=flink_cluster.flink_master,
            options__environment_config=flink_cluster.worker_pool_address,
            sink__type="jsonl",
            sink__path=str(out),
        ),
        log_path=log,
    )
    try:
        produce_messages(bootstrap, topic, [ProducerRecord(f"first batch {i}", None, None) for i in range(20)], rate=20)
        job = _wait_for("running job in /jobs/overview", lambda: _running_job(flink_cluster), 180, runner)
        _wait_for("pane of the first batch", lambda: read_rows(out, "summary"), 90, runner)
        later = threading.Thread(
            target=produce_messages,
            args=(bootstrap, topic, [ProducerRecord(f"second batch {i}", None, None) for i in range(20)]),
            kwargs={"rate": 20},
        )
        later.start()
        later.join()
        _wait_for(
            "pane of the second batch while the job runs",
            lambda: any(r["token"] == "second" for r in read_rows(out, "count")),
            60,
            runner,
        )
        checkpoints = _wait_for(
            "completed checkpoint",
            lambda: flink_cluster.rest(f"/jobs/{job}/checkpoints")["counts"]["completed"],
            60,
            runner,
        )
        assert checkpoints >= 1 and _wait_for(
            "offset commit (bundle finalization)", lambda: _committed(bootstrap, topic, group), 60, runner
        )
        assert runner.wait(timeout=240) == 0, log.read_text()[-3000:]
    finally:
        if runner.poll() is None:
            runner.kill()
    assert records_accounting(log.read_text())[:2] == (40, 40)
    assert sum(r["messages"] for r in read_rows(out, "summary")) == 40
