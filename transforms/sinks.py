"""WriteRows: output rows (dicts) to stdout, a JSON-lines file, Kafka or the log.

A sink also says what it has written, for the offset commits (docs/design.md, decision 8):
after a bundle's rows are written and flushed (or acknowledged by Kafka) it
outputs the OffsetCredits of that bundle: those that came in with the rows (the
panes' offsets) and one for every dead-letter or late-record row.
"""

from __future__ import annotations

import contextlib
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

from transforms.kafka.client_settings import check_client_settings, client_settings
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
        if isinstance(element, RowBatch):
            # A batch's credits say what its rows stand for (a pane, or late rows of some windows only).
            self._rows.extend(element.rows)
            for credit in element.credits:
                self._credits.note(credit, timestamp, window)
            return
        if not self._credits.note(element, timestamp, window):
            self._rows.append(element)

    def finish_bundle(self):
        if self._rows:
            self.write_bundle(self._rows)
            self._rows_written.inc(len(self._rows))
            self._rows = []
        return self._credits.emit()

    def write_bundle(self, rows: list) -> None:
        raise NotImplementedError


class _AppendJsonLinesFn(_SinkFn):
    """Appends each bundle's rows to one file with a single locked write, whole rows or none.

    An exclusive lock and O_APPEND keep lines whole when several workers on the
    same machine write the same file. A failed append (a full disk) is cut back to
    where it began before the bundle fails, and a torn row that an earlier run left
    at the end of the file is cut before the next append, so every line is a whole row.
    """

    def __init__(self, path: str, run_id: Optional[str]):
        super().__init__()
        self._path = path
        self._run_id = run_id

    def setup(self):
        _make_durable_dirs(os.path.dirname(os.path.abspath(self._path)))

    def write_bundle(self, rows: list) -> None:
        data = "".join(_with_run_id(line, self._run_id) + "\n" for line in _json_lines(rows)).encode("utf-8")
        fd, created = _open_for_append(self._path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = _cut_torn_tail(fd, self._path)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)  # written means on disk: the offsets of these rows may be committed next
            except OSError:
                with contextlib.suppress(OSError):  # else the next append cuts the torn tail
                    os.ftruncate(fd, size)
                raise
            if created:
                _fsync_dir(os.path.dirname(os.path.abspath(self._path)))  # the new file's entry
        finally:
            os.close(fd)  # closing releases the lock


