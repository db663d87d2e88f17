"""WriteRows: output rows (dicts) to stdout, a JSON-lines file, Kafka or the log.

A sink also says what it has written, for the offset commits (DESIGN decision 8):
after a bundle's rows are written and flushed (or acknowledged by Kafka) it
outputs the OffsetCredits of that bundle: those that came in with the rows (the
panes' offsets) and one for every dead-letter or late-record row.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
from typing import Annotated, Any, Mapping, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue
from pydantic import Field, model_validator

from transforms.kafka.client_settings import client_settings
from transforms.kafka.ledger import OffsetCredit, merge_ranges
from transforms.records import RowBatch
from transforms.spec import Spec, SpecError, Str, build, one_of, plain, spec
from transforms.terminal_text import escape_controls

__all__ = ["LogSinkSpec", "SinkSpec", "WriteRows", "SINK_TYPES", "format_pane_table", "ROWS_WRITTEN"]

# Counters (namespace, name), for whoever reads the job's metrics.
ROWS_WRITTEN = ("WriteRows", "rows_written")

SINK_TYPES = ("stdout", "jsonl", "kafka", "log")

_LOG = logging.getLogger(__name__)


# One encoder for all rows: json.dumps with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# A count row's keys, in order: the rows of one pane differ only in the last two.
_COUNT_ROW_KEYS = ("kind", "window_start", "window_end", "pane_timing", "pane_index", "pane_is_last", "token", "count")


def _to_json(row: dict) -> str:
    return _ENCODER.encode(row)


def _json_lines(rows: list) -> list[str]:
    """Each row as compact JSON; count rows from the pane's encoded fields, their token and their count.

    The same text as _to_json gives, at a fifth of the cost: a pane has a count row per
    token, and encoding each whole dict made the sink one of the job's larger costs.
    """
    lines, prefixes = [], {}
    for row in rows:
        if tuple(row) != _COUNT_ROW_KEYS or type(row["token"]) is not str or type(row["count"]) is not int:
            lines.append(_to_json(row))
            continue
        pane = (row["window_start"], row["window_end"], row["pane_timing"], row["pane_index"], row["pane_is_last"])
        prefix = prefixes.get(pane)
        if prefix is None:
            fields = _to_json({key: row[key] for key in _COUNT_ROW_KEYS[:-2]})
            prefix = prefixes[pane] = fields[:-1] + ',"token":'
        lines.append(f'{prefix}{_ENCODER.encode(row["token"])},"count":{row["count"]}}}')
    return lines


def _with_run_id(line: str, run_id: Optional[str]) -> str:
    """Adds the run's id as the last field of an encoded row (cheaper than copying the dict)."""
    return line if run_id is None else f'{line[:-1]},"run_id":{_ENCODER.encode(run_id)}}}'


_RECORD_ROWS = ("dead_letter", "late_record")


class _WrittenCredits:
    """Collects the credits of one bundle; hands them out once the bundle's rows are written.

    A credit leaves in the window it came in (the output keeps the input's windowing).
    """

    def __init__(self):
        self._passed: list[WindowedValue] = []
        self._records: dict[tuple, list] = {}  # (topic, partition, window) -> offsets
        self._timestamps: dict = {}  # window -> latest timestamp

    def note(self, element, timestamp, window) -> bool:
        """Takes the credit an element carries; True when the element is a credit, not a row."""
        if isinstance(element, OffsetCredit):
            self._passed.append(WindowedValue(element, timestamp, (window,)))
            return True
        if element.get("kind") in _RECORD_ROWS:
            offset = element["offset"]
            self._records.setdefault((element["topic"], element["partition"], window), []).append((offset, offset + 1))
            self._timestamps[window] = max(timestamp, self._timestamps.get(window, MIN_TIMESTAMP))
        return False

    def emit(self) -> list:
        """WindowedValues of the bundle's credits; clears them."""
        credits = self._passed + [
            WindowedValue(
                OffsetCredit(topic, partition, tuple(merge_ranges(ranges))), self._timestamps[window], (window,)
            )
            for (topic, partition, window), ranges in self._records.items()
        ]
        self._passed, self._records, self._timestamps = [], {}, {}
        return credits


class _SinkFn(beam.DoFn):
    """Writes rows with write_bundle() at the end of a bundle, then outputs the bundle's credits."""

    def __init__(self):
        self._rows_written = Metrics.counter(*ROWS_WRITTEN)

    def start_bundle(self):
        self._credits = _WrittenCredits()
        self._rows = []

    def process(self, element, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        for item in element.rows + element.credits if isinstance(element, RowBatch) else (element,):
            if not self._credits.note(item, timestamp, window):
                self._rows.append(item)

    def finish_bundle(self):
        if self._rows:
            self.write_bundle(self._rows)
            self._rows_written.inc(len(self._rows))
            self._rows = []
        return self._credits.emit()

    def write_bundle(self, rows: list) -> None:
        raise NotImplementedError


class _AppendJsonLinesFn(_SinkFn):
    """Appends each bundle's rows to one file with a single locked write.

    An exclusive lock and O_APPEND keep lines whole when several workers on the
    same machine write the same file.
    """

    def __init__(self, path: str, run_id: Optional[str]):
        super().__init__()
        self._path = path
        self._run_id = run_id

    def setup(self):
        directory = os.path.dirname(os.path.abspath(self._path))
        os.makedirs(directory, exist_ok=True)

    def write_bundle(self, rows: list) -> None:
        data = "".join(_with_run_id(line, self._run_id) + "\n" for line in _json_lines(rows)).encode("utf-8")
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)  # written means on disk: the offsets of these rows may be committed next
        finally:
            os.close(fd)  # closing releases the lock


