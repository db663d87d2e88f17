"""The reader's decisions about offsets, driven through its client seam with a fake Kafka and a fake clock.

Every case here is one way an offset could be credited without a record; the
reader may do so only on Kafka's proof (docs/design.md, decision 10). Runs in milliseconds.
"""

from __future__ import annotations

from typing import Optional

import pytest
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.timestamp import Duration
from confluent_kafka import KafkaError

from transforms.kafka import read as read_module
from transforms.kafka.account import PartitionCounters
from transforms.kafka.offsets import (
    UNBOUNDED,
    PartitionOffsets,
    PartitionOffsetsTracker,
    PartitionRange,
    PartitionWatermarkEstimator,
)
from transforms.kafka.outages import EndOffsets, FatalKafkaError
from transforms.kafka.read import _ReaderShard, _ReadShardFn

TOPIC = "t"
BASE_MS = 1_767_600_000_000


class _Message:
    """What confluent-kafka's consume() returns: a record or an event."""

    def __init__(self, partition: int, offset: int, error: Optional[KafkaError] = None):
        self._partition, self._offset, self._error = partition, offset, error

    def error(self):
        return self._error

    def topic(self):
        return TOPIC

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def timestamp(self):
        return (1, BASE_MS + self._offset)

    def key(self):
        return None

    def value(self):
        return f"m{self._offset}".encode()


def record(offset: int, partition: int = 0) -> _Message:
    return _Message(partition, offset)


def event(code: int, offset: int, partition: int = 0) -> _Message:
    return _Message(partition, offset, KafkaError(code, "scripted"))


class _Silence(Exception):
    """The script is over and the reader is still waiting: what a test of silence wants to see."""


class FakeClient:
    """A ShardClient that replays scripted polls, then stays silent for `silent_polls` polls."""

    def __init__(self, polls, *, bounds=(0, 10), silent_polls: int = 20, clock=None):
        self._polls = list(polls)
        self._silent_polls = silent_polls
        self._bounds = bounds
        self._clock = clock
        self.seeks: list = []
        self.paused: list = []
        self.end_offsets = EndOffsets(read_module.OutageLog(), self)

    def __call__(self, settings, outages):  # the reader's client_factory
        return self

    def assign(self, positions):
        self.assigned = dict(positions)

    def poll(self, max_records, timeout_s):
        if self._clock is not None:
            self._clock.advance(timeout_s)
        if self._polls:
            return self._polls.pop(0)
        self._silent_polls -= 1
        if self._silent_polls < 0:
            raise _Silence()
        return []

    def seek(self, key, offset):
        self.seeks.append((key, offset))

    def pause(self, key):
        self.paused.append(key)

    def add(self, key, offset):
        pass

    def bounds(self, key, timeout_s):
        return self._bounds

    def get_watermark_offsets(self, tp, timeout=None, cached=True):
        return self._bounds

    def partitions(self, topic, timeout_s):
        return [0]

    def close(self):
        pass


class _Clock:
    """time.monotonic and time.time that move only when the fake client is polled."""

    def __init__(self):
        self.now = 1_000_000.0

    def advance(self, seconds: float) -> None:
        self.now += seconds * 20  # each silent poll is 2 s: silence lasts as long as a test wants

    def monotonic(self):
        return self.now

    def time(self):
        return self.now


class _Counted(PartitionCounters):
    def __init__(self):
        super().__init__()
        self.seen: dict = {}

    def inc(self, kind, topic, partition, n=1):
        self.seen[(kind, partition)] = self.seen.get((kind, partition), 0) + n


def _read(client: FakeClient, stop: int, *, start: int = 0, reset: str = "earliest", clock=None, monkeypatch=None):
    """Runs the reader's bounded read of partition 0 [start, stop); returns (records, credits, account, finished)."""
    if clock is not None:
        monkeypatch.setattr(read_module, "time", clock)
    fn = _ReadShardFn(
        {"bootstrap.servers": "fake", "auto.offset.reset": reset}, "create_time", 5.0, client_factory=client
    )
    fn.setup()
    fn._account = _Counted()
    restriction = PartitionOffsets((PartitionRange(TOPIC, 0, start, stop),))
    tracker = PartitionOffsetsTracker(restriction)
    watermark = PartitionWatermarkEstimator(Duration(seconds=5), None)
    records, credits, finished = [], [], False
    try:
        for out in fn._read(_ReaderShard(0, restriction, None), tracker, watermark, unbounded=False):
            if isinstance(out, TaggedOutput):
                credits.extend(out.value.value.ranges)
            else:
                records.append(out.value.offset)
        finished = True
    except _Silence:
        pass
    return records, credits, fn._account.seen, finished


