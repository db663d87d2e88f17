"""Why hasn't my window fired? What the reader knows about each partition's watermark, made visible.

A window fires when the watermark passes its end, and the reader's watermark is the
minimum over its partitions (transforms/kafka/offsets.py). So the one question a user
needs answered is which partition holds that minimum, and why: it has not read a
record yet, it is behind, or it is idle (caught up, and following the wall clock).

The reader reports, per partition and at most about once a second per shard:

- Beam gauges in the `KafkaWatermarks` namespace named `kind|topic|partition` (like the
  offset account): the partition's watermark, the newest event time read, since when it
  has been idle (0: it is not), when it last gave a record and the next offset to read. Runners that serve metrics
  while a job runs (Prism) give them to `run --live`.
- the same as a status record in Kafka, so that another process can read it on any
  runner: an offset commit to the consumer group `<group_id>.watermarks` (never read
  from, like `<group_id>.lease`), whose offset is the reader's next offset and whose
  commit metadata holds the rest. `python -m pipeline lag` reads it back. The commit is
  asynchronous: a broker that is away delays the status, never the read.

`holding_partition` and `pipeline_watermark_ms` decide from either source.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Iterable, Mapping, NamedTuple, Optional

from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import MAX_TIMESTAMP, MIN_TIMESTAMP, Timestamp

__all__ = [
    "NAMESPACE",
    "WATERMARK",
    "NEWEST_EVENT",
    "IDLE_SINCE",
    "LAST_READ",
    "NEXT_OFFSET",
    "PartitionWatermark",
    "ReaderWatch",
    "from_gauges",
    "from_status",
    "holding_partition",
    "newest_event_ms",
    "pipeline_watermark_ms",
    "status_group",
    "to_status",
]

_LOG = logging.getLogger(__name__)

NAMESPACE = "KafkaWatermarks"
WATERMARK = "watermark_ms"
NEWEST_EVENT = "newest_event_ms"
IDLE_SINCE = "idle_since_ms"  # 0: not idle
LAST_READ = "last_read_ms"
NEXT_OFFSET = "next_offset"

# How a gauge says "no watermark yet" (no record read, end not confirmed) and "finished".
_NONE_YET = MIN_TIMESTAMP.micros // 1000
_FINISHED = MAX_TIMESTAMP.micros // 1000
_PUBLISH_EVERY_S = 1.0
_WARN_EVERY_S = 60.0

Key = tuple[str, int]


def status_group(group_id: str) -> str:
    """The consumer group that holds the reader's status records of `group_id` (never read from)."""
    return f"{group_id}.watermarks"


class PartitionWatermark(NamedTuple):
    """One partition as the reader last reported it. Times are wall-clock or event-time milliseconds (UTC)."""

    topic: str
    partition: int
    watermark_ms: Optional[int]  # None: none yet (no record read and the end not confirmed)
    newest_event_ms: Optional[int] = None  # None: no record read (by this process of the reader)
    idle_since_ms: Optional[int] = None  # None: not idle (it has read lately, or is not caught up)
    next_offset: Optional[int] = None
    reported_ms: Optional[int] = None  # when the reader said so
    finished: bool = False  # its range is read: it holds nothing back
    last_read_ms: Optional[int] = None  # when it last gave a record (wall clock); None: not in this process

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"


def holding_partition(partitions: Iterable[PartitionWatermark]) -> Optional[PartitionWatermark]:
    """The unfinished partition with the smallest watermark (one with none yet first); None if there is none.

    Ties go to the partition that has been idle longest, then to topic and partition order.
    """
    unfinished = [p for p in partitions if not p.finished]
    if not unfinished:
        return None
    return min(
        unfinished,
        key=lambda p: (
            p.watermark_ms is not None,
            p.watermark_ms or 0,
            p.idle_since_ms is None,
            p.idle_since_ms or 0,
            p.topic,
            p.partition,
        ),
    )


def pipeline_watermark_ms(partitions: Iterable[PartitionWatermark]) -> Optional[int]:
    """The minimum over the unfinished partitions' watermarks; None while one has none (or none is reported)."""
    holder = holding_partition(partitions)
    return None if holder is None else holder.watermark_ms


def newest_event_ms(partitions: Iterable[PartitionWatermark]) -> Optional[int]:
    """The newest event time read in any partition; None before the first record."""
    times = [p.newest_event_ms for p in partitions if p.newest_event_ms is not None]
    return max(times) if times else None