def format_pane_table(row: dict) -> Optional[str]:
    """A readable block for a top or summary row, one line for a dead letter.

    Text that comes from records (tokens, topics, reasons) is escaped: a control
    character or bidi override in a message shows as ``\\x1b`` or ``\\u202e``
    instead of acting on the terminal.
    """
    kind = row.get("kind")
    if kind == "top":
        window = f"{row['window_start']} .. {row['window_end']}" if row["window_start"] else "global window"
        last = ", last" if row.get("pane_is_last") else ""
        head = f"{window}  {row['pane_timing']} pane {row['pane_index']}{last}"
        top = [(escape_controls(token), count) for token, count in row["top"]]
        width = max([len(token) for token, _ in top] + [5])
        lines = [f"  {token:<{width}}  {count:>7}" for token, count in top]
        return escape_controls("\n".join([head] + lines), keep_lines=True)
    if kind == "summary":
        return escape_controls(
            f"{row['window_start'] or 'global'}  {row['pane_timing']} pane {row['pane_index']}: "
            f"{row['messages']} messages, {row['tokens']} tokens, {row['distinct_tokens']} distinct"
        )
    if kind in ("dead_letter", "late_record"):
        return escape_controls(f"{kind}: {row['topic']}-{row['partition']}@{row['offset']}: {row['reason']}")
    return None


class _PrintFn(_SinkFn):
    """Prints a readable table per pane (count rows are left to the file sinks)."""

    def write_bundle(self, rows: list) -> None:
        texts = [text for text in map(format_pane_table, rows) if text is not None]
        if texts:
            print("\n".join(texts), file=sys.stdout, flush=True)


class _LogFn(_SinkFn):
    def write_bundle(self, rows: list) -> None:
        for row in rows:
            # JSON escapes C0 controls only: C1 controls and bidi overrides are escaped here.
            _LOG.warning("%s", format_pane_table(row) or escape_controls(_to_json(row)))


class _ProduceToKafkaFn(_SinkFn):
    """Produces each row as a JSON value; a bundle is written once Kafka acknowledged every row."""

    def __init__(self, topic: str, producer_config: Mapping[str, object], run_id: Optional[str]):
        super().__init__()
        self._topic = topic
        self._producer_config = dict(producer_config)
        self._run_id = run_id

    def setup(self):
        from confluent_kafka import Producer

        self._producer = Producer(self._producer_config)
        self._failed = []

    def write_bundle(self, rows: list) -> None:
        for line in _json_lines(rows):
            value = _with_run_id(line, self._run_id).encode("utf-8")
            self._producer.produce(self._topic, value, on_delivery=self._on_delivery)
            self._producer.poll(0)
        self._producer.flush()
        if self._failed:
            error, self._failed = self._failed[0], []
            # Failing the bundle makes the runner retry it: nothing is dropped, nothing is committed.
            raise RuntimeError(f"writing to Kafka topic {self._topic!r} failed: {error}")

    def _on_delivery(self, error, message):
        if error is not None:
            self._failed.append(error)

    def teardown(self):
        self._producer.flush(10)


@spec
class SinkSpec(Spec):
    """Where rows go: stdout, log, a JSON-lines file or a Kafka topic."""

    # Descriptions as Field arguments: LogSinkSpec inherits them (docstrings are read per class).
    type: one_of(*SINK_TYPES) = "stdout"
    path: Optional[Str] = Field(None, description="jsonl: the file; its directory must be writable.")
    topic: Optional[Str] = Field(None, description="kafka: the topic.")
    producer_config: Annotated[dict, plain(client_settings("producer"), Optional[dict[str, Any]])] = Field(
        default_factory=dict,
        repr=False,
        description="kafka: confluent-kafka producer settings (checked by librdkafka).",
    )

    @model_validator(mode="after")
    def _check(self):
        if self.type == "jsonl" and not self.path:
            raise SpecError("path", "the jsonl sink needs a path")
        if self.type == "kafka" and not self.topic:
            raise SpecError("topic", "the kafka sink needs a topic")
        return self

    def write_fn(self, run_id: Optional[str] = None) -> "_SinkFn":
        """The DoFn that writes; `run_id`, when given, is added to every row the file and Kafka sinks write."""
        if self.type == "jsonl":
            return _AppendJsonLinesFn(self.path, run_id)
        if self.type == "kafka":
            return _ProduceToKafkaFn(self.topic, self.producer_config, run_id)
        return _PrintFn() if self.type == "stdout" else _LogFn()


@spec
class LogSinkSpec(SinkSpec):
    """Where dead letters or late records go: the log unless said otherwise."""

    type: one_of(*SINK_TYPES) = "log"


class WriteRows(beam.PTransform):
    """Writes rows where a SinkSpec says (or its fields: WriteRows("jsonl", path=...)).

    Rows may come with OffsetCredits (see transforms.kafka.ledger) after the rows
    they cover, each alone or together in RowBatches; the output is the credits of
    what has been written. `run_id`, when given, is added to every row the file and
    Kafka sinks write.
    """

    def __init__(self, spec, *, run_id: Optional[str] = None, label: Optional[str] = None, **fields):
        super().__init__(label)
        if not isinstance(spec, SinkSpec):
            if spec not in SINK_TYPES:
                raise ValueError(f"unknown sink {spec!r}; choose one of {', '.join(SINK_TYPES)}")
            spec = build(SinkSpec, type=spec, **fields)
        self._fn = spec.write_fn(run_id)

    def expand(self, rows):
        return rows | "Write" >> beam.ParDo(self._fn)
