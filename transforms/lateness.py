"""SplitLateMessages: set aside, visibly, the messages whose windows have closed.

Beam drops an element whose window ended more than the allowed lateness before
the watermark, without a trace. The reader stamps each record with its
watermark when it was read; a message whose latest window (plus the allowed
lateness) ended at or before that watermark would be dropped, so it leaves here
as a `late_record` row and a counter instead. Every other message reaches the
windows with a watermark that has not passed them, so Beam keeps it.
"""

from __future__ import annotations

import base64
from typing import Optional, Union

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.event_time import iso_utc
from transforms.records import Message
from transforms.windowing import WindowSpec

__all__ = ["SplitLateMessages", "LATE", "latest_window_end_us", "LATE_RECORDS"]

# Counters (namespace, name), for whoever reads the job's metrics.
LATE_RECORDS = ("SplitLateMessages", "late_records")

LATE = "late"


def latest_window_end_us(kind: str, timestamp_us: int, **window_fields) -> Optional[int]:
    """The end of the last window an element at this time belongs to; None: it never closes."""
    return WindowSpec.of(kind, **window_fields).latest_window_end_us(timestamp_us)


class _SplitLateFn(beam.DoFn):
    """Message -> Message (on time), or a late_record row when its windows have closed."""

    def __init__(self, spec: WindowSpec):
        self._spec = spec
        self._lateness_us = int(spec.trigger.allowed_lateness_s * 1e6)
        self._late = Metrics.counter(*LATE_RECORDS)

    def process(self, message: Message, timestamp=beam.DoFn.TimestampParam):
        end_us = self._spec.latest_window_end_us(timestamp.micros)
        if end_us is None or message.watermark_ms is None:
            yield message
            return
        watermark_us = message.watermark_ms * 1000
        if end_us + self._lateness_us > watermark_us:
            yield message
            return
        self._late.inc()
        yield beam.pvalue.TaggedOutput(
            LATE,
            {
                "kind": "late_record",
                "reason": (
                    f"window ending {iso_utc(end_us)} closed: the watermark was {iso_utc(watermark_us)}, "
                    f"past its end plus {self._lateness_us / 1e6:g}s allowed lateness"
                ),
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "event_time": iso_utc(timestamp.micros),
                "key": message.key,
                "value_b64": base64.b64encode(message.text.encode("utf-8")).decode("ascii"),
            },
        )


class SplitLateMessages(beam.PTransform):
    """Messages -> (on-time Messages, `late` rows), for the windows and lateness of a WindowSpec.

    Takes the same WindowSpec as WindowTokens, or its fields: SplitLateMessages("fixed", size_s=10).
    """

    def __init__(self, spec: Union[WindowSpec, str, None] = None, **settings):
        super().__init__()
        self._fn = _SplitLateFn(
            spec if isinstance(spec, WindowSpec) else WindowSpec.of(spec or settings.pop("type", "fixed"), **settings)
        )

    def expand(self, messages):
        return messages | "SplitLate" >> beam.ParDo(self._fn).with_outputs(LATE, main="on_time")
