"""`run --live`: one screen, redrawn in place, that shows a stream while the job runs.

What it shows, and where each part comes from:

- the latest closed windows: the rows the job writes. With --live the `stdout` and
  `log` sinks (results, dead letters, late records) are switched to a new JSON-lines
  file in the current directory (`token-counts-live-<UTC time>.jsonl`, mode 0600: rows
  carry record text) that this view reads as it grows; `run` names it when it starts
  and when it ends, and it stays: offsets are committed to the consumer group behind
  these rows, so they are the run's output (a sink of type jsonl picks another place).
  A `jsonl` sink is read where it writes (from its end at start). A `kafka` sink is not
  read: the view then shows no windows. So transforms/ keep no terminal code, and the
  rows are the very rows the job writes.
- the top tokens of the latest closed window, each with a sparkline of its count in
  the last closed windows (panes of a window are added up when discarding, the
  last pane taken when accumulating);
- the watermark: at least the end of the latest window whose ON_TIME (or LATE) pane
  has been written, against the wall clock (UTC). It is derived from the panes, so it
  moves window by window, and it is a lower bound: the runner's own watermark may be
  further on;
- why a window has not fired: the reader's own watermark, the partition that holds it
  (the minimum over partitions) and why (idle, behind, nothing read yet), and the next
  window that waits on it; per partition its watermark, newest event time and state in
  the lag table. From the reader's gauges where the runner serves them while the job
  runs (Prism), else from the report the reader writes to Kafka
  (transforms/kafka/watermarks.py, pipeline/console/watermark_view.py);
- the consumer lag per partition: the group's committed offsets against the end
  offsets (pipeline/console/kafka_watch.py); offsets are committed behind the written output,
  so the lag is what the job has not written out yet;
- counters: records read, dead letters, late records and panes from Beam's counters
  while the job runs (Prism serves them; pipeline/console/live_counters.py), else counted
  from the rows (read is then not known).

Everything that comes from records (tokens, reasons) is shown as plain text (rich's
Text, which reads no markup) with control and format characters escaped
(pipeline/terminal.printable).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

from pipeline.config import ConfigError, RunConfig, load_config
from pipeline.console.live_counters import (
    DEAD_LETTERS,
    LATE,
    PANES,
    READ,
    running_counters,
    running_watermarks,
    total,
)
from pipeline.console.terminal import LiveRegion, printable
from pipeline.console.watermark_view import current, holder_line, partition_cells, span, stale_s, windows_line
from transforms.kafka.watermarks import holding_partition
from transforms.windowing import WindowSpec

__all__ = ["LiveState", "LiveView", "RowsTail", "render", "sparkline"]

_KEPT_WINDOWS = 12  # windows kept for the sparklines
_RECENT_SHOWN = 5  # closed windows listed under the latest one
_TOP_SHOWN = 10
_LAG_SHOWN = 8  # partitions listed; the rest are in the total
_TOKEN_WIDTH = 24
_REFRESH_S = 1.0
_LAG_EVERY_S = 2.0
_ROWS_PREFIX = "token-counts-live-"
_BARS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
_REDIRECTED = ("stdout", "log")


def sparkline(values: list[Optional[int]]) -> str:
    """One bar per value, from the smallest value shown (lowest bar) to the largest (highest bar), as
    sparklines usually scale, so that a trend shows; a space where a window had none; all alike: mid bars."""
    present = [v for v in values if v]
    if not present:
        return " " * len(values)
    low, high = min(present), max(present)
    top = len(_BARS) - 1
    return "".join(
        " " if not v else _BARS[top // 2 if high == low else round((v - low) * top / (high - low))] for v in values
    )


class RowsTail:
    """The JSON-lines rows appended to a file since the last call (whole lines only)."""

    def __init__(self, path: str, from_end: bool = False):
        self.path = path
        self._position = os.path.getsize(path) if from_end and os.path.exists(path) else 0
        self._partial = b""

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < self._position:  # truncated or replaced: read it again
                    self._position, self._partial = 0, b""
                f.seek(self._position)
                data = f.read()
        except FileNotFoundError:
            return []
        self._position += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        rows = []
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows


@dataclass
class _Window:
    start: Optional[str]
    end: Optional[str]
    timing: str = ""
    pane_index: int = -1
    closed: bool = False
    messages: int = 0
    tokens: int = 0
    distinct: int = 0
    counts: dict = field(default_factory=dict)
    top: list = field(default_factory=list)  # the latest top row, for when no count rows come


class LiveState:
    """What the rows have said so far, kept small: the last windows, counters, the watermark."""

    def __init__(self, accumulating: bool = False):
        self._accumulating = accumulating
        self.windows: dict[tuple, _Window] = {}
        self.panes = 0
        self.dead_letters = 0
        self.late_records = 0
        self.rows = 0
        self.watermark: Optional[str] = None  # ISO end of the latest window closed by the watermark
        self.last_dead_letters: deque = deque(maxlen=2)

    def add(self, rows: list[dict]) -> None:
        for row in rows:
            self.rows += 1
            kind = row.get("kind")
            try:
                if kind == "summary":
                    self._summary(row)
                elif kind == "top":
                    self._top(row)
                elif kind == "count":
                    self._count(row)
                elif kind == "dead_letter":
                    self.dead_letters += 1
                    self.last_dead_letters.append(
                        f"{row.get('topic')}-{row.get('partition')}@{row.get('offset')}: {row.get('reason')}"
                    )
                elif kind == "late_record":
                    self.late_records += 1
            except (KeyError, TypeError, ValueError):
                continue  # a row of another shape: not ours to show

    def _window(self, row: dict, create: bool) -> Optional[_Window]:
        key = (row.get("window_start"), row.get("window_end"))
        window = self.windows.get(key)
        if window is None and create:
            if len(self.windows) >= _KEPT_WINDOWS and key < min(self.windows, key=_order):
                return None  # older than every window kept: counted, not shown
            window = self.windows[key] = _Window(*key)
            while len(self.windows) > _KEPT_WINDOWS:
                del self.windows[min(self.windows, key=_order)]
        return window

    def _summary(self, row: dict) -> None:
        self.panes += 1
        timing = row["pane_timing"]
        if timing in ("ON_TIME", "LATE") and row.get("window_end"):
            if self.watermark is None or row["window_end"] > self.watermark:
                self.watermark = row["window_end"]
        window = self._window(row, create=True)
        if window is None:
            return
        new_pane = row["pane_index"] != window.pane_index
        if self._accumulating or not new_pane:
            window.messages, window.tokens = row["messages"], row["tokens"]
            if self._accumulating and new_pane:
                window.counts = {}
        else:
            window.messages += row["messages"]
            window.tokens += row["tokens"]
        window.distinct = row["distinct_tokens"] if self._accumulating else max(window.distinct, row["distinct_tokens"])
        window.timing, window.pane_index = timing, row["pane_index"]
        window.closed = window.closed or timing in ("ON_TIME", "LATE") or bool(row.get("pane_is_last"))

    def _top(self, row: dict) -> None:
        window = self._window(row, create=False)
        if window is not None:
            window.top = [(str(token), int(count)) for token, count in row["top"]]

    def _count(self, row: dict) -> None:
        window = self._window(row, create=False)
        if window is not None:
            token = row["token"]
            n = int(row["count"])
            window.counts[token] = n if self._accumulating else window.counts.get(token, 0) + n
        if window is not None and not self._accumulating and len(window.counts) > window.distinct:
            window.distinct = len(window.counts)

    def closed_windows(self) -> list[_Window]:
        return sorted((w for w in self.windows.values() if w.closed), key=lambda w: (w.start or "", w.end or ""))

    def open_windows(self) -> int:
        return sum(1 for w in self.windows.values() if not w.closed)


def _order(key: tuple) -> tuple:
    return (key[1] or "", key[0] or "")


def _top_of(window: _Window, k: int) -> list[tuple[str, int]]:
    if window.counts:
        return sorted(window.counts.items(), key=lambda item: (-item[1], item[0]))[:k]
    return window.top[:k]


def _parse(iso: Optional[str]) -> Optional[datetime]:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None


def _clock(moment: Optional[datetime], today) -> str:
    if moment is None:
        return "?"
    moment = moment.astimezone(timezone.utc)
    text = moment.strftime("%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text if moment.date() == today else f"{moment:%Y-%m-%d} {text}"


def _window_text(window: _Window, today) -> str:
    if window.start is None:
        return "global window"
    return f"{_clock(_parse(window.start), today)} \u2013 {_clock(_parse(window.end), today).split(' ')[-1]}"


def _span(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class Snapshot:
    """Everything one frame shows."""

    config: RunConfig
    state: LiveState
    elapsed_s: float
    now: datetime
    counters: Optional[dict] = None  # Beam's, when the runner serves them while the job runs
    lags: Optional[list] = None  # PartitionLag rows
    lag_error: str = ""
    read_total: Optional[int] = None  # a bounded read's total
    notes: tuple = ()
    finished: str = ""
    watermarks: Optional[list] = None  # the reader's PartitionWatermark report, when there is one
    watermark_origin: str = ""  # where the report came from


def _reader_lines(snap: Snapshot) -> list:
    """The partition that holds the reader's watermark and why, and the next window that waits on it."""
    from rich.text import Text

    if snap.watermarks is None:
        return []
    now_ms = int(snap.now.timestamp() * 1000)
    live = current(snap.watermarks)
    ends = {(lag.topic, lag.partition): lag.end for lag in snap.lags or ()}
    holder = Text(printable(holder_line(live, now_ms, snap.config.source.max_out_of_orderness_s, ends), 300))
    age = stale_s(live, now_ms)
    origin = snap.watermark_origin + (f", {span(age)} ago" if age is not None else "")
    if snap.finished:
        origin += ", its last report"
    holder.append(f"  ({origin})", style="dim")
    spec = WindowSpec(snap.config.window, snap.config.trigger)
    return [holder, Text(printable(windows_line(spec, live, now_ms), 300))]


