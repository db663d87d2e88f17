"""Dead-letter rows carry a capped prefix of the record's value and key, with their full sizes.

A record near Kafka's size limit would otherwise make a row (1.33x in base64) that no
sink can write, and the bundle would fail on every retry.
"""

from __future__ import annotations

import base64

from transforms.records import VALUE_PREFIX_BYTES, KafkaRecord, dead_letter_row, value_fields
from transforms.sinks import _to_json


def test_value_fields_keep_a_prefix_and_the_full_size():
    assert VALUE_PREFIX_BYTES == 1024
    assert value_fields(None) == {"value_b64": "", "value_bytes": 0, "value_truncated": False}
    assert value_fields(b"caf\xe9") == {"value_b64": "Y2Fm6Q==", "value_bytes": 4, "value_truncated": False}
    exact = value_fields(b"a" * 1024)
    assert (len(base64.b64decode(exact["value_b64"])), exact["value_bytes"], exact["value_truncated"]) == (
        1024,
        1024,
        False,
    )
    over = value_fields(bytes(range(256)) * 4 + b"z")
    assert base64.b64decode(over["value_b64"]) == bytes(range(256)) * 4
    assert (over["value_bytes"], over["value_truncated"]) == (1025, True)


def test_an_800_kb_record_makes_a_dead_letter_row_under_4_kb():
    value, key = b"\xff" + b"v" * 800_000, b"k" * 300_000
    row = dead_letter_row(KafkaRecord("t", 1, 9, 1000, key, value), "invalid utf-8: invalid start byte at byte 0")
    assert len(_to_json(row).encode("utf-8")) < 4096
    assert base64.b64decode(row["value_b64"]) == value[:1024]
    assert (row["value_bytes"], row["value_truncated"]) == (800_001, True)
    assert (base64.b64decode(row["key_b64"]), row["key_bytes"], row["key_truncated"]) == (key[:1024], 300_000, True)


def test_a_dead_letter_row_keeps_its_fields_and_a_missing_key_stays_null():
    row = dead_letter_row(KafkaRecord("t", 1, 9, 1000, None, None), "null value (tombstone)")
    assert row == {
        "kind": "dead_letter",
        "reason": "null value (tombstone)",
        "topic": "t",
        "partition": 1,
        "offset": 9,
        "timestamp_ms": 1000,
        "key_b64": None,
        "key_bytes": 0,
        "key_truncated": False,
        "value_b64": "",
        "value_bytes": 0,
        "value_truncated": False,
    }