def _name(kind: str, key: Key) -> str:
    return f"{kind}|{key[0]}|{key[1]}"


def _parse_name(name: str) -> Optional[tuple[str, Key]]:
    parts = name.split("|")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return parts[0], (parts[1], int(parts[2]))


def from_gauges(gauges: Mapping[str, tuple[int, float]]) -> list[PartitionWatermark]:
    """The partitions that this namespace's gauges report: {name: (value, wall-clock seconds set)}."""
    fields: dict[Key, dict] = {}
    for name, (value, at_s) in gauges.items():
        parsed = _parse_name(name)
        if parsed is None:
            continue
        kind, key = parsed
        found = fields.setdefault(key, {})
        found[kind] = value
        if kind == WATERMARK:
            found["reported_ms"] = int(at_s * 1000)
    rows = []
    for key, found in sorted(fields.items()):
        if WATERMARK not in found:
            continue  # its other gauges came first: next time
        watermark = found[WATERMARK]
        idle = found.get(IDLE_SINCE) or None
        rows.append(
            PartitionWatermark(
                key[0],
                key[1],
                None if watermark <= _NONE_YET else watermark,
                found.get(NEWEST_EVENT),
                idle,
                found.get(NEXT_OFFSET),
                found.get("reported_ms"),
                watermark >= _FINISHED,
                found.get(LAST_READ),
            )
        )
    return rows


def to_status(p: PartitionWatermark) -> str:
    """The commit metadata of a status record (the offset is `next_offset`)."""
    fields = {
        "wm": p.watermark_ms,
        "ev": p.newest_event_ms,
        "idle": p.idle_since_ms,
        "at": p.reported_ms,
        "fin": p.finished,
        "rd": p.last_read_ms,
    }
    return json.dumps({k: v for k, v in fields.items() if v is not None and v is not False}, separators=(",", ":"))


def from_status(topic: str, partition: int, offset: int, metadata: Optional[str]) -> Optional[PartitionWatermark]:
    """A status record read back with Consumer.committed; None when there is none (or it is not ours)."""
    if not metadata:
        return None
    try:
        fields = json.loads(metadata)
    except ValueError:
        return None
    if not isinstance(fields, dict) or "at" not in fields:
        return None

    def number(name: str) -> Optional[int]:
        value = fields.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return PartitionWatermark(
        topic,
        partition,
        number("wm"),
        number("ev"),
        number("idle"),
        offset if offset >= 0 else None,
        number("at"),
        fields.get("fin") is True,
        number("rd"),
    )


def _ms(timestamp: Timestamp) -> Optional[int]:
    if timestamp <= MIN_TIMESTAMP:
        return None
    return timestamp.micros // 1000