def render(snap: Snapshot):
    """The screen as a rich renderable."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    config, state = snap.config, snap.state
    today = snap.now.date()
    source = config.source
    parts = []
    head = Text()
    head.append("beam-token-counts live", style="bold")
    head.append(
        f"  {printable(','.join(source.topics), 60)} on {printable(source.bootstrap_servers, 60)}"
        f"  group {printable(source.group_id or '-', 40)}  {config.runner}  "
        f"{snap.finished or 'running'} {_span(snap.elapsed_s)}"
    )
    parts.append(head)

    wall = snap.now
    mark = _parse(state.watermark)
    line = Text("watermark ")
    if mark is None:
        line.append("no window closed yet", style="dim")
    else:
        behind = (wall - mark).total_seconds()
        line.append(f"\u2265 {_clock(mark, today)} UTC", style="bold")
        line.append(f"  wall clock {_clock(wall.replace(microsecond=0), today)} UTC  ")
        if behind >= 0:
            line.append(f"({_span(behind)} behind; end of the latest window closed on time)")
        else:
            line.append("(ahead of the clock: the read ended and its open windows were closed)")
    parts.append(line)
    parts.extend(_reader_lines(snap))

    parts.append(_counters_line(snap))
    if state.last_dead_letters:
        parts.append(Text("last dead letter: " + printable(state.last_dead_letters[-1], 160), style="dim"))
    for note in snap.notes:
        parts.append(Text(note, style="dim"))
    parts.append(Text(""))
    parts.append(
        Text(
            f"consumer lag, group {printable(source.group_id or '-', 40)} (committed behind the written output)",
            style="bold",
        )
    )
    if snap.lags:
        lag_table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1))
        for name in ("topic", "partition", "committed", "end", "lag"):
            lag_table.add_column(name, justify="left" if name == "topic" else "right", no_wrap=True)
        report = current(snap.watermarks) if snap.watermarks else None
        if report:  # the reader's side of each partition: why its windows wait
            for name in ("watermark", "newest event", "state"):
                lag_table.add_column(name, justify="left" if name == "state" else "right", no_wrap=True)
            now_ms = int(snap.now.timestamp() * 1000)
            by_key = {(p.topic, p.partition): p for p in report}
            ends = {(lag.topic, lag.partition): lag.end for lag in snap.lags}
            holder = holding_partition(report)
        shown_lags = snap.lags
        if len(shown_lags) > _LAG_SHOWN:  # the partitions furthest behind, in partition order
            worst = sorted(shown_lags, key=lambda lag: -(lag.lag or 0))[:_LAG_SHOWN]
            shown_lags = [lag for lag in snap.lags if lag in worst]
        for lag in shown_lags:
            reader = ()
            if report:
                reader = partition_cells(by_key.get((lag.topic, lag.partition)), holder, now_ms, ends)
            lag_table.add_row(
                Text(printable(lag.topic, 40)),
                str(lag.partition),
                "-" if lag.committed is None else f"{lag.committed:,}",
                f"{lag.end:,}",
                "-" if lag.lag is None else f"{lag.lag:,}",
                *reader,
            )
        known = [lag.lag for lag in snap.lags if lag.lag is not None]
        hidden = len(snap.lags) - len(shown_lags)
        lag_table.add_row(
            f"total{f' ({hidden} more)' if hidden else ''}",
            "",
            "",
            f"{sum(lag.end for lag in snap.lags):,}",
            f"{sum(known):,}",
        )
        parts.append(lag_table)
    else:
        parts.append(Text(snap.lag_error or "asking Kafka...", style="dim"))

    parts.append(Text(""))
    closed = state.closed_windows()
    if closed:
        latest = closed[-1]
        history = closed[-_KEPT_WINDOWS:]
        title = Text()
        title.append(f"latest closed window {_window_text(latest, today)}", style="bold")
        title.append(
            f"  {latest.timing} pane {latest.pane_index}: {latest.messages:,} messages, "
            f"{latest.tokens:,} tokens, {latest.distinct:,} distinct"
        )
        parts.append(title)
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1))
        table.add_column("token", no_wrap=True, max_width=_TOKEN_WIDTH)
        table.add_column("count", justify="right")
        table.add_column(f"last {len(history)} windows", no_wrap=True)
        for token, count in _top_of(latest, min(config.count.top_k, _TOP_SHOWN)):
            trend = sparkline([w.counts.get(token, dict(w.top).get(token)) for w in history])
            table.add_row(Text(printable(token, _TOKEN_WIDTH)), f"{count:,}", Text(trend, style="cyan"))
        parts.append(table)
        recent = Table(title=None, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1))
        shown = list(reversed(closed[-_RECENT_SHOWN:]))
        cells = [
            (
                _window_text(w, today),
                f"{w.timing} {w.pane_index}",
                f"{w.messages:,}",
                f"{w.tokens:,}",
                f"{w.distinct:,}",
                ", ".join(printable(token, 12) for token, _ in _top_of(w, 3)),
            )
            for w in shown
        ]
        names = ("window", "pane", "messages", "tokens", "distinct", "top")
        for i, name in enumerate(names):
            if name == "top":  # the one column that gives way on a narrow terminal
                recent.add_column(name, no_wrap=True, overflow="ellipsis", ratio=1)
            else:
                width = max(len(name), *(len(row[i]) for row in cells))
                recent.add_column(name, justify="left" if i < 2 else "right", no_wrap=True, min_width=width)
        for row in cells:
            recent.add_row(*row[:5], Text(row[5]))
        parts.append(Text("recent closed windows", style="bold"))
        parts.append(recent)
    else:
        parts.append(Text("no window closed yet", style="dim"))
    if state.open_windows():
        parts.append(Text(f"{state.open_windows()} open window(s) with early panes", style="dim"))
    return Group(*parts)


def _counters_line(snap: Snapshot):
    from rich.text import Text

    counters, state = snap.counters, snap.state
    line = Text("counters  ")
    if counters and READ[0] in counters:
        read = total(counters, READ)
        items = [
            ("read", f"{read:,}" + (f" of {max(snap.read_total, read):,}" if snap.read_total is not None else "")),
            ("dead letters", f"{max(total(counters, DEAD_LETTERS), state.dead_letters):,}"),
            ("late", f"{max(total(counters, LATE), state.late_records):,}"),
            ("panes", f"{max(total(counters, PANES), state.panes):,}"),
        ]
        origin = "Beam counters"
    else:
        items = [
            ("read", "?"),
            ("dead letters", f"{state.dead_letters:,}"),
            ("late", f"{state.late_records:,}"),
            ("panes", f"{state.panes:,}"),
        ]
        origin = "from the rows: this runner gives no counters while it runs"
    for i, (name, value) in enumerate(items):
        if i:
            line.append("  \u00b7  ")
        line.append(f"{name} ")
        line.append(value, style="bold")
    line.append(f"   ({origin})", style="dim")
    return line


@dataclass
class _Redirect:
    rows_file: Optional[str]  # where the stdout and log sinks write instead, kept after the run
    tails: list
    notes: list


def _new_rows_file(directory: str = ".") -> str:
    """A new, empty file for the redirected rows in `directory`, named after the time (UTC), readable by
    this user only (the rows carry record text); never an existing file."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        name = f"{_ROWS_PREFIX}{stamp}{'' if n == 1 else f'-{n}'}.jsonl"
        path = os.path.abspath(os.path.join(directory, name))
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free name for the rows file in {os.path.abspath(directory)}")


