"""The one error type of the local stack, and helpers to make its messages useful."""

from __future__ import annotations

from pathlib import Path

__all__ = ["StackError", "read_log", "summarize_output"]

_MAX_LINE_CHARS = 300
_SIGNAL_WORDS = ("ERROR", "FATAL", "Exception", "Error:", "error:", "Caused by")


class StackError(RuntimeError):
    """A local service could not be fetched, built, started or stopped.

    The message is a single line that says what failed and, where there is
    one, the most telling part of the tool's output plus where the full log is.
    """


def summarize_output(text: str, lines: int = 5) -> str:
    """Condenses tool output into one line for an error message.

    Prefers the last lines that look like errors (``ERROR``, ``Exception``,
    ...); falls back to the last non-empty lines.

    Args:
        text: Output of a failed command or the content of a log file.
        lines: Maximum number of output lines to keep.

    Returns:
        The chosen lines, each trimmed, joined with `` | ``; ``"(no output)"``
        if there was nothing to show.
    """
    candidates = [line.strip() for line in text.splitlines() if line.strip()]
    if not candidates:
        return "(no output)"
    errors = [line for line in candidates if any(word in line for word in _SIGNAL_WORDS)]
    chosen = (errors or candidates)[-lines:]
    return " | ".join(_trim(line) for line in chosen)


def read_log(path: Path, since: int = 0, max_bytes: int = 256 * 1024) -> str:
    """Reads what a log file gained after byte offset ``since`` (at most its last ``max_bytes``).

    Args:
        path: Log file; a missing file reads as empty.
        since: Byte offset to start from, e.g. the file size before a launch.
            Ignored if the file is now shorter (it was rotated or truncated).
        max_bytes: Upper bound on the bytes read, taken from the end.

    Returns:
        The decoded text (undecodable bytes replaced).
    """
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            start = since if since <= size else 0
            handle.seek(max(start, size - max_bytes))
            return handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _trim(line: str) -> str:
    return line if len(line) <= _MAX_LINE_CHARS else line[: _MAX_LINE_CHARS - 3] + "..."
