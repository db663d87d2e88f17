"""ReadFromKafka: a native Python splittable DoFn on confluent-kafka.

The partitions of the listed topics are resolved when the job starts and dealt
into reader shards; each shard is one element of a splittable DoFn whose
restriction holds an offset range per partition (see kafka_offsets). Event time
comes from the Kafka timestamp (or processing time); the watermark is the
largest event time seen minus a bounded out-of-orderness, following the wall
clock on partitions that are caught up and quiet, so windows close when the
topic goes idle.

Offsets are not committed here: a record is read long before the pane that
counts it is written. With `offsets_ledger`, the read also outputs ledger
entries (where each partition starts, offsets that hold no record) for
CommitOffsets, which commits behind the sinks (docs/design.md, decision 8).

An unbounded read looks for partitions added to its topics every
`partition_discovery_s` and reads them from their start. Transient Kafka errors
are waited out (see kafka_outages).

Each partition's watermark, newest event time and idle time are reported as
gauges and, with a consumer group, as a status record in Kafka, about once a
second (transforms/kafka/watermarks.py): what holds a window back, on screen.
"""

from __future__ import annotations

import logging
import time
from typing import Iterable, Mapping, NamedTuple, Optional, Sequence, Union

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import WatermarkEstimatorProvider
from apache_beam.utils.timestamp import Duration, Timestamp
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, TopicPartition

from transforms.event_time import event_time_error, payload_event_time_us
from transforms.kafka.account import PartitionCounters
from transforms.kafka.ledger import OffsetCredit, PartitionStart
from transforms.kafka.offsets import (
    END_OF_READ,
    UNBOUNDED,
    NewPartition,
    PartitionOffsets,
    PartitionOffsetsProvider,
    PartitionRange,
    PartitionWatermarkEstimator,
    SkipTo,
    deal_partitions,
)
from transforms.kafka.outages import FatalKafkaError, OutageLog, is_fatal, retry_transient
from transforms.kafka.shard_client import ShardClient
from transforms.kafka.spec import TIMESTAMP_POLICIES, SourceSpec
from transforms.kafka.watermarks import ReaderWatch, status_group
from transforms.records import KafkaRecord
from transforms.spec import build

__all__ = [
    "KafkaRead",
    "ReadFromKafka",
    "StartPosition",
    "TIMESTAMP_POLICIES",
    "OFFSETS",
    "EVENT_TIME_FALLBACKS",
    "EVENT_TIMES_REJECTED",
    "RECORDS_READ",
    "PARTITIONS_DISCOVERED",
]

# Counters (namespace, name), for whoever reads the job's metrics.
EVENT_TIME_FALLBACKS = ("ReadFromKafka", "event_time_fallbacks")
EVENT_TIMES_REJECTED = ("ReadFromKafka", "event_times_rejected")
RECORDS_READ = ("ReadFromKafka", "records_read")
PARTITIONS_DISCOVERED = ("ReadFromKafka", "partitions_discovered")

# The tag of the ledger output (PartitionStart, OffsetCredit for offsets without a record).
OFFSETS = "offsets"

_LOG = logging.getLogger(__name__)

# One process() call reads this long at most before it checkpoints, so that
# records flow downstream in small bundles and windows fire promptly.
_MAX_READ_SECONDS_PER_CALL = 0.5
_MAX_RECORDS_PER_POLL = 1000
_POLL_TIMEOUT_S = 0.1
# How soon a quiet shard is polled again.
_IDLE_RESUME_S = 0.5
# Client errors after which the client skips the batch it could not read (the next gap is that batch).
_UNREADABLE_BATCH = frozenset(
    getattr(KafkaError, name)
    for name in ("_BAD_MSG", "_BAD_COMPRESSION", "CORRUPT_MESSAGE", "INVALID_RECORD", "_UNDERFLOW")
    if hasattr(KafkaError, name)
)
_METADATA_TIMEOUT_S = 30.0
_DISCOVERY_TIMEOUT_S = 5.0
# A topic that the broker says does not exist for this long was deleted: the read cannot go on.
_TOPIC_GONE_AFTER_S = 30.0