def redirect_sinks(args) -> _Redirect:
    """Points the stdout and log sinks at a new JSON-lines file in the current directory (adds --set
    overrides to `args`); the file stays after the run.

    Returns the file, the files to read and what cannot be shown.
    """
    config = load_config(args.config, tuple(args.set))
    rows_file, tails, notes = None, [], []
    for key in ("sink", "dead_letter", "late_records"):
        sink = getattr(config, key)
        if sink.type in _REDIRECTED:
            if rows_file is None:
                try:
                    rows_file = _new_rows_file()
                except OSError as e:
                    raise ConfigError(
                        f"--live: cannot create the rows file in the current directory: {e.strerror or e}; run from a "
                        f"writable directory, or give {key} a jsonl sink with a path"
                    ) from None
                tails.append(RowsTail(rows_file))
                notes.append(f"rows written to {printable(rows_file, 120)}")
            args.set = [*args.set, f"{key}.type=jsonl", f"{key}.path={json.dumps(rows_file)}"]
        elif sink.type == "jsonl":
            if sink.path not in [tail.path for tail in tails]:
                tails.append(RowsTail(sink.path, from_end=True))
            notes.append(f"{key} rows: {printable(sink.path, 80)}")
        else:
            notes.append(f"{key} rows go to Kafka topic {printable(sink.topic or '', 60)}: not read here")
    return _Redirect(rows_file, tails, notes)


