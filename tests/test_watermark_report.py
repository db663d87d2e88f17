"""Why hasn't my window fired? The reader's per-partition report and the words shown for it, without a broker.

The reader is driven through its client seam (as in test_kafka_read_seam.py) with an idle
partition, a slow one that is behind, a busy one and an empty topic; its gauges are caught
as the runner would report them and shown as `lag` and `run --live` show them.
"""

from __future__ import annotations

import time
from typing import Optional

from apache_beam.utils.timestamp import Duration, Timestamp

from pipeline.config import load_config
from pipeline.console import watermark_view
from pipeline.lag import PartitionLag, format_watermarks
from tests.integration_helpers import DIRECT_CONFIG
from transforms.kafka import watermarks
from transforms.kafka.offsets import (
    UNBOUNDED,
    PartitionOffsets,
    PartitionOffsetsTracker,
    PartitionRange,
    PartitionWatermarkEstimator,
)
from transforms.kafka.outages import EndOffsets, OutageLog
from transforms.kafka.read import _ReaderShard, _ReadShardFn
from transforms.kafka.watermarks import PartitionWatermark, ReaderWatch, holding_partition
from transforms.windowing import WindowSpec

TOPIC = "words"
NOW_MS = int(time.time() * 1000)


class _Record:
    def __init__(self, partition: int, offset: int, event_ms: int):
        self._partition, self._offset, self._event_ms = partition, offset, event_ms

    def error(self):
        return None

    def topic(self):
        return TOPIC

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def timestamp(self):
        return (1, self._event_ms)

    def key(self):
        return None

    def value(self):
        return b"rain"


class _Done(Exception):
    """The script is over."""


class _Client:
    """A ShardClient: scripted polls, and an end offset per partition."""

    def __init__(self, polls: list, ends: dict[int, int]):
        self._polls, self._ends = list(polls), ends
        self.end_offsets = EndOffsets(OutageLog(), self)

    def __call__(self, settings, outages):
        return self

    def assign(self, positions):
        pass

    def poll(self, max_records, timeout_s):
        if not self._polls:
            raise _Done()
        return self._polls.pop(0)

    def get_watermark_offsets(self, tp, timeout=None, cached=True):
        return 0, self._ends[tp.partition]

    def close(self):
        pass


class _Gauges:
    """Metrics.gauge as the runner sees it: the last value set per name, with when."""

    def __init__(self):
        self.values: dict = {}

    def gauge(self, namespace: str, name: str):
        assert namespace == watermarks.NAMESPACE
        values = self.values

        class _Gauge:
            def set(self, value):
                values[name] = (value, time.time())

        return _Gauge()


def _read(monkeypatch, polls: list, ends: dict[int, int]) -> list[PartitionWatermark]:
    """Runs the reader over `polls` and returns the partitions as its gauges report them."""
    gauges = _Gauges()
    monkeypatch.setattr(watermarks, "Metrics", gauges)
    fn = _ReadShardFn({"bootstrap.servers": "fake"}, "create_time", 5.0, client_factory=_Client(polls, ends))
    fn.setup()
    fn._watch = ReaderWatch({}, None, every_s=0.0)  # report after every poll, not once a second
    restriction = PartitionOffsets(tuple(PartitionRange(TOPIC, p, 0, UNBOUNDED) for p in ends))
    tracker = PartitionOffsetsTracker(restriction)
    watermark = PartitionWatermarkEstimator(Duration(seconds=5), None)
    try:
        for _ in fn._read(_ReaderShard(0, restriction, None), tracker, watermark, unbounded=False):
            pass
    except _Done:
        pass
    return watermarks.from_gauges(gauges.values)


def _lag_lines(report: list[PartitionWatermark], ends: dict[int, int], now_ms: Optional[int] = None) -> str:
    config = load_config(DIRECT_CONFIG, (f"source.topics=[{TOPIC}]", "source.group_id=g", "window.size=10s"))
    rows = [PartitionLag(TOPIC, p, None, end) for p, end in ends.items()]
    return "\n".join(format_watermarks(config, rows, report, now_ms or int(time.time() * 1000)))


def test_the_slow_partition_holds_while_the_idle_one_follows_the_clock(monkeypatch):
    # 0: busy with fresh records; 1: empty and caught up (idle); 2: behind, reading records ten minutes old.
    old = NOW_MS - 600_000
    polls = [[_Record(0, i, NOW_MS - 100), _Record(2, i, old + i * 1000)] for i in range(5)]
    report = _read(monkeypatch, polls, {0: 5, 1: 0, 2: 1000})

    by_partition = {p.partition: p for p in report}
    assert set(by_partition) == {0, 1, 2}
    assert by_partition[0].newest_event_ms == NOW_MS - 100 and by_partition[0].idle_since_ms is None
    assert by_partition[1].idle_since_ms is not None and by_partition[1].newest_event_ms is None
    assert abs(by_partition[1].watermark_ms - (time.time() * 1000 - 5000)) < 2000  # the wall clock, less 5 s
    assert by_partition[2].watermark_ms == old + 4000 - 5000 and by_partition[2].next_offset == 5
    assert holding_partition(report).partition == 2

    shown = _lag_lines(report, {0: 5, 1: 0, 2: 1000})
    assert f"held by {TOPIC}-2: reading: it follows its newest event" in shown, shown
    assert "minus max_out_of_orderness 5s; 995 records to read" in shown
    assert "reading, 995 to read <- holds" in shown and "idle 0s" in shown
    assert "next window to close" in shown and f"waits on {TOPIC}-2" in shown


