"""WindowTokens: event-time windows, trigger, lateness and accumulation in one place."""

from __future__ import annotations

import math
from typing import Optional

import apache_beam as beam
from apache_beam.transforms import trigger as triggers
from apache_beam.transforms import window

__all__ = ["WindowTokens", "WINDOW_TYPES"]

WINDOW_TYPES = ("fixed", "sliding", "session", "global")


def _window_fn(kind: str, size_s, period_s, gap_s, offset_s):
    if kind == "fixed":
        return window.FixedWindows(size_s, offset_s)
    if kind == "sliding":
        return window.SlidingWindows(size_s, period_s, offset_s)
    if kind == "session":
        return window.Sessions(gap_s)
    if kind == "global":
        return window.GlobalWindows()
    raise ValueError(f"unknown window type {kind!r}; choose one of {', '.join(WINDOW_TYPES)}")


def _firing(spec) -> Optional[triggers.TriggerFn]:
    """A firing spec: None, seconds of processing time (float), or ('every_n', N)."""
    if spec is None:
        return None
    if isinstance(spec, tuple) and spec[0] == "every_n":
        return triggers.AfterCount(spec[1])
    # Beam Python's AfterProcessingTime only translates whole seconds (a float delay fails to
    # build the pipeline proto), so a fractional delay is rounded up.
    return triggers.AfterProcessingTime(math.ceil(spec))


class _NoteWindowCountFn(beam.DoFn):
    """TokenizedMessage -> the same, with `windows` set to how many windows its time falls into."""

    def __init__(self, window_fn: window.WindowFn):
        self._window_fn = window_fn

    def process(self, message, timestamp=beam.DoFn.TimestampParam):
        windows = self._window_fn.assign(window.WindowFn.AssignContext(timestamp))
        yield message._replace(windows=len(windows)) if hasattr(message, "windows") else message


class WindowTokens(beam.PTransform):
    """Assigns event-time windows with the configured trigger.

    Args:
        kind: fixed | sliding | session | global.
        size_s, period_s, gap_s, offset_s: the window's durations in seconds.
        early, late: optional firings: seconds of processing time after the first
            element of a pane, or ('every_n', N) for every N elements.
        repeat: for global windows, the repeated firing (same forms as early).
        allowed_lateness_s: how long after the watermark late data is still counted.
        accumulating: panes include earlier panes' data (else each pane is a delta).
    """

    def __init__(self, kind: str = "fixed", *, size_s: float = 60, period_s: Optional[float] = None,
                 gap_s: Optional[float] = None, offset_s: float = 0, early=None, late=None, repeat=None,
                 allowed_lateness_s: float = 0, accumulating: bool = False):
        super().__init__()
        self._window_fn = _window_fn(kind, size_s, period_s, gap_s, offset_s)
        if kind == "global":
            # A global window never closes: it fires on the repeated trigger only.
            repeated = _firing(repeat)
            self._trigger = triggers.Repeatedly(repeated) if repeated else triggers.DefaultTrigger()
        elif early is None and late is None:
            self._trigger = triggers.DefaultTrigger()
        else:
            # Speculative early panes, the on-time pane at the watermark, then late panes.
            self._trigger = triggers.AfterWatermark(early=_firing(early), late=_firing(late))
        self._allowed_lateness_s = allowed_lateness_s
        self._accumulation = (triggers.AccumulationMode.ACCUMULATING if accumulating
                              else triggers.AccumulationMode.DISCARDING)

    def expand(self, pcoll):
        if isinstance(self._window_fn, window.SlidingWindows):
            # A message counts in several windows; its offset is written once all their panes are.
            pcoll = pcoll | "NoteWindowCount" >> beam.ParDo(_NoteWindowCountFn(self._window_fn))
        return pcoll | "AssignWindows" >> beam.WindowInto(
            self._window_fn,
            trigger=self._trigger,
            allowed_lateness=self._allowed_lateness_s,
            accumulation_mode=self._accumulation,
        )
