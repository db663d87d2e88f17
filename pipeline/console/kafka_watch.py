"""What Kafka says about a running job: where its read starts, how much a bounded read has to
read, the group's committed offsets against the end offsets (the lag), and the reader's
watermark report (transforms/kafka/watermarks.py) for runners that serve no gauges while
they run.

One consumer, kept open for the whole run and never subscribed: it only asks the broker
(metadata, watermarks, committed offsets), so it takes nothing from the job's group.
Used by the progress line and the live view from their own thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from confluent_kafka import OFFSET_INVALID, Consumer, TopicPartition

from pipeline.config import RunConfig
from pipeline.lag import PartitionLag
from transforms.kafka.read import consumer_settings
from transforms.kafka.watermarks import PartitionWatermark, from_status, status_group

__all__ = ["KafkaWatch", "ReadPlan", "written_since"]

_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ReadPlan:
    """Where the read starts in each partition, and how many records a bounded read will read."""

    starts: dict  # (topic, partition) -> first offset the job reads
    total: Optional[int]  # None: unbounded


class KafkaWatch:
    """Asks the broker about the configured topics and group; every call may raise KafkaException."""

    def __init__(self, config: RunConfig):
        self._config = config
        source = config.source
        # log_level 0: a broker that goes away would log every reconnect over the screen.
        self._consumer = Consumer(
            {**consumer_settings(source.bootstrap_servers, source.group_id, source.consumer_config), "log_level": 0}
        )
        self._status_consumer: Optional[Consumer] = None  # of <group_id>.watermarks, made when first asked

    def close(self) -> None:
        self._consumer.close()
        if self._status_consumer is not None:
            self._status_consumer.close()

    def _partitions(self) -> list[TopicPartition]:
        partitions = []
        for topic in self._config.source.topics:
            metadata = self._consumer.list_topics(topic, timeout=_TIMEOUT_S).topics.get(topic)
            if metadata is not None and metadata.error is None:
                partitions.extend(TopicPartition(topic, p) for p in sorted(metadata.partitions))
        return partitions

    def _bounds(self, partitions) -> list[tuple[int, int]]:
        return [self._consumer.get_watermark_offsets(tp, timeout=_TIMEOUT_S, cached=False) for tp in partitions]

    def read_plan(self) -> ReadPlan:
        """The start offsets the job will take (as transforms.kafka.read resolves them) and the total to read."""
        source = self._config.source
        partitions = self._partitions()
        bounds = self._bounds(partitions)
        if source.start == "earliest":
            starts = [low for low, _ in bounds]
        elif source.start == "latest":
            starts = [high for _, high in bounds]
        elif source.start == "committed":
            committed = self._consumer.committed(partitions, timeout=_TIMEOUT_S)
            to_latest = source.consumer_config.get("auto.offset.reset") in ("latest", "largest", "end")
            starts = [
                tp.offset if tp.offset != OFFSET_INVALID else (high if to_latest else low)
                for tp, (low, high) in zip(committed, bounds)
            ]
        else:
            wanted = [TopicPartition(tp.topic, tp.partition, source.start_timestamp_ms) for tp in partitions]
            found = self._consumer.offsets_for_times(wanted, timeout=_TIMEOUT_S)
            starts = [tp.offset if tp.offset >= 0 else high for tp, (_, high) in zip(found, bounds)]
        stop = source.stop
        if stop.latest:
            total = sum(max(high - start, 0) for start, (_, high) in zip(starts, bounds))
        elif stop.max_records is not None:
            total = stop.max_records
        else:
            total = None
        return ReadPlan({(tp.topic, tp.partition): start for tp, start in zip(partitions, starts)}, total)

    def lags(self) -> list[PartitionLag]:
        """The group's committed offset, the end offset and the first offset of every partition."""
        partitions = self._partitions()
        if not partitions:
            return []
        committed = {(tp.topic, tp.partition): tp.offset for tp in self._committed(partitions)}
        return [
            PartitionLag(tp.topic, tp.partition, _offset(committed.get((tp.topic, tp.partition))), high, low)
            for tp, (low, high) in zip(partitions, self._bounds(partitions))
        ]

    def watermarks(self) -> list[PartitionWatermark]:
        """The reader's last report per partition, from `<group_id>.watermarks`; [] without a group or a report."""
        source = self._config.source
        if not source.group_id:
            return []
        partitions = self._partitions()
        if not partitions:
            return []
        if self._status_consumer is None:
            group = status_group(source.group_id)
            settings = consumer_settings(source.bootstrap_servers, group, source.consumer_config)
            self._status_consumer = Consumer({**settings, "group.id": group, "log_level": 0})
        found = self._status_consumer.committed(partitions, timeout=_TIMEOUT_S)
        report = [from_status(tp.topic, tp.partition, tp.offset, tp.metadata) for tp in found if tp.error is None]
        return [p for p in report if p is not None]

    def _committed(self, partitions) -> list[TopicPartition]:
        if not self._config.source.group_id:
            return []
        return self._consumer.committed(partitions, timeout=_TIMEOUT_S)


def _offset(offset: Optional[int]) -> Optional[int]:
    return None if offset is None or offset < 0 else offset


def written_since(plan: ReadPlan, lags: list[PartitionLag]) -> int:
    """Records between the start of the read and the group's commits: what the job has written out."""
    done = 0
    for lag in lags:
        start = plan.starts.get((lag.topic, lag.partition))
        if start is not None and lag.committed is not None:
            done += max(lag.committed - start, 0)
    return done
