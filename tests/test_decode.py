"""Unit tests of transforms/decode.py: DecodeMessages, text and JSON, with dead letters."""

from __future__ import annotations

import base64

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.decode import DecodeMessages
from transforms.records import KafkaRecord, Message


def _pipeline() -> test_pipeline.TestPipeline:
    # The default DirectRunner first tries to fetch a Prism binary from the network;
    # the in-process FnApiRunner runs these batch tests deterministically and fast.
    return test_pipeline.TestPipeline(runner="FnApiRunner")


def _dead(reason: str, offset: int, value_b64: str, key_b64=None) -> dict:
    key, value = base64.b64decode(key_b64 or ""), base64.b64decode(value_b64)
    return {
        "kind": "dead_letter",
        "reason": reason,
        "topic": "t",
        "partition": 2,
        "offset": offset,
        "timestamp_ms": 1_000 + offset,
        "key_b64": key_b64,
        "key_bytes": len(key),
        "key_truncated": False,
        "value_b64": value_b64,
        "value_bytes": len(value),
        "value_truncated": False,
    }


def _record(offset: int, value, key=None) -> KafkaRecord:
    return KafkaRecord("t", 2, offset, 1_000 + offset, key, value)


def test_text_messages_decode_with_their_key_and_coordinates():
    records = [_record(0, "héllo wörld".encode(), b"k1"), _record(1, b"", None), _record(2, b"x", b"\xff")]
    with _pipeline() as p:
        out = p | beam.Create(records) | DecodeMessages()
        assert_that(
            out.messages,
            equal_to(
                [
                    Message("héllo wörld", "k1", "t", 2, 0),
                    Message("", None, "t", 2, 1),
                    Message("x", "\ufffd", "t", 2, 2),  # a bad key is replaced, the message still counts
                ]
            ),
        )
        assert_that(out.dead_letter, equal_to([]), label="NoDeadLetters")


def test_invalid_utf8_and_null_values_become_dead_letters():
    records = [_record(5, b"caf\xe9 ok", b"k"), _record(6, b"\xff\xfe"), _record(7, None), _record(8, b"fine")]
    with _pipeline() as p:
        out = p | beam.Create(records) | DecodeMessages("text")
        assert_that(out.messages, equal_to([Message("fine", None, "t", 2, 8)]))
        assert_that(
            out.dead_letter,
            equal_to(
                [
                    _dead("invalid utf-8: invalid continuation byte at byte 3", 5, "Y2Fm6SBvaw==", key_b64="aw=="),
                    _dead("invalid utf-8: invalid start byte at byte 0", 6, "//4="),
                    _dead("null value (tombstone)", 7, ""),
                ]
            ),
            label="DeadLetters",
        )


def test_json_messages_take_the_text_field():
    records = [_record(0, b'{"body": "Hello there", "ts": 5}'), _record(1, '{"body": "\\u00e9t\\u00e9"}'.encode())]
    with _pipeline() as p:
        out = p | beam.Create(records) | DecodeMessages("json", text_field="body")
        assert_that(out.messages, equal_to([Message("Hello there", None, "t", 2, 0), Message("été", None, "t", 2, 1)]))
        assert_that(out.dead_letter, equal_to([]), label="NoDeadLetters")


def test_bad_json_becomes_dead_letters_with_the_reason():
    records = [
        _record(0, b"[1, 2]"),
        _record(1, b'{"body": "x"}'),
        _record(2, b'{"text": 5}'),
        _record(3, b'{"text": "hi'),
        _record(4, b'{"text": "a\\ud800b"}'),  # valid JSON, but no UTF-8 string (nor Beam coder) holds it
        _record(5, b"[" * 100_000),
    ]
    with _pipeline() as p:
        out = p | beam.Create(records) | DecodeMessages("json")
        assert_that(out.messages, equal_to([]))
        assert_that(
            out.dead_letter | beam.Map(lambda row: (row["offset"], row["reason"])),
            equal_to(
                [
                    (0, "JSON value is a list, not an object"),
                    (1, "JSON object has no string field 'text'"),
                    (2, "JSON object has no string field 'text'"),
                    (3, "invalid JSON: Unterminated string starting at: line 1 column 10 (char 9)"),
                    (4, "JSON field 'text' has an unpaired surrogate at character 1"),
                    (5, "invalid JSON: nested too deeply"),
                ]
            ),
            label="Reasons",
        )


def test_json_dead_letter_row_is_exact():
    with _pipeline() as p:
        out = p | beam.Create([_record(2, b'{"text": 5}', b"k")]) | DecodeMessages("json")
        assert_that(
            out.dead_letter,
            equal_to([_dead("JSON object has no string field 'text'", 2, "eyJ0ZXh0IjogNX0=", key_b64="aw==")]),
        )


def test_unknown_format_is_refused_at_construction():
    with pytest.raises(ValueError, match="^format must be 'text' or 'json', got 'xml'$"):
        DecodeMessages("xml")