def test_an_empty_topic_is_idle_everywhere_and_no_open_window_holds_a_record(monkeypatch):
    report = _read(monkeypatch, [[], []], {0: 0, 1: 0})

    assert [p.partition for p in report] == [0, 1]
    assert all(p.idle_since_ms is not None and p.newest_event_ms is None for p in report)
    shown = _lag_lines(report, {0: 0, 1: 0})
    assert f"held by {TOPIC}-0: idle 0s (caught up since" in shown, shown
    assert "it follows the wall clock minus max_out_of_orderness 5s" in shown
    assert "no open window holds a record read so far" in shown


def test_a_partition_that_has_read_nothing_yet_holds_before_any_other():
    report = [
        PartitionWatermark(TOPIC, 0, NOW_MS - 5000, NOW_MS, None, 10, NOW_MS),
        PartitionWatermark(TOPIC, 1, None, None, None, 0, NOW_MS),
        PartitionWatermark(TOPIC, 2, None, None, None, None, NOW_MS, finished=True),
    ]
    assert holding_partition(report).partition == 1
    assert watermarks.pipeline_watermark_ms(report) is None
    shown = _lag_lines(report, {0: 10, 1: 0, 2: 3}, NOW_MS)
    assert f"reader watermark: none yet, held by {TOPIC}-1: no record read yet, and the broker has not" in shown
    assert f"no window can close before {TOPIC}-1 has a watermark" in shown
    assert "finished" in shown
    assert holding_partition([report[2]]) is None  # every partition finished: nothing holds


def test_idle_since_is_when_the_partition_was_caught_up_after_its_last_record():
    watch = ReaderWatch({}, None)
    key = (TOPIC, 0)
    watch.read([key], 100.0)
    watch.caught_up(key, 99.5)  # an end offset asked before the last record was read
    watch.caught_up(key, 103.0)  # later confirmations do not move it
    [row] = watch.partitions({key: Timestamp(seconds=98)}, 104.0)
    assert row.idle_since_ms == 100_000 and row.last_read_ms == 100_000 and row.watermark_ms == 98_000
    watch.read([key], 105.0)  # a record: no longer idle
    [row] = watch.partitions({key: Timestamp(seconds=100)}, 105.0)
    assert row.idle_since_ms is None


def test_a_quiet_partition_the_broker_has_not_confirmed_is_said_to_wait():
    quiet = PartitionWatermark(TOPIC, 0, NOW_MS - 20_000, NOW_MS - 15_000, None, 7, NOW_MS, last_read_ms=NOW_MS - 9000)
    assert watermark_view.partition_state(quiet, NOW_MS, {(TOPIC, 0): 7}) == "quiet 9s, unconfirmed"
    line = watermark_view.holder_line([quiet], NOW_MS, 5.0, {(TOPIC, 0): 7})
    assert "no record for 9s and the broker has not confirmed it is caught up: its watermark waits" in line


def test_the_report_survives_gauges_and_kafka_commit_metadata():
    row = PartitionWatermark(TOPIC, 3, NOW_MS - 5000, NOW_MS - 10, NOW_MS - 60_000, 42, NOW_MS, False, NOW_MS - 61_000)
    assert watermarks.from_status(TOPIC, 3, 42, watermarks.to_status(row)) == row
    assert watermarks.from_status(TOPIC, 3, 42, "") is None and watermarks.from_status(TOPIC, 3, 42, "x") is None
    at = NOW_MS / 1000
    gauges = {
        f"watermark_ms|{TOPIC}|3": (NOW_MS - 5000, at),
        f"newest_event_ms|{TOPIC}|3": (NOW_MS - 10, at),
        f"idle_since_ms|{TOPIC}|3": (NOW_MS - 60_000, at),
        f"next_offset|{TOPIC}|3": (42, at),
        f"last_read_ms|{TOPIC}|3": (NOW_MS - 61_000, at),
        f"watermark_ms|{TOPIC}|4": (watermarks._NONE_YET, at),
        f"idle_since_ms|{TOPIC}|4": (0, at),
        f"watermark_ms|{TOPIC}|5": (watermarks._FINISHED, at),
    }
    three, four, five = watermarks.from_gauges(gauges)
    assert three == row
    assert (four.watermark_ms, four.idle_since_ms, four.finished) == (None, None, False)
    assert five.finished


def test_windows_waiting_on_the_watermark_for_each_window_type():
    now = NOW_MS - NOW_MS % 60_000 + 37_000  # hh:mm:37
    report = [PartitionWatermark(TOPIC, 0, now - 6000, now - 1000, None, 1, now)]

    def line(window: str, **settings) -> str:
        return watermark_view.windows_line(WindowSpec.of(window, **settings), report, now)

    fixed = line("fixed", size_s=10)
    assert "next window to close" in fixed and ":30-" in fixed and "9s of event time from here" in fixed
    assert "more open" not in fixed  # the newest event (hh:mm:36) is in that same window
    sliding = line("sliding", size_s=10, period_s=5)
    assert (
        ":25-" in sliding and "4s of event time" in sliding and "2 more open" in sliding
    )  # [30, 40) and [35, 45) hold hh:mm:36 too
    assert "sessions with records after" in line("session", gap_s=30)
    assert "global window" in line("global", repeat=10)
