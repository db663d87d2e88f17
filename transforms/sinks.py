"""WriteRows: output rows (dicts) to stdout, a JSON-lines file, Kafka or the log."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
from typing import Mapping, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

__all__ = ["WriteRows", "SINK_TYPES", "format_pane_table"]

SINK_TYPES = ("stdout", "jsonl", "kafka", "log")

_LOG = logging.getLogger(__name__)


# One encoder for all rows: json.dumps with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _to_json(row: dict) -> str:
    return _ENCODER.encode(row)


class _AppendJsonLinesFn(beam.DoFn):
    """Appends each bundle's rows to one file with a single locked write.

    An exclusive lock and O_APPEND keep lines whole when several workers on the
    same machine write the same file.
    """

    def __init__(self, path: str):
        self._path = path
        self._rows_written = Metrics.counter("WriteRows", "rows_written")

    def setup(self):
        directory = os.path.dirname(os.path.abspath(self._path))
        os.makedirs(directory, exist_ok=True)

    def start_bundle(self):
        self._lines = []

    def process(self, row: dict):
        self._lines.append(_to_json(row) + "\n")

    def finish_bundle(self):
        if not self._lines:
            return
        data = "".join(self._lines).encode("utf-8")
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)  # closing releases the lock
        self._rows_written.inc(len(self._lines))
        self._lines = []


def format_pane_table(row: dict) -> Optional[str]:
    """A readable block for a top or summary row, one line for a dead letter."""
    kind = row.get("kind")
    if kind == "top":
        window = f"{row['window_start']} .. {row['window_end']}" if row["window_start"] else "global window"
        last = ", last" if row.get("pane_is_last") else ""
        head = f"{window}  {row['pane_timing']} pane {row['pane_index']}{last}"
        width = max([len(token) for token, _ in row["top"]] + [5])
        lines = [f"  {token:<{width}}  {count:>7}" for token, count in row["top"]]
        return "\n".join([head] + lines)
    if kind == "summary":
        return (f"{row['window_start'] or 'global'}  {row['pane_timing']} pane {row['pane_index']}: "
                f"{row['messages']} messages, {row['tokens']} tokens, {row['distinct_tokens']} distinct")
    if kind in ("dead_letter", "late_record"):
        return (f"{kind}: {row['topic']}-{row['partition']}@{row['offset']}: {row['reason']}")
    return None


class _PrintFn(beam.DoFn):
    """Prints a readable table per pane (count rows are left to the file sinks)."""

    def process(self, row: dict):
        text = format_pane_table(row)
        if text is not None:
            print(text, file=sys.stdout, flush=True)


class _LogFn(beam.DoFn):
    def process(self, row: dict):
        _LOG.warning("%s", format_pane_table(row) or _to_json(row))


class _ProduceToKafkaFn(beam.DoFn):
    """Produces each row as a JSON value; waits for delivery at the end of a bundle."""

    def __init__(self, topic: str, producer_config: Mapping[str, object]):
        self._topic = topic
        self._producer_config = dict(producer_config)

    def setup(self):
        from confluent_kafka import Producer

        self._producer = Producer(self._producer_config)
        self._failed = []

    def process(self, row: dict):
        self._producer.produce(self._topic, _to_json(row).encode("utf-8"), on_delivery=self._on_delivery)
        self._producer.poll(0)

    def _on_delivery(self, error, message):
        if error is not None:
            self._failed.append(error)

    def finish_bundle(self):
        self._producer.flush()
        if self._failed:
            error, self._failed = self._failed[0], []
            # Failing the bundle makes the runner retry it: nothing is dropped.
            raise RuntimeError(f"writing to Kafka topic {self._topic!r} failed: {error}")

    def teardown(self):
        self._producer.flush(10)


class WriteRows(beam.PTransform):
    """Writes rows to the sink `kind`: stdout, jsonl (path), kafka (topic) or log."""

    def __init__(self, kind: str, *, path: Optional[str] = None, topic: Optional[str] = None,
                 producer_config: Optional[Mapping[str, object]] = None, label: Optional[str] = None):
        super().__init__(label)
        if kind == "jsonl":
            if not path:
                raise ValueError("the jsonl sink needs a path")
            self._fn = _AppendJsonLinesFn(path)
        elif kind == "kafka":
            if not topic:
                raise ValueError("the kafka sink needs a topic")
            self._fn = _ProduceToKafkaFn(topic, producer_config or {})
        elif kind == "stdout":
            self._fn = _PrintFn()
        elif kind == "log":
            self._fn = _LogFn()
        else:
            raise ValueError(f"unknown sink {kind!r}; choose one of {', '.join(SINK_TYPES)}")

    def expand(self, rows):
        return rows | "Write" >> beam.ParDo(self._fn)
