"""The restriction, tracker and watermark estimator of the Kafka reader.

One reader element covers a group of partitions, and its restriction is the
offset range left to read in each of them. Keeping the partitions of a group in
one restriction lets one watermark estimator take the minimum over them: Prism
(Beam 2.77) keeps only the estimate of the last bundle it saw for a splittable
DoFn stage, so per-partition elements would let one busy partition's watermark
overtake the others and turn their records late.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

from apache_beam.io.iobase import RestrictionProgress, RestrictionTracker, WatermarkEstimator
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.utils.timestamp import MAX_TIMESTAMP, MIN_TIMESTAMP, Duration, Timestamp

__all__ = [
    "UNBOUNDED",
    "PartitionRange",
    "PartitionOffsets",
    "PartitionOffsetsTracker",
    "PartitionOffsetsProvider",
    "PartitionWatermarkEstimator",
    "END_OF_READ",
    "NewPartition",
    "SkipTo",
    "deal_partitions",
]

# The stop offset of a partition that is read without end.
UNBOUNDED = 2**63 - 1
# Claiming this position ends the whole read (a deadline passed).
END_OF_READ = None

TopicPartitionKey = tuple[str, int]


class PartitionRange(NamedTuple):
    """Offsets [start, stop) of one partition; stop is UNBOUNDED for a stream."""

    topic: str
    partition: int
    start: int
    stop: int


class NewPartition(NamedTuple):
    """A claim that adds a partition found while the read runs (try_claim is a tracker's only way in)."""

    range: PartitionRange


class SkipTo(NamedTuple):
    """A claim that moves a partition's next offset to `offset` without a record: the offsets passed hold none."""

    topic: str
    partition: int
    offset: int


def deal_partitions(
    ranges: Sequence[PartitionRange], backlogs: Sequence[int], shards: int
) -> list[list[PartitionRange]]:
    """Deals partitions into shards with about equal backlogs: the largest first, each to the least loaded shard.

    Dealing by position would give one shard every busy partition when the keys
    hash to a few of them, and one worker process would read (and tokenize) alone.
    """
    dealt: list[list[int]] = [[] for _ in range(shards)]
    loads = [0] * shards
    for index in sorted(range(len(ranges)), key=lambda i: -backlogs[i]):
        shard = min(range(shards), key=lambda s: (loads[s], len(dealt[s])))
        dealt[shard].append(index)
        loads[shard] += backlogs[index]
    return [[ranges[i] for i in sorted(indices)] for indices in dealt]


class PartitionOffsets(NamedTuple):
    """The restriction of one reader element: an offset range per partition.

    `budget`, when set, is how many records the element may still claim in
    total, whichever partitions they come from (a `max_records` read).
    """

    ranges: tuple[PartitionRange, ...]
    budget: Optional[int] = None

    def is_bounded(self) -> bool:
        return self.budget is not None or all(r.stop != UNBOUNDED for r in self.ranges)

    def size(self) -> int:
        return sum(r.stop - r.start for r in self.ranges if r.stop != UNBOUNDED)


class PartitionOffsetsTracker(RestrictionTracker):
    """Tracks the next offset of every partition of a PartitionOffsets.

    Positions are (topic, partition, offset). Claiming an offset at or past a
    partition's stop finishes that partition; claiming END_OF_READ finishes all
    of them where they are. Only checkpoints (fraction 0) split: a partition is
    read in order by one consumer, so its range is never cut in two.
    Claiming a NewPartition adds that partition; it goes to the residual at the
    next checkpoint, so a stream reads partitions added to its topics.
    """

    def __init__(self, restriction: PartitionOffsets):
        self._starts = {(r.topic, r.partition): r.start for r in restriction.ranges}
        self._next = dict(self._starts)
        self._stops = {(r.topic, r.partition): r.stop for r in restriction.ranges}
        self._budget = restriction.budget
        self._claimed = 0
        self._checkpointed = False

    def try_claim(self, position) -> bool:
        if isinstance(position, NewPartition):
            return self._add_partition(position.range)
        if isinstance(position, SkipTo):
            return self._skip_to(position)
        if position is END_OF_READ or (self._budget is not None and self._claimed >= self._budget):
            self._stops = dict(self._next)  # every partition ends where it is
            return False
        topic, partition, offset = position
        key = (topic, partition)
        if offset < self._next[key]:
            raise ValueError(f"offset {offset} of {topic}-{partition} claimed after {self._next[key]}")
        if self._checkpointed or offset >= self._stops[key]:
            self._stops[key] = self._next[key]
            return False
        self._next[key] = offset + 1
        self._claimed += 1
        return True

    def _skip_to(self, position: SkipTo) -> bool:
        """Claims no record, only the offsets up to `offset` (at most the stop); False once checkpointed."""
        key = (position.topic, position.partition)
        if self._checkpointed:
            return False
        self._next[key] = max(self._next[key], min(position.offset, self._stops[key]))
        return True

    def _add_partition(self, partition: PartitionRange) -> bool:
        key = (partition.topic, partition.partition)
        if key in self._starts:
            raise ValueError(f"{partition.topic}-{partition.partition} is already part of this restriction")
        if self._checkpointed:
            return False
        self._starts[key] = self._next[key] = partition.start
        self._stops[key] = partition.stop
        return True

    def unfinished(self) -> dict[TopicPartitionKey, int]:
        """The next offset of each partition that still has offsets to read."""
        return {k: n for k, n in self._next.items() if n < self._stops[k]}

    def current_restriction(self) -> PartitionOffsets:
        # After a checkpoint, the primary's budget is what it claimed; the residual has the rest.
        budget = self._claimed if self._checkpointed and self._budget is not None else self._budget
        return self._restriction(self._starts, self._stops, budget)

    def _restriction(self, starts, stops, budget) -> PartitionOffsets:
        ranges = tuple(PartitionRange(t, p, starts[(t, p)], stops[(t, p)]) for t, p in starts)
        return PartitionOffsets(ranges, budget)

    def check_done(self) -> None:
        left = self.unfinished()
        if left:
            raise ValueError(f"partitions not read to their stop offsets: {sorted(left)}")

    def try_split(self, fraction_of_remainder: float):
        if fraction_of_remainder != 0 or self._checkpointed:
            return None
        left = self.unfinished()
        budget_left = None if self._budget is None else self._budget - self._claimed
        residual = self._restriction(left, {k: self._stops[k] for k in left}, budget_left)
        self._stops = dict(self._next)
        self._checkpointed = True
        return self.current_restriction(), residual

    def current_progress(self) -> RestrictionProgress:
        done = sum(self._next[k] - self._starts[k] for k in self._starts)
        remaining = sum(self._stops[k] - n for k, n in self._next.items() if self._stops[k] != UNBOUNDED)
        if self._budget is not None and self.unfinished():
            remaining = max(self._budget - self._claimed, 0)
        elif not self.is_bounded() and self.unfinished():
            remaining += 1  # an unknown backlog; never 0/0, which runners turn into NaN
        total = done + remaining
        # The fraction is given outright: the SDK then never divides by a total
        # of its own making (0/0 and inf/inf became NaN and failed splits).
        return RestrictionProgress(fraction=done / total if total > 0 else 1.0, completed=done, remaining=remaining)

    def is_bounded(self) -> bool:
        return self._budget is not None or all(stop != UNBOUNDED for stop in self._stops.values())


class PartitionOffsetsProvider(RestrictionProvider):
    """The restriction of a reader element is its partitions' offset ranges."""

    def initial_restriction(self, element) -> PartitionOffsets:
        return element.offsets

    def create_tracker(self, restriction: PartitionOffsets) -> PartitionOffsetsTracker:
        return PartitionOffsetsTracker(restriction)

    def split(self, element, restriction):
        yield restriction

    def restriction_size(self, element, restriction: PartitionOffsets) -> int:
        if restriction.budget is not None:
            return restriction.budget
        return restriction.size() if restriction.is_bounded() else 1


class PartitionWatermarkEstimator(WatermarkEstimator):
    """Watermark = min over partitions of (max event time seen - out-of-orderness).

    A partition that is caught up and quiet follows the wall clock instead, so
    that a silent partition does not hold every window open; a finished one no
    longer holds the watermark at all. A record ahead of the wall clock raises
    its partition's watermark only as far as the wall clock allows.
    """

    def __init__(self, max_out_of_orderness: Duration, state: Optional[dict]):
        self._delay = max_out_of_orderness
        self._per_partition: dict[TopicPartitionKey, Timestamp] = dict(state or {})
        self._last = MIN_TIMESTAMP

    def observe_timestamp(self, timestamp: Timestamp) -> None:
        """Unused: the reader observes per partition with observe_record()."""

    def observe_record(self, key: TopicPartitionKey, event_time: Timestamp) -> None:
        # Never past the wall clock: a record stamped ahead of it must not close windows early.
        self._raise_to(key, min(event_time, Timestamp.now()) - self._delay)

    def advance_when_idle(self, key: TopicPartitionKey, now: Timestamp) -> None:
        """Nothing older than now - out-of-orderness is still to come on this partition."""
        self._raise_to(key, now - self._delay)

    def finish(self, key: TopicPartitionKey) -> None:
        self._per_partition[key] = MAX_TIMESTAMP

    def track(self, keys) -> None:
        """Makes partitions that have not produced anything yet hold the watermark."""
        for key in keys:
            self._per_partition.setdefault(key, MIN_TIMESTAMP)

    def _raise_to(self, key: TopicPartitionKey, watermark: Timestamp) -> None:
        if watermark > self._per_partition.get(key, MIN_TIMESTAMP):
            self._per_partition[key] = watermark

    def current_watermark(self) -> Timestamp:
        # Watermarks never go back, even when a new partition joins late.
        if self._per_partition:
            self._last = max(self._last, min(self._per_partition.values()))
        return self._last

    def get_estimator_state(self) -> dict:
        return dict(self._per_partition)

    def partition_watermarks(self) -> dict[TopicPartitionKey, Timestamp]:
        """Each partition's watermark, read-only: MIN_TIMESTAMP none yet, MAX_TIMESTAMP finished (watermarks.py)."""
        return dict(self._per_partition)
