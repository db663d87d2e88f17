"""Keeps known, harmless runner noise off the terminal, and records' control characters out of log lines.

Prism (Beam 2.77) copies a splittable DoFn's "requests finalization" flag to the
stage that only pairs and sizes its restrictions, then asks the SDK worker to
finalize that stage's bundles; the worker has nothing to finalize there and
prints a traceback ("Bundle is not in a finalizable state"). Offsets are
committed by the reading stage, whose finalization works. `-v` shows everything.

`escape_log_lines` escapes control characters in every log line (a record's text
can reach a log message); `prepare_worker_processes` sets up the start of the
worker processes a run starts (pipeline/worker_site/sitecustomize.py).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from transforms.terminal_text import escape_controls

__all__ = ["escape_log_lines", "prepare_worker_processes", "quiet_known_runner_noise"]

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
