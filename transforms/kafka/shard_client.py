"""ShardClient: what one reader shard asks of Kafka, behind one small interface.

The reader (transforms/kafka/read.py) decides what every offset means; this is
only how it talks to the broker: a consumer that fetches the shard's partitions,
and a second one, which never fetches, for questions (end offsets, partitions,
log starts). The broker answers one connection's requests in order, so a
question sent where a Fetch is long-polling (fetch.wait.max.ms) would wait behind
it, and the reader with it.

Tests give the reader a fake with the same methods, and so drive silence,
throttling, out-of-range positions, gaps and client errors in milliseconds
(tests/test_kafka_read_seam.py).
"""

from __future__ import annotations

from typing import Mapping, Optional

from confluent_kafka import Consumer, TopicPartition

from transforms.kafka.outages import EndOffsets, OutageLog

__all__ = ["ShardClient", "fetch_settings"]

Key = tuple[str, int]


def fetch_settings(settings: Mapping[str, object]) -> dict:
    """The fetching consumer's settings: the reader's, with two that the reader's proofs rely on.

    `enable.partition.eof`: the client says when it has reached a partition's end, which
    proves that the offsets it passed hold no record. `auto.offset.reset: error`: a position
    out of range becomes an error the reader handles by the user's policy, never a silent jump.
    """
    return {**settings, "enable.partition.eof": True, "auto.offset.reset": "error"}


class ShardClient:
    """One shard's consumers: `poll` the assigned partitions, ask about any partition."""

    def __init__(self, settings: Mapping[str, object], outages: OutageLog):
        self._fetcher = Consumer(fetch_settings(settings))
        self._queries = Consumer(dict(settings))
        self.end_offsets = EndOffsets(outages, self._queries)

    def assign(self, positions: Mapping[Key, int]) -> None:
        """Fetch exactly these partitions from these offsets."""
        self._fetcher.assign([TopicPartition(t, p, offset) for (t, p), offset in positions.items()])

    def add(self, key: Key, offset: int) -> None:
        self._fetcher.incremental_assign([TopicPartition(key[0], key[1], offset)])

    def seek(self, key: Key, offset: int) -> None:
        """Fetch the partition from `offset` on, also after an out-of-range error (where seek() is refused)."""
        self._fetcher.incremental_unassign([TopicPartition(*key)])
        self._fetcher.incremental_assign([TopicPartition(key[0], key[1], offset)])

    def pause(self, key: Key) -> None:
        self._fetcher.pause([TopicPartition(*key)])

    def poll(self, max_records: int, timeout_s: float) -> list:
        return self._fetcher.consume(num_messages=max_records, timeout=timeout_s)

    def bounds(self, key: Key, timeout_s: float) -> tuple[int, int]:
        """(log start, end offset) as the broker says now; raises KafkaException when it cannot."""
        return self._queries.get_watermark_offsets(TopicPartition(*key), timeout=timeout_s, cached=False)

    def partitions(self, topic: str, timeout_s: float) -> Optional[list[int]]:
        """The topic's partitions; None if the broker says it does not exist. Raises KafkaException."""
        metadata = self._queries.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            return None
        return sorted(metadata.partitions)

    def close(self) -> None:
        self._fetcher.close()
        self._queries.close()