class StartPosition(NamedTuple):
    """Where each partition starts: 'earliest', 'latest', 'committed' or 'timestamp'."""

    kind: str
    timestamp_ms: Optional[int] = None


class _ReaderShard(NamedTuple):
    """One reader element: some partitions' offset ranges and an optional deadline.

    `shards` and `known` (every partition the job started with) let each shard
    tell which newly discovered partitions are its own.
    """

    shard: int
    offsets: PartitionOffsets
    deadline: Optional[float]  # wall-clock seconds since the epoch
    shards: int = 1
    known: frozenset = frozenset()


def _owner(partition: int, shards: int) -> int:
    """The shard that reads a partition discovered while the job runs."""
    return partition % shards


def consumer_settings(bootstrap_servers: str, group_id: Optional[str], consumer_config: Mapping) -> dict:
    """The confluent-kafka settings of the reader: manual commits, our offsets."""
    settings = {
        "bootstrap.servers": bootstrap_servers,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        # The client requires a group id even when nothing is committed.
        "group.id": group_id or "beam-token-counts-reader",
    }
    settings.update(consumer_config)
    return settings


def reset_policy(settings: Mapping) -> str:
    """What the user's `auto.offset.reset` asks for a position out of range: earliest, latest or error."""
    value = str(settings.get("auto.offset.reset", "earliest")).lower()
    if value in ("latest", "largest", "end"):
        return "latest"
    if value in ("earliest", "smallest", "beginning"):
        return "earliest"
    return "error"


class _ResolvePartitionsFn(beam.DoFn):
    """Turns the topic list into reader shards with start and stop offsets.

    Runs when the job starts, not when the graph is built, so 'latest' and
    time-based positions are those of the moment the job runs.
    """

    def __init__(self, settings, topics, start, stop_at_latest, max_records, max_read_time_s, shards):
        self._settings = settings
        self._topics = tuple(topics)
        self._start = start
        self._stop_at_latest = stop_at_latest
        self._max_records = max_records
        self._max_read_time_s = max_read_time_s
        self._shards = shards

    def setup(self):
        self._consumer = Consumer(self._settings)
        self._outages = OutageLog()

    def teardown(self):
        self._consumer.close()

    def _ask(self, call, what: str):
        return retry_transient(call, what, self._outages)

    def process(self, unused_impulse) -> Iterable[_ReaderShard]:
        partitions = self._list_partitions()
        bounds = [
            self._ask(
                lambda tp=tp: self._consumer.get_watermark_offsets(tp, timeout=_METADATA_TIMEOUT_S),
                "asking for offsets",
            )
            for tp in partitions
        ]
        starts = self._start_offsets(partitions, bounds)
        stops, budget = self._stop_offsets(starts, [high for _, high in bounds])
        deadline = None if self._max_read_time_s is None else time.time() + self._max_read_time_s
        ranges = [PartitionRange(tp.topic, tp.partition, a, b) for tp, a, b in zip(partitions, starts, stops)]
        for r in ranges:
            yield beam.pvalue.TaggedOutput(OFFSETS, PartitionStart(r.topic, r.partition, r.start))
        shards = min(self._shards, len(ranges))
        known = frozenset((r.topic, r.partition) for r in ranges)
        backlogs = [max(min(r.stop, high) - r.start, 0) for r, (_, high) in zip(ranges, bounds)]
        for shard, dealt in enumerate(deal_partitions(ranges, backlogs, shards)):
            shard_budget = None if budget is None else budget // shards + (shard < budget % shards)
            yield _ReaderShard(shard, PartitionOffsets(tuple(dealt), shard_budget), deadline, shards, known)

    def _list_partitions(self) -> list[TopicPartition]:
        metadata = self._ask(lambda: self._consumer.list_topics(timeout=_METADATA_TIMEOUT_S), "listing topics")
        partitions = []
        for topic in self._topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None or not found.partitions:
                raise ValueError(f"Kafka topic {topic!r} does not exist on {self._settings['bootstrap.servers']}")
            partitions.extend(TopicPartition(topic, p) for p in sorted(found.partitions))
        return partitions

    def _start_offsets(self, partitions: list[TopicPartition], bounds) -> list[int]:
        kind = self._start.kind
        if kind == "earliest":
            return [low for low, _ in bounds]
        if kind == "latest":
            return [high for _, high in bounds]
        if kind == "committed":
            committed = self._ask(
                lambda: self._consumer.committed(partitions, timeout=_METADATA_TIMEOUT_S),
                "asking for committed offsets",
            )
            reset_to_latest = reset_policy(self._settings) == "latest"
            return [
                tp.offset if tp.offset != OFFSET_INVALID else (high if reset_to_latest else low)
                for tp, (low, high) in zip(committed, bounds)
            ]
        wanted = [TopicPartition(tp.topic, tp.partition, self._start.timestamp_ms) for tp in partitions]
        found = self._ask(
            lambda: self._consumer.offsets_for_times(wanted, timeout=_METADATA_TIMEOUT_S), "asking for offsets by time"
        )
        # A negative offset: no record at or after that time yet, so start at the end.
        return [tp.offset if tp.offset >= 0 else high for tp, (_, high) in zip(found, bounds)]

    def _stop_offsets(self, starts: list[int], ends: list[int]) -> tuple[list[int], Optional[int]]:
        """Stop offsets per partition, and a record budget when the stops cannot say it."""
        if self._stop_at_latest:
            return [max(start, end) for start, end in zip(starts, ends)], None
        if self._max_records is None:
            return [UNBOUNDED] * len(starts), None
        available = [max(end - start, 0) for start, end in zip(starts, ends)]
        if sum(available) < self._max_records:
            # Not all there yet, and no one knows which partitions the rest will
            # land in: read every partition until the budget is spent.
            return [UNBOUNDED] * len(starts), self._max_records
        # All there: take the first records of each partition, in partition order.
        remaining, stops = self._max_records, []
        for start, count in zip(starts, available):
            stops.append(start + min(count, remaining))
            remaining -= stops[-1] - start
        return stops, None


