"""Unit tests of transforms/kafka/ledger.py: what may be committed, given what the sinks wrote."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from transforms.kafka.ledger import OffsetCredit, PartitionLedger, PartitionStart, add_offset, merge_ranges


def _ledger(start: int, *entries) -> PartitionLedger:
    ledger = PartitionLedger()
    for entry in (PartitionStart("t", 0, start), *entries):
        ledger.apply(entry)
    return ledger


def _done(*ranges) -> OffsetCredit:
    return OffsetCredit("t", 0, tuple(ranges))


def test_commit_point_is_the_contiguous_written_prefix():
    ledger = _ledger(10, _done((12, 15)))
    assert ledger.advance() is None  # 10 and 11 are not written yet
    ledger.apply(_done((10, 12)))
    assert ledger.advance() == 15
    ledger.apply(_done((16, 20)))
    assert ledger.advance() is None and ledger.committed == 15


def test_nothing_is_committed_before_the_start_is_known():
    ledger = PartitionLedger()
    ledger.apply(_done((0, 5)))
    assert ledger.advance() is None
    ledger.apply(PartitionStart("t", 0, 0))
    assert ledger.advance() == 5


def test_a_record_in_several_windows_is_done_when_every_window_wrote_it():
    ledger = _ledger(0, OffsetCredit("t", 0, ((0, 2),), ("count", 0, 10), needed=2))
    assert ledger.advance() is None and ledger.waiting() == 2
    # An accumulating pane of the same window repeats its records: no progress.
    ledger.apply(OffsetCredit("t", 0, ((0, 2),), ("count", 0, 10), needed=2))
    assert ledger.advance() is None
    ledger.apply(OffsetCredit("t", 0, ((0, 1),), ("count", 5, 15), needed=2))
    assert ledger.advance() == 1 and ledger.waiting() == 1


def test_credits_below_the_committed_point_are_ignored():
    ledger = _ledger(0, _done((0, 3)))
    assert ledger.advance() == 3
    ledger.apply(OffsetCredit("t", 0, ((0, 3),), ("count", 0, 10), needed=2))
    assert ledger.waiting() == 0 and ledger.advance() is None


@given(st.lists(st.integers(0, 200), max_size=60))
def test_add_offset_keeps_sorted_disjoint_ranges(offsets):
    ranges = []
    for offset in offsets:
        add_offset(ranges, offset)
    covered = {o for start, end in ranges for o in range(start, end)}
    assert covered == set(offsets)
    assert [tuple(r) for r in ranges] == merge_ranges(ranges)


@given(st.permutations(range(40)), st.integers(1, 39))
def test_any_order_of_credits_commits_exactly_the_written_prefix(order, written):
    ledger = _ledger(0)
    for offset in order[:written]:
        ledger.apply(_done((offset, offset + 1)))
    ledger.advance()
    expected = next((o for o in range(40) if o not in set(order[:written])), 40)
    assert ledger.committed == (expected if expected > 0 else None)