class LiveView:
    """Draws the screen on stdout from a thread of its own while the job runs."""

    def __init__(self, redirect: _Redirect):
        self._redirect = redirect
        self._config: Optional[RunConfig] = None
        self._state = LiveState()
        self._result = None
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._region: Optional[LiveRegion] = None
        self._started = time.monotonic()
        self._watch = None
        self._lags = None
        self._lag_error = ""
        self._counters = None
        self._read_total = None
        self._stopped = False
        self._watermarks = None
        self._watermark_origin = ""
        self._started_wall_ms = int(time.time() * 1000)

    @classmethod
    def prepare(cls, args) -> "LiveView":
        return cls(redirect_sinks(args))

    @property
    def rows_file(self) -> Optional[str]:
        """The file the stdout and log sinks write to in this run, if any (it stays after the run)."""
        return self._redirect.rows_file

    def start(self, config: RunConfig) -> None:
        self._config = config
        self._state = LiveState(accumulating=config.trigger.accumulation == "accumulating")
        self._started = time.monotonic()
        self._started_wall_ms = int(time.time() * 1000)
        self._region = LiveRegion(sys.stdout)
        self._region.start(render(self._snapshot()))
        self._thread = threading.Thread(target=self._loop, name="live-view", daemon=True)
        self._thread.start()

    def attach(self, result) -> None:
        self._result = result

    def stop(self, finished: bool = True) -> None:
        """Draws the last frame and leaves it on the screen; the rows file stays."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._poll(lags=True)
        if self._region is not None:
            self._region.stop(render(self._snapshot(finished="finished in" if finished else "stopped after")))
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def _loop(self) -> None:
        try:
            from pipeline.console.kafka_watch import KafkaWatch

            self._watch = KafkaWatch(self._config)
            if self._config.source.stop.bounded:
                self._read_total = self._watch.read_plan().total  # before the job has read or committed
        except Exception:
            self._watch = None  # tried again with the lags
        last_lags = 0.0
        while not self._stopping.wait(_REFRESH_S):
            due = time.monotonic() - last_lags >= _LAG_EVERY_S
            if due:
                last_lags = time.monotonic()
            self._poll(lags=due)
            if self._region is not None and not self._stopping.is_set():
                self._region.update(render(self._snapshot()))

    def _poll(self, lags: bool) -> None:
        for tail in self._redirect.tails:
            self._state.add(tail.read())
        if self._result is not None:
            counters = running_counters(self._result)
            if counters is not None:
                self._counters = counters
            gauges = running_watermarks(self._result)
            if gauges:
                self._watermarks, self._watermark_origin = gauges, "the reader's Beam gauges"
        if lags:
            try:
                if self._watch is None:
                    from pipeline.console.kafka_watch import KafkaWatch

                    self._watch = KafkaWatch(self._config)
                self._lags = self._watch.lags()
                self._lag_error = ""
                if self._watermark_origin != "the reader's Beam gauges":  # a runner that serves no gauges
                    self._poll_report()
            except Exception as e:  # a broker outage shows as a line, not a crash of the view
                self._lag_error = f"Kafka does not answer: {printable(str(e), 120)}"

    def _poll_report(self) -> None:
        """The reader's report in Kafka, this run's only (an earlier run of the group leaves one behind)."""
        try:
            report = [p for p in self._watch.watermarks() if (p.reported_ms or 0) >= self._started_wall_ms]
        except Exception:  # the report is an extra: a broker that does not give it now leaves the last one
            return
        if report:
            self._watermarks, self._watermark_origin = report, "the reader's report in Kafka"

    def _snapshot(self, finished: str = "") -> Snapshot:
        return Snapshot(
            self._config,
            self._state,
            time.monotonic() - self._started,
            datetime.now(timezone.utc),
            counters=self._counters,
            lags=self._lags,
            lag_error=self._lag_error,
            read_total=self._read_total,
            notes=tuple(self._redirect.notes),
            finished=finished,
            watermarks=self._watermarks,
            watermark_origin=self._watermark_origin,
        )