_RESTRICTIONS = PartitionOffsetsProvider()


class _ReadShardFn(beam.DoFn, WatermarkEstimatorProvider):
    """Reads a shard's partitions; emits KafkaRecords stamped with their event time.

    Input: _ReaderShard. Output: TimestampedValue(KafkaRecord, event time), and on
    the OFFSETS output an OffsetCredit for offsets that hold no record and a
    PartitionStart for each partition discovered while the job runs.
    The DoFn is its own watermark estimator provider, so that the configured
    out-of-orderness reaches the estimator.

    An offset is passed without a record only on Kafka's proof (docs/design.md, decision 10):
    a later record of the same partition in a fetched batch (a gap: compaction,
    transaction markers), the client's end-of-partition event at or past it, or a
    position out of range that the user's `auto.offset.reset` says to skip. Silence
    proves nothing: a throttled, slow or unreachable broker only makes the read wait.
    Each such credit is counted per partition and reason (transforms/kafka/account.py).
    """

    def __init__(
        self,
        settings: dict,
        timestamp_policy: str,
        max_out_of_orderness_s: float,
        discovery_s: float = 0.0,
        topics: Sequence[str] = (),
        max_future_skew_s: float = 3600.0,
        client_factory=ShardClient,
        status: Optional[str] = None,
    ):
        self._settings = settings
        self._processing_time = timestamp_policy == "processing_time"
        self._payload_field = timestamp_policy[len("field:") :] if timestamp_policy.startswith("field:") else None
        self._fallbacks = Metrics.counter(*EVENT_TIME_FALLBACKS)
        self._max_out_of_orderness = Duration(seconds=max_out_of_orderness_s)
        self._discovery_s = discovery_s
        self._topics = tuple(topics)
        self._max_future_skew_us = int(max_future_skew_s * 1e6)
        self._rejected = Metrics.counter(*EVENT_TIMES_REJECTED)
        self._records_read = Metrics.counter(*RECORDS_READ)
        self._discovered = Metrics.counter(*PARTITIONS_DISCOVERED)
        self._client_factory = client_factory
        self._reset_policy = reset_policy(settings)
        # The consumer group of the watermark status records (transforms/kafka/watermarks.py); None: gauges only.
        self._status = status

    def initial_estimator_state(self, element, restriction):
        return None

    def create_watermark_estimator(self, estimator_state) -> PartitionWatermarkEstimator:
        return PartitionWatermarkEstimator(self._max_out_of_orderness, estimator_state)

    def process(
        self,
        element: _ReaderShard,
        # Beam passes these two by keyword, so they come last.
        tracker=beam.DoFn.RestrictionParam(_RESTRICTIONS),
        watermark=beam.DoFn.WatermarkEstimatorParam(),
    ):
        yield from self._read(element, tracker, watermark, unbounded=False)

    def setup(self):
        # One client per shard, kept across process() calls so that its
        # prefetched records are not thrown away at every checkpoint.
        self._clients: dict[int, ShardClient] = {}
        self._positions: dict[int, dict[tuple[str, int], int]] = {}
        self._outages = OutageLog()
        self._next_discovery: dict[int, float] = {}
        self._topic_missing_since: dict[str, float] = {}
        self._account = PartitionCounters()
        # Partitions where the client reported a batch it could not read: the next gap is that batch.
        self._unreadable: dict[tuple[str, int], str] = {}
        # Per-partition watermark gauges and status: why a window has not fired (transforms/kafka/watermarks.py).
        self._watch = ReaderWatch(self._settings, self._status)

    def teardown(self):
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        self._watch.close()

    def _client_for(self, shard: int, positions: dict[tuple[str, int], int]) -> ShardClient:
        """The shard's client, fetching exactly these partitions from these next offsets."""
        client = self._clients.get(shard)
        if client is None:
            client = self._clients[shard] = self._client_factory(self._settings, self._outages)
        if self._positions.get(shard) != positions:
            client.assign(positions)
            self._positions[shard] = dict(positions)
        return client

    def _read(self, element: _ReaderShard, tracker, watermark, unbounded: bool):
        """Reads until the ranges end, the deadline passes, or (unbounded) a checkpoint."""
        start = tracker.current_restriction()
        positions = {(r.topic, r.partition): r.start for r in start.ranges if r.start < r.stop}
        watermark.track(positions)
        client = self._client_for(element.shard, positions)
        call_ends = time.monotonic() + _MAX_READ_SECONDS_PER_CALL
        while positions or unbounded:
            if element.deadline is not None and time.time() >= element.deadline:
                tracker.try_claim(END_OF_READ)
                positions.clear()
                break
            if unbounded:
                yield from self._discover(element, client, tracker, watermark, positions)
            messages = client.poll(_MAX_RECORDS_PER_POLL, _POLL_TIMEOUT_S)
            # The watermark before this batch: downstream windows cannot have closed past it.
            watermark_ms = watermark.current_watermark().micros // 1000
            stops = {(r.topic, r.partition): r.stop for r in tracker.current_restriction().ranges}
            read: dict[tuple[str, int], int] = {}
            for message in messages:
                error = message.error()
                if error is not None:
                    yield from self._on_error(
                        message, error, client, tracker, watermark, positions, stops, watermark_ms
                    )
                    continue
                key = (message.topic(), message.partition())
                if key not in positions:
                    continue  # finished meanwhile; later records are not ours
                offset = message.offset()
                if offset > positions[key]:
                    # The client passed these offsets in the batch: they hold no record for us.
                    reason = "client_error" if key in self._unreadable else "gap"
                    if not (
                        yield from self._skip(
                            key, offset, reason, client, tracker, watermark, positions, stops, watermark_ms
                        )
                    ):
                        continue
                if not tracker.try_claim((key[0], key[1], offset)):
                    self._finish_ended(client, positions, tracker, watermark)
                    continue
                positions[key] = offset + 1
                read[key] = read.get(key, 0) + 1
                event_time, error = self._event_time(message)
                if error is None:
                    watermark.observe_record(key, event_time)
                    self._watch.observe(key, event_time)
                else:  # a dead letter downstream; it must not move the watermark
                    self._rejected.inc()
                yield beam.window.TimestampedValue(
                    KafkaRecord(
                        key[0],
                        key[1],
                        offset,
                        message.timestamp()[1],
                        message.key(),
                        message.value(),
                        watermark_ms,
                        error,
                    ),
                    event_time,
                )
            for key, n in read.items():
                self._account.read(key[0], key[1], n)
            self._records_read.inc(sum(read.values()))
            self._watch.read(read, time.time())
            self._follow_quiet(client, tracker, watermark, positions, read)
            self._watch.publish(element.shard, watermark, positions, time.time(), time.monotonic())
            if unbounded and (not read or time.monotonic() >= call_ends):
                tracker.defer_remainder(Duration(seconds=_IDLE_RESUME_S) if not read else None)
                break
        self._positions[element.shard] = dict(positions)

    def _skip(self, key, offset: int, reason: str, client, tracker, watermark, positions, stops, watermark_ms):
        """Passes [next, offset) of a partition without a record, for a reason the caller has proof of.

        Yields the ledger credit; returns False when the partition is done here (it reached its
        stop) or the tracker has checkpointed (the residual reads from the old position again).
        """
        end = min(offset, stops[key])
        begin = positions[key]
        if not tracker.try_claim(SkipTo(key[0], key[1], end)):
            return False
        if reason == "client_error":
            _LOG.warning(
                "%s-%d: offsets %d..%d skipped: the Kafka client could not read them (%s)",
                *key,
                begin,
                end - 1,
                self._unreadable.pop(key),
            )
        self._account.empty(reason, key[0], key[1], end - begin)
        yield self._no_records(key, begin, end, watermark_ms)
        positions[key] = end
        if end >= stops[key]:
            self._finish(client, positions, key, watermark)
            return False
        return True

    def _follow_quiet(self, client: ShardClient, tracker, watermark, positions, read) -> None:
        """Partitions without records in the last poll: finish those at their stop, let caught-up ones idle.

        A partition is caught up only by the broker's word (EndOffsets): while the
        broker cannot be asked, its watermark stays where it was.
        """
        quiet = [key for key in positions if key not in read]
        client.end_offsets.refresh(quiet)
        stops = {(r.topic, r.partition): r.stop for r in tracker.current_restriction().ranges}
        for key in quiet:
            next_offset = positions[key]
            if next_offset >= stops[key]:
                self._finish(client, positions, key, watermark)
                continue
            caught_up_at = client.end_offsets.caught_up_at(key, next_offset)
            if caught_up_at is not None:
                watermark.advance_when_idle(key, Timestamp(seconds=caught_up_at))
                self._watch.caught_up(key, caught_up_at)

    @staticmethod
    def _no_records(key, start: int, stop: int, watermark_ms: int):
        """Offsets [start, stop) hold no record for us (compacted, transaction markers): done for the ledger."""
        credit = OffsetCredit(key[0], key[1], ((start, stop),))
        return beam.pvalue.TaggedOutput(
            OFFSETS, beam.window.TimestampedValue(credit, Timestamp(micros=max(watermark_ms, 0) * 1000))
        )

    def _discover(self, element: _ReaderShard, client: ShardClient, tracker, watermark, positions):
        """Every discovery interval: starts reading this shard's partitions added to the topics."""
        if self._discovery_s <= 0 or time.monotonic() < self._next_discovery.get(element.shard, 0.0):
            return
        self._next_discovery[element.shard] = time.monotonic() + self._discovery_s
        mine = {(r.topic, r.partition) for r in tracker.current_restriction().ranges}
        for key in self._listed_partitions(client):
            if key in element.known or key in mine or _owner(key[1], element.shards) != element.shard:
                continue
            try:
                low, _ = client.bounds(key, _DISCOVERY_TIMEOUT_S)
            except KafkaException as e:
                self._outages.transient("asking a new partition's start", e)
                return
            if not tracker.try_claim(NewPartition(PartitionRange(key[0], key[1], low, UNBOUNDED))):
                return
            positions[key] = low
            watermark.track([key])
            client.add(key, low)
            self._positions[element.shard] = dict(positions)
            self._discovered.inc()
            _LOG.info("reading %s-%d, added to the topic while the job runs, from offset %d", *key, low)
            yield beam.pvalue.TaggedOutput(OFFSETS, PartitionStart(key[0], key[1], low))

    def _listed_partitions(self, client: ShardClient) -> list[tuple[str, int]]:
        """The partitions of the configured topics; none while the broker cannot say."""
        found = []
        for topic in self._topics:
            try:
                partitions = client.partitions(topic, _DISCOVERY_TIMEOUT_S)
            except KafkaException as e:
                self._outages.transient("listing partitions", e)
                return []
            found.extend((topic, p) for p in partitions or ())
        return found

    def _finish_ended(self, client: ShardClient, positions, tracker, watermark) -> None:
        """Finishes the partitions whose ranges the tracker has ended (a stop, or the budget)."""
        stops = {(r.topic, r.partition): r.stop for r in tracker.current_restriction().ranges}
        for key, next_offset in list(positions.items()):
            if next_offset >= stops[key]:
                self._finish(client, positions, key, watermark)

    def _finish(self, client: ShardClient, positions, key, watermark) -> None:
        del positions[key]
        client.pause(key)
        watermark.finish(key)

    def _event_time(self, message) -> tuple[Timestamp, Optional[str]]:
        """The record's event time, and why it cannot be counted (None: it can)."""
        now = Timestamp.now()
        micros = None
        if self._payload_field is not None:
            micros = payload_event_time_us(message.value(), self._payload_field)
            if micros is None:
                # No usable field: the Kafka timestamp; the count says how often.
                self._fallbacks.inc()
        if micros is None:
            kind, ts_ms = message.timestamp()
            if self._processing_time or kind == 0 or ts_ms < 0:  # 0: TIMESTAMP_NOT_AVAILABLE
                return now, None
            micros = ts_ms * 1000
        error = event_time_error(micros, now.micros, self._max_future_skew_us)
        return (now, error) if error is not None else (Timestamp(micros=micros), None)

    def _on_error(self, message, error: KafkaError, client, tracker, watermark, positions, stops, watermark_ms):
        """A consumer event or error: a partition's end, an out-of-range position, a skipped batch, an outage."""
        if is_fatal(error):
            raise FatalKafkaError(f"Kafka: {error.str()}")
        key = (message.topic(), message.partition())
        code = error.code()
        if code == KafkaError._PARTITION_EOF:
            # The client reached the partition's end at this offset: what it passed holds no record.
            if key in positions and message.offset() > positions[key]:
                yield from self._skip(
                    key, message.offset(), "end", client, tracker, watermark, positions, stops, watermark_ms
                )
            return
        if code == KafkaError._AUTO_OFFSET_RESET:
            yield from self._out_of_range(key, client, tracker, watermark, positions, stops, watermark_ms)
            return
        if code in _UNREADABLE_BATCH and key in positions:
            _LOG.warning("%s-%d: the Kafka client could not read a batch: %s", *key, error.str())
            self._unreadable[key] = error.str()
            return
        if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION):
            self._check_topics_exist(client)
        self._outages.transient("reading", error)

    def _out_of_range(self, key, client: ShardClient, tracker, watermark, positions, stops, watermark_ms):
        """The next offset is not in the log: skip as `auto.offset.reset` says, counted and logged, or fail."""
        if key not in positions:
            return
        next_offset = positions[key]
        low, high = retry_transient(
            lambda: client.bounds(key, _METADATA_TIMEOUT_S), "asking for offsets", self._outages
        )
        if self._reset_policy == "earliest" and next_offset < low:
            target, reason, why = low, "retention", "were deleted by retention before they were read"
        elif self._reset_policy == "latest" and next_offset < high:
            target, reason, why = (
                high,
                "reset_to_latest",
                "are out of range; auto.offset.reset: latest skips to the end",
            )
        else:
            raise FatalKafkaError(
                f"Kafka: offset {next_offset} of {key[0]}-{key[1]} is out of range (the log holds {low}..{high}); "
                f"source.consumer_config.auto.offset.reset is {self._reset_policy!r}"
            )
        _LOG.warning(
            "%s-%d: offsets %d..%d %s: skipping %d offsets", *key, next_offset, target - 1, why, target - next_offset
        )
        if (yield from self._skip(key, target, reason, client, tracker, watermark, positions, stops, watermark_ms)):
            client.seek(key, target)

    def _check_topics_exist(self, client: ShardClient) -> None:
        """A broker that is starting may not know a topic yet; one that keeps saying so lost it."""
        now = time.monotonic()
        for topic in self._topics:
            try:
                partitions = client.partitions(topic, _DISCOVERY_TIMEOUT_S)
            except KafkaException:
                return  # the broker cannot say: wait
            if partitions:
                self._topic_missing_since.pop(topic, None)
                continue
            since = self._topic_missing_since.setdefault(topic, now)
            if now - since >= _TOPIC_GONE_AFTER_S:
                raise FatalKafkaError(
                    f"Kafka topic {topic!r} no longer exists on {self._settings['bootstrap.servers']}"
                )


