"""Windows on a real stream: out-of-order and late records through Kafka and Prism.

A first batch of records (out of order, in the past) is in the topic before the
job starts; once the reader has caught up, the watermark follows the clock and
the windows close. A second batch then arrives behind the watermark: it must
show up as late records (zero allowed lateness) or in LATE panes (when the
allowed lateness covers it), never vanish.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone

import pytest

from pipeline.devtools.producer import ProducerRecord, produce_messages
from tests.integration_helpers import DIRECT_CONFIG, config_overrides, read_rows, records_accounting, start_cli

# Offsets in seconds from a window-aligned start in the past: on time, out of order.
FIRST_BATCH = [(1, "red"), (8, "red blue"), (3, "blue"), (14, "green"), (11, "red"), (27, "blue")]
LATE_BATCH = [(2, "late red"), (6, "late blue")]


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _windows(kind: str, ts: float) -> list:
    if kind == "fixed":
        return [ts - ts % 10]
    return [start for start in (ts - ts % 5, ts - ts % 5 - 5)]  # sliding: size 10, period 5


def _late_windows(kind: str, ts: float) -> list:
    """The windows a LATE_BATCH record finds closed: all of them (the watermark is far past)."""
    return [ts] if kind == "session" else _windows(kind, ts)


# Sessions with a 4 s gap over FIRST_BATCH: [1, 7), [8, 18) and [27, 31).
_SESSIONS = {1: ("red", "blue"), 8: ("red", "blue", "red", "green"), 27: ("blue",)}


def _expected(kind: str, base: float, batch) -> Counter:
    if kind == "session":
        return Counter(
            {
                (_iso(base + start), token): n
                for start, tokens in _SESSIONS.items()
                for token, n in Counter(tokens).items()
            }
        )
    counts = Counter()
    for offset, text in batch:
        for start in _windows(kind, base + offset):
            for token in text.split():
                counts[(_iso(start), token)] += 1
    return counts


def _wait_for(predicate, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    return predicate()


def _run_stream(kafka_broker, fresh_topic, tmp_path, **settings):
    base = (int(time.time()) // 60 - 2) * 60  # a whole minute, two minutes ago
    topic = fresh_topic(partitions=3)
    bootstrap = kafka_broker.bootstrap_servers
    produce_messages(
        bootstrap,
        topic,
        [ProducerRecord(text, f"k{i}", int((base + offset) * 1000)) for i, (offset, text) in enumerate(FIRST_BATCH)],
    )
    out, late = tmp_path / "out.jsonl", tmp_path / "late.jsonl"
    log = tmp_path / "run.log"
    runner = start_cli(
        "run",
        "--config",
        DIRECT_CONFIG,
        "--duration",
        "15s",
        *config_overrides(
            source__bootstrap_servers=bootstrap,
            source__topics=[topic],
            source__max_out_of_orderness="1s",
            sink__type="jsonl",
            sink__path=str(out),
            late_records__type="jsonl",
            late_records__path=str(late),
            **settings,
        ),
        log_path=log,
    )
    # Prism labels session panes EARLY with index -1 (apache/beam#33623): wait for any pane.
    closed = _wait_for(lambda: read_rows(out, "summary"), 30)
    assert closed and runner.poll() is None, log.read_text()[-3000:]
    produce_messages(
        bootstrap, topic, [ProducerRecord(text, "late", int((base + offset) * 1000)) for offset, text in LATE_BATCH]
    )
    assert runner.wait(timeout=120) == 0, log.read_text()[-3000:]
    return base, out, late, log.read_text()


_WINDOWS = {
    "fixed": {"window__type": "fixed", "window__size": "10s"},
    "sliding": {"window__type": "sliding", "window__size": "10s", "window__period": "5s"},
    # The DirectRunner does not send session windows to Prism: ask for Prism itself.
    "session": {"window__type": "session", "window__gap": "4s", "runner": "PrismRunner"},
}


@pytest.mark.parametrize("kind", sorted(_WINDOWS))
def test_late_records_are_reported_when_their_windows_have_closed(
    kind, kafka_broker, fresh_topic, prism_location, tmp_path
):
    base, out, late, log = _run_stream(kafka_broker, fresh_topic, tmp_path, **_WINDOWS[kind])
    counted = Counter()
    for row in read_rows(out, "count"):
        counted[(row["window_start"], row["token"])] += row["count"]
    assert counted == _expected(kind, base, FIRST_BATCH)
    # One late_record row for each closed window of a late record, naming the window.
    late_rows = read_rows(late, "late_record")
    assert sorted((r["event_time"], r["window_start"]) for r in late_rows) == sorted(
        (_iso(base + offset), _iso(start)) for offset, _ in LATE_BATCH for start in _late_windows(kind, base + offset)
    )
    read, decoded, dead, verdict = records_accounting(log)
    counted_messages = sum(r["messages"] for r in read_rows(out, "summary")) // (2 if kind == "sliding" else 1)
    assert (read, verdict) == (len(FIRST_BATCH) + len(LATE_BATCH), "ok")
    assert decoded == counted_messages + len({r["offset"] for r in late_rows})
    assert "account: ok" in log


def test_allowed_lateness_counts_late_records_in_late_panes(kafka_broker, fresh_topic, prism_location, tmp_path):
    base, out, late, log = _run_stream(
        kafka_broker, fresh_topic, tmp_path, trigger__allowed_lateness="10m", trigger__late={"every_n": 1}
    )
    late_panes = [r for r in read_rows(out, "count") if r["pane_timing"] == "LATE"]
    late_counts = Counter()
    for row in late_panes:  # one LATE pane per record, or one for both: the sums are the same
        late_counts[row["token"]] += row["count"]
    assert late_counts == Counter({"late": 2, "red": 1, "blue": 1})
    assert {r["window_start"] for r in late_panes} == {_iso(base)}
    assert read_rows(late, "late_record") == []
    assert records_accounting(log)[:2] == (8, 8)