class ReaderWatch:
    """What one reader DoFn instance knows per partition besides the watermark estimator, and its reports.

    The reader tells it each record's event time (`observe`), which partitions read
    records in a poll (`read`), which were confirmed caught up (`caught_up`), and calls
    `publish` as often as it likes: the gauges and the status record are written at most
    every `every_s` per shard. `status` (a consumer group name) turns the Kafka status on;
    without it (tests, a reader without a group) only the gauges are set.
    """

    def __init__(self, settings: Mapping[str, object], status: Optional[str], every_s: float = _PUBLISH_EVERY_S):
        self._settings = dict(settings)
        self._status_group = status
        self._every_s = every_s
        self._newest: dict[Key, int] = {}  # micros
        self._last_read: dict[Key, float] = {}  # wall-clock seconds
        self._idle_since: dict[Key, float] = {}
        self._next: dict[Key, int] = {}
        self._published: dict[int, float] = {}  # shard -> monotonic seconds
        self._gauges: dict = {}
        self._consumer = None
        self._errors: list = []
        self._last_warning = float("-inf")

    def observe(self, key: Key, event_time: Timestamp) -> None:
        """A record of `key` with this event time was read (and may move the watermark)."""
        micros = event_time.micros
        if micros > self._newest.get(key, MIN_TIMESTAMP.micros):
            self._newest[key] = micros

    def read(self, keys: Iterable[Key], now_s: float) -> None:
        """These partitions gave records in the last poll: not idle."""
        for key in keys:
            self._idle_since.pop(key, None)
            self._last_read[key] = now_s

    def caught_up(self, key: Key, at_s: float) -> None:
        """The broker showed nothing after the partition's next offset at `at_s`: idle since then at the latest."""
        if key not in self._idle_since:
            self._idle_since[key] = max(at_s, self._last_read.get(key, at_s))

    def partitions(self, watermarks: Mapping[Key, Timestamp], now_s: float) -> list[PartitionWatermark]:
        """The partitions of one shard as they stand: `watermarks` from the estimator."""
        rows = []
        for key, watermark in sorted(watermarks.items()):
            finished = watermark >= MAX_TIMESTAMP
            newest = self._newest.get(key)
            idle = self._idle_since.get(key)
            last_read = self._last_read.get(key)
            rows.append(
                PartitionWatermark(
                    key[0],
                    key[1],
                    None if finished else _ms(watermark),
                    None if newest is None else newest // 1000,
                    None if idle is None or finished else int(idle * 1000),
                    self._next.get(key),
                    int(now_s * 1000),
                    finished,
                    None if last_read is None else int(last_read * 1000),
                )
            )
        return rows

    def publish(self, shard: int, watermark, positions: Mapping[Key, int], now_s: float, now_mono: float) -> bool:
        """Sets the gauges and writes the status of this shard's partitions, unless it did so under a second ago.

        `watermark` is the shard's PartitionWatermarkEstimator; `positions` the next offsets of
        its unfinished partitions.
        """
        if now_mono - self._published.get(shard, float("-inf")) < self._every_s:
            return False
        self._published[shard] = now_mono
        self._next.update(positions)
        rows = self.partitions(watermark.partition_watermarks(), now_s)
        for row in rows:
            self._set_gauges(row)
        if self._status_group is not None:
            self._write_status(rows)
        return True

    def _set_gauges(self, row: PartitionWatermark) -> None:
        key = (row.topic, row.partition)
        watermark = _FINISHED if row.finished else (_NONE_YET if row.watermark_ms is None else row.watermark_ms)
        self._gauge(WATERMARK, key).set(watermark)
        if row.newest_event_ms is not None:
            self._gauge(NEWEST_EVENT, key).set(row.newest_event_ms)
        self._gauge(IDLE_SINCE, key).set(row.idle_since_ms or 0)
        if row.next_offset is not None:
            self._gauge(NEXT_OFFSET, key).set(row.next_offset)
        if row.last_read_ms is not None:
            self._gauge(LAST_READ, key).set(row.last_read_ms)

    def _gauge(self, kind: str, key: Key):
        gauge = self._gauges.get((kind, key))
        if gauge is None:
            gauge = self._gauges[(kind, key)] = Metrics.gauge(NAMESPACE, _name(kind, key))
        return gauge

    def _write_status(self, rows: list[PartitionWatermark]) -> None:
        from confluent_kafka import TopicPartition

        offsets = [
            TopicPartition(r.topic, r.partition, r.next_offset, metadata=to_status(r))
            for r in rows
            if r.next_offset is not None
        ]
        if not offsets:
            return
        try:
            consumer = self._status_consumer()
            consumer.poll(0)  # serves the callbacks of earlier commits
            consumer.commit(offsets=offsets, asynchronous=True)
        except Exception as e:  # the status is for people; the read goes on without it
            self._errors.append(e)
        self._warn()

    def _status_consumer(self):
        if self._consumer is None:
            from confluent_kafka import Consumer

            settings = {
                **self._settings,
                "group.id": self._status_group,
                "enable.auto.commit": False,
                "log_level": 0,  # the reader's own consumers report outages
                "on_commit": self._on_commit,
            }
            self._consumer = Consumer(settings)
        return self._consumer

    def _on_commit(self, error, partitions) -> None:
        if error is not None:
            self._errors.append(error)

    def _warn(self) -> None:
        if not self._errors or time.monotonic() - self._last_warning < _WARN_EVERY_S:
            return
        self._last_warning = time.monotonic()
        error = self._errors[-1]
        text = error.str() if hasattr(error, "str") else str(error)
        _LOG.warning(
            "the reader's watermark status for `lag` could not be written to consumer group %s (%d times): %s; "
            "the job goes on",
            self._status_group,
            len(self._errors),
            text,
        )
        self._errors.clear()

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.poll(0)
                self._consumer.close()
            except Exception:
                pass
            self._consumer = None
