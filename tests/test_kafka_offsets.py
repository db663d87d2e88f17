"""Unit tests of transforms/kafka/offsets.py: the reader's restriction tracker and watermark estimator."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from apache_beam.utils.timestamp import MAX_TIMESTAMP, MIN_TIMESTAMP, Duration, Timestamp

from transforms.kafka.offsets import (
    END_OF_READ,
    UNBOUNDED,
    PartitionOffsets,
    PartitionOffsetsProvider,
    PartitionOffsetsTracker,
    PartitionRange,
    PartitionWatermarkEstimator,
    deal_partitions,
)


def _offsets(*ranges) -> PartitionOffsets:
    return PartitionOffsets(tuple(PartitionRange("t", *r) for r in ranges))


def _progress(tracker) -> tuple:
    progress = tracker.current_progress()
    values = (progress.completed_work, progress.remaining_work, progress.fraction_completed)
    assert not any(math.isnan(v) for v in values)
    return values


def test_partitions_are_dealt_into_shards_by_backlog_not_by_position():
    ranges = [PartitionRange("t", p, 0, n) for p, n in enumerate([15000, 0, 15000, 0])]
    # Keys that hash to partitions 0 and 2 only: by position, one shard would get both busy ones.
    assert deal_partitions(ranges, [15000, 0, 15000, 0], 2) == [[ranges[0], ranges[1]], [ranges[2], ranges[3]]]
    # Equal backlogs: every shard gets as many partitions, in partition order.
    assert deal_partitions(ranges, [7, 7, 7, 7], 2) == [[ranges[0], ranges[2]], [ranges[1], ranges[3]]]
    dealt = deal_partitions(ranges, [9, 1, 5, 4], 3)
    assert dealt == [[ranges[0]], [ranges[2]], [ranges[1], ranges[3]]]


def test_claims_run_in_order_to_each_partitions_stop():
    tracker = PartitionOffsetsTracker(_offsets((0, 10, 13), (1, 5, 5)))
    assert [tracker.try_claim(("t", 0, n)) for n in (10, 12, 13)] == [True, True, False]  # 11: a gap
    assert tracker.unfinished() == {}
    tracker.check_done()
    assert tracker.current_restriction() == _offsets((0, 10, 13), (1, 5, 5))
    with pytest.raises(ValueError, match=r"^offset 11 of t-0 claimed after 13$"):
        tracker.try_claim(("t", 0, 11))


def test_a_claim_past_the_stop_finishes_the_partition_where_it_is():
    tracker = PartitionOffsetsTracker(_offsets((0, 0, 10)))
    assert tracker.try_claim(("t", 0, 3)) is True
    assert tracker.try_claim(("t", 0, 12)) is False
    assert tracker.current_restriction() == _offsets((0, 0, 4))
    tracker.check_done()


def test_end_of_read_stops_every_partition_where_it_is():
    tracker = PartitionOffsetsTracker(_offsets((0, 0, UNBOUNDED), (1, 7, 20)))
    assert [tracker.try_claim(("t", 0, n)) for n in range(3)] == [True, True, True]
    assert tracker.try_claim(END_OF_READ) is False
    assert tracker.current_restriction() == _offsets((0, 0, 3), (1, 7, 7))
    assert tracker.try_claim(("t", 0, 3)) is False
    assert tracker.is_bounded()
    tracker.check_done()


def test_check_done_names_the_unfinished_partitions():
    tracker = PartitionOffsetsTracker(_offsets((0, 0, 2), (1, 0, 2), (2, 4, 4)))
    tracker.try_claim(("t", 1, 0))
    with pytest.raises(ValueError, match=r"^partitions not read to their stop offsets: \[\('t', 0\), \('t', 1\)\]$"):
        tracker.check_done()


def test_checkpoint_splits_at_the_next_offsets_and_nothing_else_splits():
    tracker = PartitionOffsetsTracker(_offsets((0, 0, UNBOUNDED), (1, 7, UNBOUNDED)))
    assert tracker.try_split(0.5) is None  # a partition is never cut in two
    assert tracker.try_claim(("t", 0, 0)) and tracker.try_claim(("t", 0, 1))
    primary, residual = tracker.try_split(0)
    assert primary == _offsets((0, 0, 2), (1, 7, 7))
    assert residual == _offsets((0, 2, UNBOUNDED), (1, 7, UNBOUNDED))
    assert tracker.try_claim(("t", 0, 2)) is False
    assert tracker.try_split(0) is None
    tracker.check_done()


def test_progress_is_never_nan():
    bounded = PartitionOffsetsTracker(_offsets((0, 0, 10)))
    for n in range(4):
        bounded.try_claim(("t", 0, n))
    assert _progress(bounded) == (4, 6, 0.4)
    # An unbounded partition's backlog is unknown: it counts as one unit of remaining work.
    assert _progress(PartitionOffsetsTracker(_offsets((0, 5, UNBOUNDED)))) == (0, 1, 0.0)
    mixed = PartitionOffsetsTracker(_offsets((0, 0, 4), (1, 0, UNBOUNDED)))
    for n in range(4):
        mixed.try_claim(("t", 0, n))
    assert _progress(mixed) == (4, 1, 0.8)
    assert _progress(PartitionOffsetsTracker(_offsets((0, 5, 5), (1, 0, 0)))) == (0, 0, 1.0)
    assert _progress(PartitionOffsetsTracker(PartitionOffsets(()))) == (0, 0, 1.0)
    checkpointed = PartitionOffsetsTracker(_offsets((0, 5, UNBOUNDED)))
    checkpointed.try_split(0)
    assert _progress(checkpointed) == (0, 0, 1.0)


def test_provider_sizes_bounded_restrictions_by_offsets_and_unbounded_as_one():
    provider = PartitionOffsetsProvider()
    bounded, unbounded = _offsets((0, 3, 10), (1, 0, 5)), _offsets((0, 3, UNBOUNDED))
    assert provider.initial_restriction(SimpleNamespace(offsets=bounded)) == bounded
    assert list(provider.split(None, bounded)) == [bounded]
    assert (provider.restriction_size(None, bounded), provider.restriction_size(None, unbounded)) == (12, 1)
    assert isinstance(provider.create_tracker(bounded), PartitionOffsetsTracker)


def test_watermark_is_the_minimum_over_partitions_and_never_goes_back():
    estimator = PartitionWatermarkEstimator(Duration(seconds=5), None)
    assert estimator.current_watermark() == MIN_TIMESTAMP
    estimator.track([("t", 0), ("t", 1)])
    estimator.observe_record(("t", 0), Timestamp(100))
    assert estimator.current_watermark() == MIN_TIMESTAMP  # partition 1 has produced nothing yet
    estimator.observe_record(("t", 1), Timestamp(50))
    estimator.observe_record(("t", 1), Timestamp(20))  # out of order: never lowers a partition
    assert estimator.current_watermark() == Timestamp(45)
    estimator.advance_when_idle(("t", 1), Timestamp(200))  # quiet and caught up: follows the clock
    assert estimator.current_watermark() == Timestamp(95)
    estimator.finish(("t", 0))
    assert estimator.current_watermark() == Timestamp(195)
    estimator.track([("t", 2)])  # a partition joining late does not pull the watermark back
    assert estimator.current_watermark() == Timestamp(195)
    assert estimator.get_estimator_state() == {
        ("t", 0): MAX_TIMESTAMP,
        ("t", 1): Timestamp(195),
        ("t", 2): MIN_TIMESTAMP,
    }


def test_watermark_resumes_from_its_state_and_ends_when_every_partition_finishes():
    estimator = PartitionWatermarkEstimator(Duration(seconds=5), {("t", 0): Timestamp(95), ("t", 1): MAX_TIMESTAMP})
    assert estimator.current_watermark() == Timestamp(95)
    estimator.observe_timestamp(Timestamp(1_000))  # per-record observation goes through observe_record
    assert estimator.current_watermark() == Timestamp(95)
    estimator.finish(("t", 0))
    assert estimator.current_watermark() == MAX_TIMESTAMP


def test_a_record_budget_ends_every_partition_once_spent_and_splits_with_the_residual():
    restriction = PartitionOffsets((PartitionRange("t", 0, 0, UNBOUNDED), PartitionRange("t", 1, 5, UNBOUNDED)), 3)
    tracker = PartitionOffsetsTracker(restriction)
    assert tracker.is_bounded() and tracker.current_progress().fraction_completed == 0
    assert tracker.try_claim(("t", 1, 5)) and tracker.try_claim(("t", 0, 0))
    primary, residual = tracker.try_split(0)
    assert residual == PartitionOffsets((PartitionRange("t", 0, 1, UNBOUNDED), PartitionRange("t", 1, 6, UNBOUNDED)), 1)
    assert primary.budget == 2
    rest = PartitionOffsetsTracker(residual)
    assert rest.try_claim(("t", 0, 1)) and not rest.try_claim(("t", 1, 6))
    rest.check_done()  # the budget is spent: every partition ended where it was
    assert rest.current_restriction().ranges == (PartitionRange("t", 0, 1, 2), PartitionRange("t", 1, 6, 6))
