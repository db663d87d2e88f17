"""SplitLateMessages: set aside, visibly, the messages whose windows have closed.

Beam drops an element from a window that ended more than the allowed lateness
before the watermark, without a trace. The reader stamps each record with its
watermark when it was read; each window of a message (a sliding window puts it
into several) is decided on its own: a window whose end plus the allowed
lateness is at or before that watermark would drop it, so the message leaves a
`late_record` row naming that window, and a counter. The message goes on to the
windows still open, which Beam keeps: the watermark downstream cannot have
passed the one it was read under.

The ledger (transforms/kafka/ledger.py) expects a credit from each open window
and, when some windows had closed, one for the late rows: a message is done
only when both are written.
"""

from __future__ import annotations

from typing import Optional, Union

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.event_time import iso_utc
from transforms.kafka.ledger import LATE_WINDOWS, OffsetCredit, credits_needed
from transforms.records import VALUE_PREFIX_BYTES, Message, RowBatch, value_fields
from transforms.windowing import WindowSpec

__all__ = [
    "SplitLateMessages",
    "LATE",
    "latest_window_end_us",
    "LATE_RECORDS",
    "LATE_WINDOWS_COUNTER",
    "MESSAGE_WINDOWS",
]

# Counters (namespace, name), for whoever reads the job's metrics.
LATE_RECORDS = ("SplitLateMessages", "late_records")
# The account of windows: every (message, window) pair is counted or late (pipeline/metrics_report.py).
MESSAGE_WINDOWS = ("SplitLateMessages", "message_windows")
LATE_WINDOWS_COUNTER = ("SplitLateMessages", "late_windows")

LATE = "late"


def latest_window_end_us(kind: str, timestamp_us: int, **window_fields) -> Optional[int]:
    """The end of the last window an element at this time belongs to; None: it never closes."""
    return WindowSpec.of(kind, **window_fields).latest_window_end_us(timestamp_us)


class _SplitLateFn(beam.DoFn):
    """Message -> Message for its open windows, and a late_record row for each window already closed.

    `copies`: how many panes count a message in each window (2 with by-key counts).
    """

    def __init__(self, spec: WindowSpec, copies: int = 1):
        self._spec = spec
        self._copies = copies
        self._lateness_us = int(spec.trigger.allowed_lateness_s * 1e6)
        self._late = Metrics.counter(*LATE_RECORDS)
        self._message_windows = Metrics.counter(*MESSAGE_WINDOWS)
        self._late_windows = Metrics.counter(*LATE_WINDOWS_COUNTER)

    def process(self, message: Message, timestamp=beam.DoFn.TimestampParam):
        ends = self._spec.window_ends_us(timestamp.micros)
        self._message_windows.inc(len(ends) if ends else 1)
        if ends is None or message.watermark_ms is None:
            yield message
            return
        watermark_us = message.watermark_ms * 1000
        closed = [end for end in ends if end + self._lateness_us <= watermark_us]
        if not closed:
            yield message if len(ends) == message.windows else message._replace(windows=len(ends))
            return
        self._late_windows.inc(len(closed))
        rows = [self._late_row(message, timestamp.micros, end, watermark_us) for end in closed]
        still_open = len(ends) - len(closed)
        if not still_open:
            self._late.inc()
            for row in rows:  # the sink credits the record once its rows are written
                yield beam.pvalue.TaggedOutput(LATE, row)
            return
        # Counted in the open windows, late in the others: done when both are written.
        needed = credits_needed(still_open, len(closed), self._copies)
        credit = OffsetCredit(
            message.topic, message.partition, ((message.offset, message.offset + 1),), LATE_WINDOWS, needed
        )
        yield beam.pvalue.TaggedOutput(LATE, RowBatch(tuple(rows), (credit,)))
        yield message._replace(windows=still_open, late_windows=len(closed))

    def _late_row(self, message: Message, timestamp_us: int, end_us: int, watermark_us: int) -> dict:
        start_us = end_us - self._window_size_us(end_us, timestamp_us)
        return {
            "kind": "late_record",
            "reason": (
                f"window ending {iso_utc(end_us)} closed: the watermark was {iso_utc(watermark_us)}, "
                f"past its end plus {self._lateness_us / 1e6:g}s allowed lateness"
            ),
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "event_time": iso_utc(timestamp_us),
            "window_start": iso_utc(start_us),
            "window_end": iso_utc(end_us),
            # The key is text here (DecodeMessages): capped like the value, so no record makes its row unwritable.
            "key": None if message.key is None else message.key[:VALUE_PREFIX_BYTES],
            **value_fields(message.text.encode("utf-8", "surrogatepass")),
        }

    def _window_size_us(self, end_us: int, timestamp_us: int) -> int:
        windows = self._spec.windows
        if windows.type == "session":
            return end_us - timestamp_us  # the session this element alone opens
        return int(windows.size_s * 1e6)


class SplitLateMessages(beam.PTransform):
    """Messages -> (on-time Messages, `late` rows), for the windows and lateness of a WindowSpec.

    Takes the same WindowSpec as WindowTokens, or its fields: SplitLateMessages("fixed", size_s=10).
    `copies` is how many panes count a message in each window (2 when counts are also kept per key).
    A message some of whose windows had closed leaves its late rows as one RowBatch with the
    OffsetCredit that stands for them.
    """

    def __init__(self, spec: Union[WindowSpec, str, None] = None, *, copies: int = 1, **settings):
        super().__init__()
        self._fn = _SplitLateFn(
            spec if isinstance(spec, WindowSpec) else WindowSpec.of(spec or settings.pop("type", "fixed"), **settings),
            copies,
        )

    def expand(self, messages):
        return messages | "SplitLate" >> beam.ParDo(self._fn).with_outputs(LATE, main="on_time")
