"""The record types that flow between the transforms."""

from __future__ import annotations

import base64
from typing import NamedTuple, Optional

__all__ = ["KafkaRecord", "Message", "RowBatch", "dead_letter_row"]


class KafkaRecord(NamedTuple):
    """One Kafka record as read, with its coordinates.

    Attributes:
        topic: the topic it was read from.
        partition: the partition within the topic.
        offset: its offset within the partition.
        timestamp_ms: the Kafka timestamp (CreateTime or LogAppendTime), ms since epoch.
        key: the raw key bytes, or None.
        value: the raw value bytes, or None for a tombstone.
        watermark_ms: the reader's watermark when the record was read (ms), or
            None; a record behind it may belong to windows that have closed.
        error: why the record cannot be counted (its event time is out of range
            or too far ahead), or None; DecodeMessages makes it a dead letter.
    """

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: Optional[bytes]
    value: Optional[bytes]
    watermark_ms: Optional[int] = None
    error: Optional[str] = None


class Message(NamedTuple):
    """A decoded message: its text, its key as text, and where it came from."""

    text: str
    key: Optional[str]
    topic: str
    partition: int
    offset: int
    watermark_ms: Optional[int] = None


class RowBatch(NamedTuple):
    """Output rows that travel as one element: a pane's rows, then its OffsetCredits.

    A pane has a row per token; as one element they pay Beam's per-element cost
    once (DESIGN decision 5). WriteRows writes them as if each came alone.
    """

    rows: tuple
    credits: tuple = ()


def dead_letter_row(record: KafkaRecord, reason: str) -> dict:
    """Returns the dead-letter row of DESIGN decision 6 for a record that failed."""
    return {
        "kind": "dead_letter",
        "reason": reason,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp_ms": record.timestamp_ms,
        "key_b64": None if record.key is None else base64.b64encode(record.key).decode("ascii"),
        "value_b64": base64.b64encode(record.value or b"").decode("ascii"),
    }
