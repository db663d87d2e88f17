"""The end-of-run account from counter totals: which figures fail a run and which only warn."""

from __future__ import annotations

from pipeline.metrics_report import _offset_lines, _window_line
from transforms.counting import COUNTED_WINDOWS
from transforms.lateness import LATE_WINDOWS_COUNTER, MESSAGE_WINDOWS


def _offsets(committed: int, read: int, gap: int = 0) -> dict:
    totals = {("OffsetAccount", "committed|t|0"): committed, ("OffsetAccount", "read|t|0"): read}
    if gap:
        totals[("OffsetAccount", "empty:gap|t|0")] = gap
    return totals


def test_committed_beyond_what_was_read_or_proven_empty_fails_the_run():
    account = _offset_lines(_offsets(committed=12, read=9, gap=2), commits=True, ended=True)
    assert not account.ok and "MISMATCH: 1 offsets committed that were never read" in account.lines[0]


def test_a_balanced_partition_is_ok_with_its_reasons():
    account = _offset_lines(_offsets(committed=11, read=9, gap=2), commits=True, ended=True)
    assert (
        account.ok
        and account.lines[-1] == "offsets, 1 partition(s): committed 11 = read 9 + proven empty 2 (gap 2): ok"
    )


def test_read_but_not_committed_is_re_read_by_a_restart_not_a_loss():
    account = _offset_lines(_offsets(committed=5, read=9), commits=True, ended=False)
    assert account.ok and "4 offsets read but not committed" in account.lines[-1]


def test_windows_counted_beyond_the_expected_fail_and_short_ones_only_warn():
    totals = {MESSAGE_WINDOWS: 10, LATE_WINDOWS_COUNTER: 2}
    assert _window_line({**totals, COUNTED_WINDOWS: 8}, ended=True).ok
    assert not _window_line({**totals, COUNTED_WINDOWS: 9}, ended=True).ok
    short = _window_line({**totals, COUNTED_WINDOWS: 6}, ended=True)
    assert short.ok and "warning: 2 not in the counters" in short.lines[0]