def test_silence_never_credits_a_bounded_partitions_tail(monkeypatch):
    # A throttled or slow broker: 3 of 10 records, then nothing for 40 s of fake time.
    client = FakeClient([[record(0), record(1), record(2)]], clock=(clock := _Clock()))
    records, credits, account, finished = _read(client, 10, clock=clock, monkeypatch=monkeypatch)
    assert records == [0, 1, 2] and credits == [] and not finished
    assert account == {("read", 0): 3}


def test_the_end_of_partition_event_proves_the_tail_empty():
    client = FakeClient([[record(0), record(1), record(2)], [event(KafkaError._PARTITION_EOF, 10)]])
    records, credits, account, finished = _read(client, 10)
    assert records == [0, 1, 2] and credits == [(3, 10)] and finished
    assert account == {("read", 0): 3, ("empty:end", 0): 7}


def test_an_end_event_below_the_stop_credits_only_what_it_passed(monkeypatch):
    client = FakeClient([[record(0), event(KafkaError._PARTITION_EOF, 4)]], clock=(clock := _Clock()))
    records, credits, account, finished = _read(client, 10, clock=clock, monkeypatch=monkeypatch)
    assert credits == [(1, 4)] and not finished


def test_a_record_past_the_stop_proves_the_offsets_before_it_empty():
    client = FakeClient([[record(0), record(1), record(12)]])
    records, credits, account, finished = _read(client, 10)
    assert records == [0, 1] and credits == [(2, 10)] and finished
    assert account[("empty:gap", 0)] == 8


def test_a_gap_inside_a_batch_is_credited_as_a_gap():
    client = FakeClient([[record(0), record(1), record(5), event(KafkaError._PARTITION_EOF, 6)]])
    records, credits, account, finished = _read(client, 6)
    assert records == [0, 1, 5] and credits == [(2, 5)] and finished
    assert account == {("read", 0): 3, ("empty:gap", 0): 3}


def test_a_batch_the_client_could_not_read_is_counted_and_logged_apart_from_gaps(caplog):
    client = FakeClient([[record(0), event(KafkaError._BAD_COMPRESSION, 1)], [record(4), record(5)]])
    records, credits, account, finished = _read(client, 6)
    assert records == [0, 4, 5] and credits == [(1, 4)] and finished
    assert account[("empty:client_error", 0)] == 3 and ("empty:gap", 0) not in account
    assert "offsets 1..3 skipped: the Kafka client could not read them" in caplog.text


def test_out_of_range_with_earliest_skips_what_retention_deleted_counted_and_logged(caplog):
    # Committed at 10; retention moved the log start to 50.
    client = FakeClient(
        [[event(KafkaError._AUTO_OFFSET_RESET, 10)], [record(50), record(51), event(KafkaError._PARTITION_EOF, 52)]],
        bounds=(50, 52),
    )
    records, credits, account, finished = _read(client, 52, start=10)
    assert records == [50, 51] and credits == [(10, 50)] and finished
    assert client.seeks == [((TOPIC, 0), 50)]
    assert account == {("read", 0): 2, ("empty:retention", 0): 40}
    assert "were deleted by retention before they were read: skipping 40 offsets" in caplog.text


def test_out_of_range_with_latest_skips_to_the_end_only_because_the_user_said_so():
    client = FakeClient([[event(KafkaError._AUTO_OFFSET_RESET, 10)]], bounds=(50, 200))
    records, credits, account, finished = _read(client, UNBOUNDED, start=10, reset="latest")
    assert credits == [(10, 200)] and client.seeks == [((TOPIC, 0), 200)]
    assert account == {("empty:reset_to_latest", 0): 190}


def test_out_of_range_with_reset_error_is_a_clear_error():
    client = FakeClient([[event(KafkaError._AUTO_OFFSET_RESET, 10)]], bounds=(50, 200))
    with pytest.raises(FatalKafkaError, match=r"offset 10 of t-0 is out of range \(the log holds 50..200\)"):
        _read(client, UNBOUNDED, start=10, reset="error")


def test_the_fetching_consumer_reports_ends_and_never_resets_silently():
    from transforms.kafka.shard_client import fetch_settings

    settings = fetch_settings({"auto.offset.reset": "latest", "enable.partition.eof": False})
    assert settings["enable.partition.eof"] is True and settings["auto.offset.reset"] == "error"
