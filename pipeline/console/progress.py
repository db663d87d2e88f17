"""Progress of a bounded read on stderr: records read of the total, the rate, the time left.

How it knows (chosen for cost and for every runner):

- The total is asked of Kafka when the job starts, as the reader will resolve it:
  for `stop: latest` the sum over partitions of (end offset - start offset), for
  `stop: {max_records: N}` N. Records produced between this look and the job's own
  are read as well, so the count may end a little above the total.
- The count is Beam's own `ReadFromKafka.records_read` counter, asked of the job
  service about once a second while the job runs (pipeline/console/live_counters.py): Prism
  serves it from the progress reports the SDK worker sends anyway, so nothing is
  added to the job's work. A runner that gives no counters while it runs falls back
  to the group's committed offsets (pipeline/console/kafka_watch.py): they are committed
  behind the written output, so that count says "written" and moves window by window.
  Beam's FnApiRunner (a bounded job with worker processes) returns only when the job
  is done and commits at its end: the line then shows the total and the time only.
- A thread of this process draws it: on a terminal, one line redrawn in place each
  second (rich), with what else is printed going above it; otherwise a plain line
  every 5 seconds (`progress: ...`), for CI and logs. A last line says the outcome.

`BEAM_TOKEN_COUNTS_PROGRESS=off` turns it off (`on` shows it for unbounded reads
with --duration too: then there is no total).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from typing import Optional

from pipeline.config import RunConfig
from pipeline.console.live_counters import READ, running_counters, total
from pipeline.console.terminal import LiveRegion, is_terminal
from transforms.compat import result_runs_on_job_service

__all__ = ["ProgressReporter", "format_progress", "progress_wanted"]

_ENV = "BEAM_TOKEN_COUNTS_PROGRESS"
_POLL_S = 1.0
_PLAIN_EVERY_S = 5.0
_RATE_SPAN_S = 10.0  # the rate is measured over this much of the recent past


def progress_wanted(config: RunConfig) -> bool:
    setting = os.environ.get(_ENV, "auto").strip().lower()
    if setting in ("off", "0", "no", "false"):
        return False
    return config.source.stop.bounded or setting in ("on", "1", "yes", "true")


def _count(n: int) -> str:
    return f"{n:,}"


def _span(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_progress(
    done: Optional[int],
    total_records: Optional[int],
    elapsed_s: float,
    rate: Optional[float],
    *,
    verb: str = "read",
    final: bool = False,
    note: str = "",
) -> str:
    """One progress line (no prefix): `read 3,000 of 5,000 records (60%), 1,020 records/s, about 2s left, 4s`."""
    if done is None and final and total_records == 0:
        return f"nothing to read (the topics had no records past the start), {_span(elapsed_s)}"
    if done is None:
        head = f"{_count(total_records)} records to read" if total_records is not None else "reading"
        parts = [head, f"{_span(elapsed_s)} elapsed"]
        return ", ".join(parts) + (f" ({note})" if note else "")
    if total_records is not None:
        shown_total = max(total_records, done)
        share = 100.0 if shown_total == 0 else 100.0 * done / shown_total
        head = f"{verb} {_count(done)} of {_count(shown_total)} records ({share:.0f}%)"
    else:
        head = f"{verb} {_count(done)} records"
    if final:
        average = done / elapsed_s if elapsed_s > 0 else 0.0
        parts = [f"{head} in {_span(elapsed_s)}", f"{_count(round(average))} records/s"]
    else:
        parts = [head]
        if total_records is not None and done >= total_records:
            parts.append("finishing the windows")
        elif rate is not None:
            parts.append(f"{_count(round(rate))} records/s")
            if total_records is not None and rate > 0:
                parts.append(f"about {_span((total_records - done) / rate)} left")
        parts.append(_span(elapsed_s))
    return ", ".join(parts) + (f" ({note})" if note else "")


class _Rate:
    """Records per second over the last few seconds of samples."""

    def __init__(self):
        self._samples: deque = deque()

    def add(self, t: float, done: int) -> Optional[float]:
        self._samples.append((t, done))
        while len(self._samples) > 2 and t - self._samples[1][0] >= _RATE_SPAN_S:
            self._samples.popleft()
        t0, d0 = self._samples[0]
        if t - t0 < 1.5 or done <= d0 and t - t0 < _RATE_SPAN_S:
            return None if done <= d0 else (done - d0) / max(t - t0, 1e-9)
        return (done - d0) / (t - t0)


class ProgressReporter:
    """Draws the progress of the job on `stream` (stderr) from a thread of its own until stop()."""

    def __init__(self, config: RunConfig, stream=None, terminal: Optional[bool] = None):
        self._config = config
        self._stream = stream if stream is not None else sys.stderr
        self._terminal = is_terminal(self._stream) if terminal is None else terminal
        self._result = None
        self._blocking_runner = False
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._region: Optional[LiveRegion] = None
        self._started = time.monotonic()
        self._plan = None
        self._watch = None
        self._rate = _Rate()
        self._last: tuple = (None, "read", "")  # done, verb, note
        self._rate_now: Optional[float] = None
        self._lock = threading.Lock()

    # -- the run's side --------------------------------------------------------------------
    def start(self) -> None:
        self._started = time.monotonic()
        if self._terminal:
            from rich.text import Text

            self._region = LiveRegion(self._stream)
            self._region.start(Text(self._line()))
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()

    def attach(self, result) -> None:
        """The job's result, once pipeline.run() has returned it."""
        self._result = result

    def runner_blocks(self) -> None:
        """pipeline.run() returns only when the job is done (FnApiRunner): no counts meanwhile."""
        self._blocking_runner = True

    def stop(self) -> None:
        """Ends the thread and writes the last line (the job is done, failed or cancelled)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=_POLL_S * 6)
        self._sample(final=True)
        line = self._line(final=True)
        if self._region is not None:
            from rich.text import Text

            self._region.stop(Text(line))
        else:
            print(f"progress: {line}", file=sys.stderr, flush=True)
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    # -- the thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            from pipeline.console.kafka_watch import KafkaWatch

            self._watch = KafkaWatch(self._config)
            self._plan = self._watch.read_plan()
        except Exception:  # Kafka unreachable: the job will say so; the line shows time only
            self._plan = None
        last_plain = time.monotonic()
        while not self._stopping.wait(_POLL_S):
            self._sample()
            if self._region is not None:
                from rich.text import Text

                self._region.update(Text(self._line()))
            elif time.monotonic() - last_plain >= _PLAIN_EVERY_S:
                last_plain = time.monotonic()
                print(f"progress: {self._line()}", file=sys.stderr, flush=True)

    def _sample(self, final: bool = False) -> None:
        """Asks the job (or Kafka) how far the read is; keeps the answer."""
        with self._lock:
            done, verb, note = self._read_count(final), "read", ""
            if done is None and self._last[1] == "read" and self._last[0] is not None:
                done = self._last[0]  # a poll that failed: keep the last answer
            elif done is None:
                written = self._written()
                if written:
                    done, verb = written, "written"
                elif self._result is None and self._blocking_runner:
                    note = "this runner reports no counts until the job ends"
            self._last = (done, verb, note)
            if done is not None:
                self._rate_now = self._rate.add(time.monotonic(), done)

    def _read_count(self, final: bool) -> Optional[int]:
        """Beam's records_read of the running job; None when the runner does not say (yet)."""
        if self._result is None:
            return None
        counters = running_counters(self._result)
        if counters is None and final and not result_runs_on_job_service(self._result):
            # A runner that returned when the job was done (FnApiRunner): its final counters.
            from pipeline.metrics_report import counter_totals

            counters = counter_totals(self._result)
        if not counters or READ[0] not in counters:
            return None
        return total(counters, READ)

    def _written(self) -> Optional[int]:
        """Records the group's commits have moved past since the start: what the job has written out."""
        if self._watch is None or self._plan is None or not self._config.source.group_id:
            return None
        from pipeline.console.kafka_watch import written_since

        try:
            return written_since(self._plan, self._watch.lags())
        except Exception:
            return None

    def _line(self, final: bool = False) -> str:
        done, verb, note = self._last
        elapsed = time.monotonic() - self._started
        plan_total = self._plan.total if self._plan is not None else None
        return format_progress(done, plan_total, elapsed, self._rate_now, verb=verb, final=final, note=note)
