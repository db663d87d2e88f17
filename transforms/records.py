"""The record types that flow between the transforms."""

from __future__ import annotations

import base64
from typing import NamedTuple, Optional

__all__ = ["KafkaRecord", "Message", "RowBatch", "VALUE_PREFIX_BYTES", "dead_letter_row", "value_fields"]

# The bytes of a record's value (and key) that its dead-letter or late-record row carries: a
# record near Kafka's size limit would make a row (1.33x in base64) that no sink can write.
VALUE_PREFIX_BYTES = 1024


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
    # Set by SplitLateMessages: the windows still open at the message's stamp, and those already
    # closed (each reported as a late_record row); the ledger expects a credit from each.
    windows: int = 1
    late_windows: int = 0


class RowBatch(NamedTuple):
    """Output rows that travel as one element: a pane's rows, then its OffsetCredits.

    A pane has a row per token; as one element they pay Beam's per-element cost
    once (docs/design.md, decision 5). WriteRows writes them as if each came alone.
    """

    rows: tuple
    credits: tuple = ()


def _capped_fields(name: str, data: Optional[bytes]) -> dict:
    prefix = (data or b"")[:VALUE_PREFIX_BYTES]
    return {
        f"{name}_b64": base64.b64encode(prefix).decode("ascii"),
        f"{name}_bytes": len(data or b""),
        f"{name}_truncated": len(prefix) < len(data or b""),
    }


def value_fields(value: Optional[bytes]) -> dict:
    """A record's value as a row carries it: a base64 prefix, the full size and whether it was cut.

    Returns:
        {"value_b64": base64 of at most the first VALUE_PREFIX_BYTES bytes ("" for None),
        "value_bytes": the value's full length, "value_truncated": whether bytes were left out}.
    """
    return _capped_fields("value", value)


def _key_fields(key: Optional[bytes]) -> dict:
    """The key as value_fields gives a value, with key_b64 None for a record without a key."""
    fields = _capped_fields("key", key)
    return {**fields, "key_b64": None} if key is None else fields


def dead_letter_row(record: KafkaRecord, reason: str) -> dict:
    """Returns the dead-letter row (docs/design.md, decision 6) for a record that failed.

    The key and value are carried as a prefix of at most VALUE_PREFIX_BYTES with their
    full sizes, so that no record can make its own row too large to write.
    """
    return {
        "kind": "dead_letter",
        "reason": reason,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp_ms": record.timestamp_ms,
        **_key_fields(record.key),
        **value_fields(record.value),
    }
