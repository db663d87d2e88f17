"""Keeps one known, harmless runner error off the terminal.

Prism (Beam 2.77) copies a splittable DoFn's "requests finalization" flag to the
stage that only pairs and sizes its restrictions, then asks the SDK worker to
finalize that stage's bundles; the worker has nothing to finalize there and
prints a traceback ("Bundle is not in a finalizable state"). Offsets are
committed by the reading stage, whose finalization works. `-v` shows everything.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["quiet_known_runner_noise"]

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
