"""A region of the terminal redrawn in place (rich's Live), and text from records made safe to show.

The region is redrawn only when `update` is called (no refresh thread of rich's own).
While it is shown, what the program prints to stdout or stderr is printed above it
instead of through it: rich's Live redirects sys.stdout/sys.stderr, and this module
also points the logging handlers that write to the terminal at rich's proxy (they
hold the stream they were created with). Output that other processes write straight
to the terminal (Prism's own log lines) is not routed; Prism is started quiet.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Optional, TextIO

from transforms.terminal_text import escape_controls

__all__ = ["LiveRegion", "is_terminal", "printable", "same_terminal"]


def printable(text: str, limit: Optional[int] = None) -> str:
    """`text` with control, format (bidi) and unassigned characters escaped (transforms/terminal_text.py),
    cut to `limit` characters with an ellipsis; plain text for rich.text.Text, which reads no markup."""
    text = escape_controls(text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text


def is_terminal(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def same_terminal(a, b) -> bool:
    """Both streams are the same terminal (a redraw on one would be broken by writes to the other)."""
    if not (is_terminal(a) and is_terminal(b)):
        return False
    try:
        return os.fstat(a.fileno()).st_rdev == os.fstat(b.fileno()).st_rdev
    except (AttributeError, ValueError, OSError):
        return False


def _stream_handlers():
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:
                yield handler


class LiveRegion:
    """Shows a renderable on `stream` (a terminal) and redraws it in place on each update()."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._live = None
        self._swapped: list = []

    def start(self, renderable) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self._stream, highlight=False, markup=False, emoji=False)
        other = sys.stderr if self._stream is sys.stdout else sys.stdout
        shared = same_terminal(self._stream, other)
        originals = {"stdout": sys.stdout, "stderr": sys.stderr}
        self._live = Live(
            renderable,
            console=console,
            auto_refresh=False,
            transient=False,
            vertical_overflow="crop",
            redirect_stdout=self._stream is sys.stdout or shared,
            redirect_stderr=self._stream is sys.stderr or shared,
        )
        self._live.start(refresh=True)
        # rich hides the cursor while it draws; a run ended by a signal (os._exit) would leave it hidden.
        console.show_cursor(True)
        # Logging handlers keep the stream they were given: send them through rich's proxy too.
        for name, original in originals.items():
            proxy = getattr(sys, name)
            if proxy is original:
                continue
            for handler in _stream_handlers():
                if handler.stream is original:
                    handler.setStream(proxy)
                    self._swapped.append((handler, original))

    def update(self, renderable) -> None:
        if self._live is not None:
            self._live.update(renderable, refresh=True)

    def stop(self, renderable=None) -> None:
        """Draws `renderable` (when given) a last time and leaves it on the screen."""
        if self._live is None:
            return
        try:
            if renderable is not None:
                self._live.update(renderable, refresh=True)
        finally:
            for handler, original in self._swapped:
                handler.setStream(original)
            self._swapped = []
            live, self._live = self._live, None
            live.stop()
