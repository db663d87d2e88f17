"""Keeps the runner's noise off the terminal: known harmless messages, the tracebacks of a failed job,
Beam's warnings about options it passes on, and records' control characters in log lines.

Prism (Beam 2.77) copies a splittable DoFn's "requests finalization" flag to the
stage that only pairs and sizes its restrictions, then asks the SDK worker to
finalize that stage's bundles; the worker has nothing to finalize there and
prints a traceback ("Bundle is not in a finalizable state"). The reader no longer
asks for bundle finalization (offsets are committed by the CommitOffsets step
behind the sinks, transforms/kafka/commit.py); the filter stays for a DoFn that does.

A failing bundle is reported by the SDK worker, by Prism, by the job service and by
the worker's threads as the job ends: 11 to 15 tracebacks of one error. `RunnerErrors`
holds the runner's error reports while a job runs: a job that fails ends with one line
of the CLI's (pipeline/console/job_failure.py); an error the job outlives (a bundle
retried, a Flink restart) is shown once, as one line, when the job still runs
`_OUTLIVED_S` later. `-v` shows everything, as it comes.

Beam warns "Unparseable argument" for every pipeline option that no Python options
class declares, such as the Flink runner options the Java job server reads
(`checkpointing_interval`, `shutdown_sources_after_idle_ms`):
`quiet_passed_through_options` drops those warnings for the options the project knows
the job server takes (pipeline/preflight.py), and leaves every other one.

`escape_log_lines` escapes control characters in every log line (a record's text
can reach a log message); `prepare_worker_processes` sets up the start of the
worker processes a run starts (pipeline/worker_site/sitecustomize.py).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable, Optional

from transforms.terminal_text import escape_controls

__all__ = [
    "RunnerErrors",
    "escape_log_lines",
    "prepare_worker_processes",
    "quiet_known_runner_noise",
    "quiet_passed_through_options",
]

_WORKER_SITE = Path(__file__).resolve().parent / "worker_site"

_KNOWN_NOISE = ("Bundle is not in a finalizable state",)


def _is_noise(text: str) -> bool:
    return any(marker in text for marker in _KNOWN_NOISE)


class _DropKnownNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _is_noise(record.getMessage())


class _FilteredStream:
    """A text stream that drops writes carrying the known noise (the SDK prints it too)."""

    def __init__(self, stream):
        self._stream = stream
        self._dropped_last = False

    def write(self, text: str) -> int:
        # print() writes its line end separately: drop it with the noise.
        dropped = _is_noise(text) or (self._dropped_last and text == "\n")
        self._dropped_last = dropped
        return len(text) if dropped else self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def quiet_known_runner_noise() -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropKnownNoise())
    if not isinstance(sys.stderr, _FilteredStream):
        sys.stderr = _FilteredStream(sys.stderr)


class _EscapingFormatter(logging.Formatter):
    """Formats with the handler's own formatter, then escapes control characters (newlines stay)."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self._inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(self._inner.format(record), keep_lines=True)


def escape_log_lines() -> None:
    """Every handler of the root logger escapes ESC, C0/C1 controls and bidi overrides in its lines."""
    for handler in logging.getLogger().handlers:
        if not isinstance(handler.formatter, _EscapingFormatter):
            handler.setFormatter(_EscapingFormatter(handler.formatter))


def prepare_worker_processes() -> None:
    """Python processes started from now on run pipeline/worker_site/sitecustomize.py first."""
    if not (_WORKER_SITE / "sitecustomize.py").is_file():
        return
    entries = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    if str(_WORKER_SITE) not in entries:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(_WORKER_SITE), *entries])


# --- "Unparseable argument" for options Beam passes on ------------------------------------------

_UNPARSEABLE = re.compile(r"^Unparseable argument: --(?P<name>[\w-]+)(?:=|$| )")


class _DropPassedThroughOptions(logging.Filter):
    """Drops Beam's "Unparseable argument: --NAME=..." for the options the Flink job server reads."""

    def __init__(self, names: frozenset):
        super().__init__()
        self._names = names

    def filter(self, record: logging.LogRecord) -> bool:
        match = _UNPARSEABLE.match(record.getMessage())
        return not (match and match.group("name") in self._names)


