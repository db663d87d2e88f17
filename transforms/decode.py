"""DecodeMessages: raw Kafka records to text messages, bad ones to dead letters."""

from __future__ import annotations

import json
from typing import Annotated, Union

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.records import KafkaRecord, Message, dead_letter_row
from transforms.spec import Spec, Str, build, must, one_of, spec

__all__ = ["DecodeMessages", "FormatSpec", "DEAD_LETTER", "DECODED", "DECODE_DEAD_LETTERS"]

# Counters (namespace, name), for whoever reads the job's metrics.
DECODED = ("DecodeMessages", "decoded")
DECODE_DEAD_LETTERS = ("DecodeMessages", "dead_letters")

DEAD_LETTER = "dead_letter"
FORMATS = ("text", "json")


class _DecodeFn(beam.DoFn):
    """KafkaRecord -> Message (main output) or a dead-letter row (tagged output)."""

    def __init__(self, fmt: str, text_field: str, encoding: str):
        self._json = fmt == "json"
        self._text_field = text_field
        self._encoding = encoding
        self._decoded = Metrics.counter(*DECODED)
        self._dead_letters = Metrics.counter(*DECODE_DEAD_LETTERS)

    def process(self, record: KafkaRecord):
        if record.error is not None:
            yield self._dead_letter(record, record.error)
            return
        try:
            text = self._text_of(record)
            key = None if record.key is None else record.key.decode(self._encoding, errors="replace")
        except UnicodeDecodeError as e:
            yield self._dead_letter(record, f"invalid {self._encoding}: {e.reason} at byte {e.start}")
            return
        except json.JSONDecodeError as e:
            yield self._dead_letter(record, f"invalid JSON: {e}")
            return
        except RecursionError:
            yield self._dead_letter(record, "invalid JSON: nested too deeply")
            return
        except ValueError as e:
            yield self._dead_letter(record, str(e))
            return
        self._decoded.inc()
        yield Message(text, key, record.topic, record.partition, record.offset, record.watermark_ms)

    def _dead_letter(self, record: KafkaRecord, reason: str) -> beam.pvalue.TaggedOutput:
        self._dead_letters.inc()
        return beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter_row(record, reason))

    def _text_of(self, record: KafkaRecord) -> str:
        if record.value is None:
            raise ValueError("null value (tombstone)")
        text = record.value.decode(self._encoding)
        if not self._json:
            return text
        document = json.loads(text)
        if not isinstance(document, dict):
            raise ValueError(f"JSON value is a {type(document).__name__}, not an object")
        field = document.get(self._text_field)
        if not isinstance(field, str):
            raise ValueError(f"JSON object has no string field {self._text_field!r}")
        try:
            field.encode("utf-8")  # json.loads accepts a lone "\ud800" escape; no Beam coder can carry it
        except UnicodeEncodeError as e:
            raise ValueError(
                f"JSON field {self._text_field!r} has an unpaired surrogate at character {e.start}"
            ) from None
        return field


def _known_encoding(name: str) -> bool:
    try:
        return "".encode(name) == b""
    except LookupError:
        return False


@spec
class FormatSpec(Spec):
    """How the value of a record becomes text."""

    type: one_of(*FORMATS) = "text"
    """text: the value is the text; json: an object that holds the text in text_field."""
    text_field: Str = "text"
    encoding: Annotated[Str, must(_known_encoding, "unknown encoding {v!r}")] = "utf-8"


class DecodeMessages(beam.PTransform):
    """Decodes KafkaRecords to Messages as a FormatSpec says; undecodable ones leave as dead letters.

    Takes a FormatSpec, or its fields: DecodeMessages("json", text_field="body").

    Returns a DoOutputsTuple: the main output (Messages) and `dead_letter` rows.
    """

    def __init__(self, spec: Union[FormatSpec, str] = "text", **fields):
        super().__init__()
        if not isinstance(spec, FormatSpec):
            if spec not in FORMATS:
                raise ValueError(f"format must be 'text' or 'json', got {spec!r}")
            spec = build(FormatSpec, type=spec, **fields)
        self._fn = _DecodeFn(spec.type, spec.text_field, spec.encoding)

    def expand(self, records):
        return records | "Decode" >> beam.ParDo(self._fn).with_outputs(DEAD_LETTER, main="messages")