class _ReadShardUnboundedFn(_ReadShardFn):
    """The same read, declared unbounded so that runners execute it as a stream."""

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: _ReaderShard,
        tracker=beam.DoFn.RestrictionParam(_RESTRICTIONS),
        watermark=beam.DoFn.WatermarkEstimatorParam(),
    ):
        yield from self._read(element, tracker, watermark, unbounded=True)


class KafkaRead(NamedTuple):
    """What ReadFromKafka gives with `offsets_ledger`: the records, and the ledger entries for CommitOffsets."""

    records: beam.PCollection
    offsets: beam.PCollection


class ReadFromKafka(beam.PTransform):
    """Reads every partition of the topics a SourceSpec names as KafkaRecords with event times.

    Takes a SourceSpec, or the bootstrap servers, the topics and the spec's other
    fields: ReadFromKafka("127.0.0.1:9092", ["text"], stop="latest").

    Bounded (a batch read) when the spec stops at the latest offsets or after max_records;
    otherwise unbounded (a stream), ending after max_read_time if given. An unbounded
    read looks for new partitions every partition_discovery (0: never). `shards`
    (default: the spec's, else 1) is how many reader elements the partitions are dealt into.

    Returns the records, or with `offsets_ledger` a KafkaRead of the records and
    the ledger entries that CommitOffsets needs besides the sinks' credits.
    Nothing is committed here: see transforms.kafka.commit.
    """

    def __init__(
        self,
        spec: Union[SourceSpec, str],
        topics: Optional[Sequence[str]] = None,
        *,
        shards: Optional[int] = None,
        offsets_ledger: bool = False,
        **fields,
    ):
        super().__init__()
        if not isinstance(spec, SourceSpec):
            spec = build(SourceSpec, bootstrap_servers=spec, topics=topics, **fields)
        self._settings = consumer_settings(spec.bootstrap_servers, spec.group_id, spec.consumer_config)
        self._topics = spec.topics
        self._start = StartPosition(spec.start, spec.start_timestamp_ms)
        self._stop = (spec.stop.latest, spec.stop.max_records, spec.stop.max_read_time_s)
        self._bounded = spec.stop.bounded
        self._timestamp_policy = spec.timestamp
        self._max_out_of_orderness_s = spec.max_out_of_orderness_s
        self._max_future_skew_s = spec.max_future_skew_s
        self._shards = shards or spec.shards or 1
        self._discovery_s = 0.0 if self._bounded else spec.partition_discovery_s
        self._offsets_ledger = offsets_ledger
        self._status = status_group(spec.group_id) if spec.group_id else None

    @property
    def bounded(self) -> bool:
        return self._bounded

    def expand(self, pbegin):
        read_fn = _ReadShardFn if self._bounded else _ReadShardUnboundedFn
        resolve = _ResolvePartitionsFn(self._settings, self._topics, self._start, *self._stop, self._shards)
        resolved = (
            pbegin
            | "Impulse" >> beam.Impulse()
            | "ResolvePartitions" >> beam.ParDo(resolve).with_outputs(OFFSETS, main="shards")
        )
        read = (
            resolved.shards
            | "SpreadShards" >> beam.Reshuffle()
            | "ReadShards"
            >> beam.ParDo(
                read_fn(
                    self._settings,
                    self._timestamp_policy,
                    self._max_out_of_orderness_s,
                    self._discovery_s,
                    self._topics,
                    self._max_future_skew_s,
                    status=self._status,
                )
            ).with_outputs(OFFSETS, main="records")
        )
        if not self._offsets_ledger:
            return read.records
        offsets = (resolved[OFFSETS], read[OFFSETS]) | "OffsetLedger" >> beam.Flatten()
        return KafkaRead(read.records, offsets)
