"""SplitLateMessages: a message whose windows closed leaves as a late_record row."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue
from hypothesis import given
from hypothesis import strategies as st

from transforms.lateness import SplitLateMessages, latest_window_end_us
from transforms.records import Message

T0 = 1_767_600_000  # 2026-01-05T08:00:00Z


def _message(offset: int, watermark_s: float | None) -> Message:
    watermark_ms = None if watermark_s is None else int((T0 + watermark_s) * 1000)
    return Message(f"text {offset}", "k", "topic", 0, offset, watermark_ms)


def test_latest_window_end_for_each_window_kind():
    at = (T0 + 7) * 1_000_000
    assert latest_window_end_us("fixed", at, size_s=10) == (T0 + 10) * 1_000_000
    assert latest_window_end_us("fixed", at, size_s=10, offset_s=5) == (T0 + 15) * 1_000_000
    assert latest_window_end_us("sliding", at, size_s=10, period_s=5) == (T0 + 15) * 1_000_000
    assert latest_window_end_us("session", at, gap_s=3) == (T0 + 10) * 1_000_000
    assert latest_window_end_us("global", at) is None


def test_messages_behind_a_closed_window_leave_as_late_records():
    # Window [T0, T0+10) with 5 s allowed lateness closes when the watermark reaches T0+15.
    messages = [
        TimestampedValue(_message(0, 14.999), T0 + 2),
        TimestampedValue(_message(1, 15), T0 + 2),
        TimestampedValue(_message(2, 60), T0 + 55),
        TimestampedValue(_message(3, None), T0 + 1),
    ]
    with TestPipeline(runner="FnApiRunner") as p:
        split = p | beam.Create(messages) | SplitLateMessages("fixed", size_s=10, allowed_lateness_s=5)
        assert_that(split.on_time | "Offsets" >> beam.Map(lambda m: m.offset), equal_to([0, 2, 3]), label="OnTime")
        assert_that(
            split.late | beam.Map(lambda r: (r["kind"], r["offset"], r["event_time"])),
            equal_to([("late_record", 1, "2026-01-05T08:00:02.000Z")]),
            label="Late",
        )


def test_global_windows_never_make_a_message_late():
    with TestPipeline(runner="FnApiRunner") as p:
        split = p | beam.Create([TimestampedValue(_message(0, 10**6), T0)]) | SplitLateMessages("global")
        assert_that(split.late, equal_to([]), label="NoLate")
        assert_that(split.on_time | beam.Map(lambda m: m.offset), equal_to([0]), label="OnTime")


@given(st.integers(-(10**15), 10**15), st.integers(1, 3600), st.integers(1, 3600), st.integers(0, 3600))
def test_the_last_window_end_is_the_end_of_beams_last_window(at_us, size_s, period_s, offset_s):
    from apache_beam.transforms import window
    from apache_beam.utils.timestamp import Timestamp

    from transforms.windowing import MAX_WINDOWS_PER_ELEMENT, WindowSpec

    # A valid sliding spec: period at most size, at most MAX_WINDOWS_PER_ELEMENT windows per element.
    period_s = max(min(period_s, size_s), -(-size_s // MAX_WINDOWS_PER_ELEMENT))
    for spec in (
        WindowSpec.of("fixed", size_s=size_s, offset_s=offset_s % size_s),
        WindowSpec.of("sliding", size_s=size_s, period_s=period_s, offset_s=offset_s % period_s),
    ):
        assigned = spec.window_fn().assign(window.WindowFn.AssignContext(Timestamp(micros=at_us)))
        assert spec.latest_window_end_us(at_us) == max(w.end.micros for w in assigned)
        assert all(w.start.micros <= at_us < w.end.micros for w in assigned)


def test_each_sliding_window_is_decided_on_its_own():
    # Sliding 20 s every 10 s: a message at T0+12 is in [T0, T0+20) and [T0+10, T0+30).
    # With the watermark at T0+25 the first has closed, the second is open.
    from transforms.kafka.ledger import LATE_WINDOWS
    from transforms.records import RowBatch

    messages = [TimestampedValue(_message(7, 25), T0 + 12)]
    with TestPipeline(runner="FnApiRunner") as p:
        split = p | beam.Create(messages) | SplitLateMessages("sliding", size_s=20, period_s=10)
        assert_that(
            split.on_time | "Windows" >> beam.Map(lambda m: (m.offset, m.windows, m.late_windows)),
            equal_to([(7, 1, 1)]),
            label="OnTime",
        )

        def _late(batch):
            assert isinstance(batch, RowBatch)
            (row,), (credit,) = batch.rows, batch.credits
            return row["window_start"], row["window_end"], credit.ranges, credit.window == LATE_WINDOWS, credit.needed

        assert_that(
            split.late | "Late" >> beam.Map(_late),
            equal_to([("2026-01-05T08:00:00.000Z", "2026-01-05T08:00:20.000Z", ((7, 8),), True, 2)]),
            label="LateRows",
        )


def test_a_message_late_in_some_windows_is_done_only_when_its_open_window_and_late_rows_are_written():
    from transforms.kafka.ledger import LATE_WINDOWS, OffsetCredit, PartitionLedger, PartitionStart, credits_needed

    ledger = PartitionLedger()
    ledger.apply(PartitionStart("t", 0, 7))
    needed = credits_needed(1, 1)
    ledger.apply(OffsetCredit("t", 0, ((7, 8),), ("count", 10, 30), needed))
    assert ledger.advance() is None  # counted in its open window, its late row not yet written
    ledger.apply(OffsetCredit("t", 0, ((7, 8),), LATE_WINDOWS, needed))
    assert ledger.advance() == 8