def _open_for_append(path: str) -> tuple[int, bool]:
    """A descriptor to read and append `path`, and whether this call created the file."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT
    try:
        return os.open(path, flags | os.O_EXCL, 0o644), True
    except FileExistsError:
        return os.open(path, flags, 0o644), False


def _cut_torn_tail(fd: int, path: str) -> int:
    """Cuts a last line without its newline (a failed write's torn row); returns the file's size after."""
    size = os.fstat(fd).st_size
    if not size or os.pread(fd, 1, size - 1) == b"\n":
        return size
    keep, end = 0, size
    while end:
        start = max(0, end - _TAIL_CHUNK)
        found = os.pread(fd, end - start, start).rfind(b"\n")
        if found >= 0:
            keep = start + found + 1
            break
        end = start
    os.ftruncate(fd, keep)
    _LOG.warning("%s: cut %d bytes off the end: a torn row (no newline) that a failed write left", path, size - keep)
    return keep


_TAIL_CHUNK = 65536


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_durable_dirs(directory: str) -> None:
    """Creates `directory` and its missing parents, each entry made durable in its parent."""
    missing = []
    while not os.path.isdir(directory) and directory != os.path.dirname(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another worker made it first
            os.mkdir(path)
        _fsync_dir(os.path.dirname(path))


def _pane_head(row: dict) -> str:
    window = f"{row['window_start']} .. {row['window_end']}" if row["window_start"] else "global window"
    last = ", last" if row.get("pane_is_last") else ""
    return f"{window}  {row['pane_timing']} pane {row['pane_index']}{last}"


def format_pane_table(row: dict) -> Optional[str]:
    """A readable block for a top or summary row, one line for a dead letter.

    Text that comes from records (tokens, topics, reasons) is escaped: a control
    character or bidi override in a message shows as ``\\x1b`` or ``\\u202e``
    instead of acting on the terminal.
    """
    kind = row.get("kind")
    if kind == "top":
        top = [(escape_controls(token), count) for token, count in row["top"]]
        width = max([len(token) for token, _ in top] + [5])
        lines = [f"  {token:<{width}}  {count:>7}" for token, count in top]
        return escape_controls("\n".join([_pane_head(row)] + lines), keep_lines=True)
    if kind == "summary":
        return escape_controls(
            f"{row['window_start'] or 'global'}  {row['pane_timing']} pane {row['pane_index']}: "
            f"{row['messages']} messages, {row['tokens']} tokens, {row['distinct_tokens']} distinct"
        )
    if kind in ("dead_letter", "late_record"):
        return escape_controls(f"{kind}: {row['topic']}-{row['partition']}@{row['offset']}: {row['reason']}")
    return None


_PANE_KEYS = _COUNT_ROW_KEYS[1:6]
_COUNTS_WIDTH = 100
_COUNTS_INDENT = " " * len("  counts: ")


def _counts_lines(label: str, counts: list) -> list[str]:
    """`  counts: token 3, other 2, ...`, wrapped at _COUNTS_WIDTH characters; tokens escaped."""
    items = [f"{escape_controls(token)} {count}" for token, count in counts]
    lines, line = [], f"  {label}: "
    for i, item in enumerate(items):
        item += "," if i < len(items) - 1 else ""
        if len(line) + len(item) > _COUNTS_WIDTH and line.strip() and not line.endswith(": "):
            lines.append(line.rstrip())
            line = _COUNTS_INDENT
        line += item + " "
    return lines + [line.rstrip()]


def _key_label(key: Optional[str]) -> str:
    return "counts, no key" if key is None else f"counts, key {escape_controls(key)}"


def _readable_blocks(rows: list) -> list[str]:
    """What the stdout sink prints for a bundle's rows: every row, a pane's counts with its table.

    A pane's count rows (and key_count rows, per key) follow its top table as wrapped
    `counts:` lines; without the table in the bundle they follow the pane's heading.
    A row of a kind without a readable form is its JSON, escaped.
    """
    blocks: list[list[str]] = []
    pane_block: dict = {}  # pane -> index of the block its counts join
    headed: set = set()  # blocks that are a pane's heading alone, for a top table that comes later
    counts: dict = {}  # (pane, label) -> [(token, count)]
    for row in rows:
        kind = row.get("kind")
        pane = tuple(row.get(key) for key in _PANE_KEYS)
        if kind in ("count", "key_count"):
            if pane not in pane_block:
                pane_block[pane] = len(blocks)
                headed.add(len(blocks))
                blocks.append([escape_controls(_pane_head(row))])
            label = "counts" if kind == "count" else _key_label(row["key"])
            counts.setdefault((pane, label), []).append((row["token"], row["count"]))
        elif kind == "top" and pane_block.get(pane) in headed:
            headed.discard(pane_block[pane])
            blocks[pane_block[pane]] = [format_pane_table(row)]
        else:
            if kind == "top":
                pane_block[pane] = len(blocks)
            # JSON escapes C0 controls only: C1 controls and bidi overrides are escaped here.
            blocks.append([format_pane_table(row) or escape_controls(_to_json(row))])
    for (pane, label), pairs in counts.items():
        blocks[pane_block[pane]] += _counts_lines(label, pairs)
    return ["\n".join(block) for block in blocks]


class _PrintFn(_SinkFn):
    """Prints every row it is given, readably: a table per pane with its counts, a line per record row.

    Each row the bundle credits is printed (docs/design.md, decision 10): count rows as the
    pane's `counts:` lines, not left to the file sinks.
    """

    def write_bundle(self, rows: list) -> None:
        blocks = _readable_blocks(rows)
        if blocks:
            print("\n".join(blocks), file=sys.stdout, flush=True)


class _LogFn(_SinkFn):
    """Writes each row as readable text to stderr, flushed before the bundle's credits leave.

    Not through logging, which is no write (docs/design.md, decision 10): worker processes log
    at ERROR, Beam drops log entries when its queue is full, and logging swallows write
    errors. A failed write or flush fails the bundle, so nothing of it is credited.
    """

    def write_bundle(self, rows: list) -> None:
        # JSON escapes C0 controls only: C1 controls and bidi overrides are escaped here.
        text = "".join(f"{format_pane_table(row) or escape_controls(_to_json(row))}\n" for row in rows)
        stream = sys.stderr
        if stream is None:
            raise OSError("the log sink cannot write: this process has no stderr")
        stream.write(text)
        stream.flush()


def _producer_settings(producer_config: Mapping[str, object]) -> dict:
    """The Kafka sink's producer settings: idempotence unless the user's config says otherwise."""
    # Idempotence: a retry inside the client (a lost acknowledgement) cannot write a row twice.
    return {"enable.idempotence": True, **producer_config}


class _ProduceToKafkaFn(_SinkFn):
    """Produces each row as a JSON value; a bundle is written once Kafka acknowledged every row."""

    def __init__(self, topic: str, producer_config: Mapping[str, object], run_id: Optional[str]):
        super().__init__()
        self._topic = topic
        self._producer_config = dict(producer_config)
        self._run_id = run_id

    def setup(self):
        self._producer = self._new_producer()
        self._failed = []

    def _new_producer(self):
        from confluent_kafka import Producer

        return Producer(_producer_settings(self._producer_config))

    def write_bundle(self, rows: list) -> None:
        for line in _json_lines(rows):
            value = _with_run_id(line, self._run_id).encode("utf-8")
            while True:
                try:
                    self._producer.produce(self._topic, value, on_delivery=self._on_delivery)
                    break
                except BufferError:  # the client's queue is full: wait for deliveries to make room
                    self._producer.poll(0.1)
            self._producer.poll(0)
        self._producer.flush()
        if self._failed:
            error, self._failed = self._failed[0], []
            if error.fatal():  # an idempotent producer that lost its sequence takes nothing more
                self._producer = self._new_producer()
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
        if self.type == "kafka" and self.producer_config and "enable.idempotence" not in self.producer_config:
            try:
                check_client_settings("producer", _producer_settings(self.producer_config))
            except SpecError as e:
                key = ".".join(part for part in ("producer_config", e.key) if part)
                raise SpecError(
                    key, f"{e} (the kafka sink sets enable.idempotence: true unless told otherwise)"
                ) from None
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
