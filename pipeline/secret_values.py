"""Secrets: values a config read from the environment (`${NAME}`) are never printed.

The config layer records every value it substitutes (`remember`). Whatever key
holds it, its text is replaced by `${NAME}` in every message this process writes:
ConfigError messages redact themselves, and `guard_output` wraps stdout and
stderr (and so the logging handlers that write to them, Beam's included) so that
a value cannot leak through a print or a log line. Output that other processes
write straight to the terminal (Prism, the JVMs) does not pass through here;
they are not given the config's secrets, except pipeline options.
"""

from __future__ import annotations

import io
import sys
import threading
from typing import TextIO

__all__ = ["MIN_SECRET_LENGTH", "guard_output", "redact", "remember"]

# Shorter values ("1", "on") would turn every message into a row of ${NAME}s; a
# value this short is no secret worth the name, and is left as it is.
MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_values: dict[str, str] = {}  # substituted value -> "${NAME}"


def remember(name: str, value: str) -> None:
    """Records that `value` came from the environment variable `name`."""
    if len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _values[value] = "${" + name + "}"


def redact(text: str) -> str:
    """`text` with every remembered value replaced by the `${NAME}` it came from."""
    if not _values or not isinstance(text, str):
        return text
    with _lock:
        pairs = sorted(_values.items(), key=lambda pair: -len(pair[0]))  # longest first: no partial overlap
    for value, reference in pairs:
        if value in text:
            text = text.replace(value, reference)
    return text


class _RedactingStream(io.TextIOBase):
    """A text stream that redacts what it writes and passes everything else to `stream`."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return getattr(self._stream, "encoding", "utf-8")

    @property
    def errors(self):
        return getattr(self._stream, "errors", "strict")

    @property
    def buffer(self):
        # Binary writes bypass redaction; nothing in this project writes config values there.
        return self._stream.buffer

    def __getattr__(self, name):
        return getattr(self._stream, name)


def guard_output() -> None:
    """Wraps sys.stdout and sys.stderr (once) so that remembered values are never written.

    Call it before logging is configured, so that the log handlers write through it.
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _RedactingStream):
            setattr(sys, name, _RedactingStream(stream))