def quiet_passed_through_options() -> None:
    """Beam's pipeline options logger stops warning about the Flink runner options it hands to the job server.

    PipelineOptions warns once per option that no Python options class declares
    (`Pipeline.run`, `get_all_options(display_warnings=True)`); the Java job server
    declares and reads these (pipeline/preflight.py FLINK_JOB_SERVER_OPTIONS). Every
    other unknown option is still warned about (and refused by `validate` first).
    """
    from pipeline.preflight import FLINK_JOB_SERVER_OPTIONS

    beam_options = logging.getLogger("apache_beam.options.pipeline_options")
    if not any(isinstance(f, _DropPassedThroughOptions) for f in beam_options.filters):
        beam_options.addFilter(_DropPassedThroughOptions(FLINK_JOB_SERVER_OPTIONS))


# --- a failing job's tracebacks ----------------------------------------------------------------

# How long a job must outlive an error it reported before `RunnerErrors` shows it.
_OUTLIVED_S = 10.0
# The loggers of the runner: Beam's modules, Prism's output (renamed by Beam's PrismRunnerLogFilter),
# the job service's messages (logged on the root logger by Beam's PipelineResult).
_RUNNER_LOGGERS = ("apache_beam", "PrismRunner", "SdkWorker", "root")


def _from_runner(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR and record.name.split(".", 1)[0].split("@", 1)[0] in _RUNNER_LOGGERS


def _record_text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        text += "\n" + "".join(traceback.format_exception(*record.exc_info))
    elif record.exc_text:
        text += "\n" + record.exc_text
    return text


class _HoldRunnerErrors(logging.Filter):
    def __init__(self, errors: "RunnerErrors"):
        super().__init__()
        self._errors = errors

    def filter(self, record: logging.LogRecord) -> bool:
        if not _from_runner(record):
            return True
        self._errors.hold(_record_text(record))
        return False


class _HoldPrintedTracebacks:
    """A text stream that hands what a thread other than the main one prints as a traceback to `hold`
    (Beam's SDK worker prints each failed instruction's traceback to stderr, besides logging it)."""

    def __init__(self, stream, hold: Callable[[str], None]):
        self._stream = stream
        self._hold = hold
        self._held_last = False

    def write(self, text: str) -> int:
        held = threading.current_thread() is not threading.main_thread() and (
            "Traceback (most recent call last):" in text or (self._held_last and text == "\n")
        )
        self._held_last = held
        if held:
            self._hold(text)
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class RunnerErrors:
    """Holds the runner's error reports (logged at ERROR, or a thread's uncaught exception) while a job runs.

    A job that fails ends with one line of the CLI's; what it held is dropped. An error
    the job outlives by `outlived_s` (a bundle retried, a Flink restart) is shown once per
    distinct description, as one line (`describe` makes it from the error's text). Once the
    job has ended (`job_ended`), the runner's error reports are dropped: its workers and
    services see the job go.
    """

    def __init__(
        self,
        describe: Callable[[str], str],
        stream=None,
        outlived_s: float = _OUTLIVED_S,
    ):
        self._describe = describe
        self._stream = stream
        self._outlived_s = outlived_s
        self._ended = threading.Event()
        self._lock = threading.Lock()
        self._seen: set = set()
        self._timers: list = []
        self._filter = _HoldRunnerErrors(self)
        self._saved_excepthook: Optional[Callable] = None

    def install(self) -> "RunnerErrors":
        for handler in logging.getLogger().handlers:
            handler.addFilter(self._filter)
        self._saved_excepthook = threading.excepthook
        threading.excepthook = self._thread_failed
        sys.stderr = _HoldPrintedTracebacks(sys.stderr, self.hold)
        return self

    def _thread_failed(self, args) -> None:
        if args.exc_type is SystemExit:
            return
        self.hold("".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    def hold(self, text: str) -> None:
        if self._ended.is_set() or not text.strip():
            return
        try:
            line = self._describe(text)
        except Exception:  # a description never fails the run
            line = text.strip().splitlines()[-1] if text.strip() else "unknown error"
        with self._lock:
            if line in self._seen:
                return
            self._seen.add(line)
            timer = threading.Timer(self._outlived_s, self._show, (line,))
            timer.daemon = True
            self._timers.append(timer)
        timer.start()

    def _show(self, line: str) -> None:
        if self._ended.is_set():
            return
        stream = self._stream or sys.stderr
        try:
            print(f"warning: the runner reported an error and the job goes on: {line} (-v shows it whole)", file=stream)
            stream.flush()
        except Exception:  # a closed terminal: nothing to show it on
            pass

    def job_ended(self) -> None:
        """The job is over (done, failed or cancelled): what it held is dropped, and so is what comes next."""
        self._ended.set()
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
