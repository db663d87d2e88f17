"""The offset ledger: which records of a partition have been written, and how far it may be committed.

Offsets are committed behind the output (docs/design.md, decision 8): offset N of a
partition may be committed only when every record below N has reached a sink,
as a dead letter, a late record, or counted in a pane of each window it
belongs to, and the sink has written that pane. Three kinds of entry feed the
ledger of a partition:

- `PartitionStart`: the reader starts the partition at this offset.
- `OffsetCredit` without a window: these offsets are done (written as a dead
  letter or late record, or offsets that hold no record: compacted away,
  transaction markers).
- `OffsetCredit` with a window: these offsets were counted in a written pane
  of that window; a record is done when it has been written in `needed`
  distinct windows (a sliding window puts a record into several). Accumulating
  panes repeat earlier records; crediting a window twice changes nothing. A
  record whose earlier sliding windows had closed when it was read is written
  as late_record rows for those (one credit, LATE_WINDOWS) and counted in the
  windows still open: `credits_needed` says how many credits that makes.

The ledger is plain data, so that a runner can keep it in Beam state.
"""

from __future__ import annotations

import bisect
from typing import Hashable, Iterable, NamedTuple, Optional

__all__ = [
    "OffsetCredit",
    "PartitionStart",
    "PartitionLedger",
    "LATE_WINDOWS",
    "add_offset",
    "credits_needed",
    "merge_ranges",
]

Range = tuple[int, int]  # [start, end)


class PartitionStart(NamedTuple):
    """The reader starts reading `topic`-`partition` at `offset` in this run."""

    topic: str
    partition: int
    offset: int


class OffsetCredit(NamedTuple):
    """Offsets of one partition that a sink has written.

    Attributes:
        ranges: [start, end) offset ranges, sorted and disjoint.
        window: None when the offsets are done; else the identity of the window
            (and branch) whose written pane counted them.
        needed: how many distinct windows each of these offsets must be written in.
    """

    topic: str
    partition: int
    ranges: tuple[Range, ...]
    window: Optional[Hashable] = None
    needed: int = 1


# The window identity of the late_record rows of a record that is also counted in open windows.
LATE_WINDOWS = ("late",)


def credits_needed(windows: int, late_windows: int, copies: int = 1) -> int:
    """How many distinct window credits a record needs before it is done.

    One per open window it is counted in, times `copies` (panes that count it per window:
    2 with by-key counts), plus one for its late_record rows when some of its windows had closed.
    """
    return windows * copies + (1 if late_windows else 0)


def add_offset(ranges: list, offset: int) -> None:
    """Adds one offset to a sorted list of [start, end] lists, in place (appending is the fast path)."""
    if ranges and ranges[-1][1] == offset:
        ranges[-1][1] = offset + 1
    elif not ranges or ranges[-1][1] < offset:
        ranges.append([offset, offset + 1])
    else:
        merged = merge_ranges(ranges, [(offset, offset + 1)])
        ranges[:] = [list(r) for r in merged]


def merge_ranges(*range_lists: Iterable) -> list[Range]:
    """The union of several range lists as sorted, disjoint, coalesced (start, end) tuples."""
    merged: list[list[int]] = []
    for start, end in sorted((r[0], r[1]) for ranges in range_lists for r in ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


class PartitionLedger:
    """One partition's ledger: where the run started, what is done, what may be committed."""

    def __init__(self):
        self.start: Optional[int] = None
        self.committed: Optional[int] = None  # the last commit point handed out
        self._done: list[list[int]] = []  # sorted, disjoint [start, end] lists
        self._windows: dict[int, set] = {}  # offset -> windows it was written in, until it is done

    def apply(self, entry) -> None:
        if isinstance(entry, PartitionStart):
            self.start = entry.offset if self.start is None else min(self.start, entry.offset)
        elif entry.window is None or entry.needed <= 1:
            self._mark_done(entry.ranges)
        else:
            self._credit_window(entry)

    def _credit_window(self, credit: OffsetCredit) -> None:
        done = []
        floor = self.committed if self.committed is not None else -1
        for start, end in credit.ranges:
            for offset in range(max(start, floor), end):
                windows = self._windows.setdefault(offset, set())
                windows.add(credit.window)
                if len(windows) >= credit.needed:
                    del self._windows[offset]
                    done.append((offset, offset + 1))
        self._mark_done(done)

    def _mark_done(self, ranges) -> None:
        if ranges:
            self._done = [list(r) for r in merge_ranges(self._done, ranges)]

    def commit_point(self) -> Optional[int]:
        """The offset to commit: every record below it is written. None before the start is known."""
        if self.start is None:
            return None
        point = self.start if self.committed is None else max(self.start, self.committed)
        index = bisect.bisect_right(self._done, [point, float("inf")]) - 1
        if index >= 0 and self._done[index][0] <= point < self._done[index][1]:
            point = self._done[index][1]
        return point

    def advance(self) -> Optional[int]:
        """Moves `committed` to the commit point and forgets what lies below; the new point if it moved."""
        point = self.commit_point()
        if point is None or point <= (self.start if self.committed is None else self.committed):
            return None  # nothing new written: a commit would change nothing
        self.committed = point
        self._done = [r for r in self._done if r[1] > point]
        for offset in [o for o in self._windows if o < point]:
            del self._windows[offset]
        return point

    def waiting(self) -> int:
        """How many records are written in some but not yet all of their windows."""
        return len(self._windows)
