"""WindowTokens: event-time windows, trigger, lateness and accumulation in one place.

`WindowSpec` says it all once: the windows, the firings, the allowed lateness and
the accumulation. WindowTokens assigns the windows it describes, and
SplitLateMessages (transforms/lateness.py) asks the same spec where an element's
last window ends, so the two can never disagree.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple, Optional, Union

import apache_beam as beam
from apache_beam.transforms import trigger as triggers
from apache_beam.transforms import window

__all__ = ["AfterSeconds", "EveryN", "Firing", "WindowSpec", "WindowTokens", "WINDOW_TYPES", "firing_of"]

WINDOW_TYPES = ("fixed", "sliding", "session", "global")


class EveryN(NamedTuple):
    """Fire after every `count` elements of a pane."""

    count: int


class AfterSeconds(NamedTuple):
    """Fire this long (processing time) after a pane's first element."""

    seconds: float


Firing = Union[EveryN, AfterSeconds]


def firing_of(value) -> Optional[Firing]:
    """A Firing from what configs give: None, seconds, ('every_n', N), or a Firing already."""
    if value is None or isinstance(value, (EveryN, AfterSeconds)):
        return value
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "every_n":
        return EveryN(int(value[1]))
    return AfterSeconds(float(value))


def _trigger_fn(firing: Optional[Firing]) -> Optional[triggers.TriggerFn]:
    if firing is None:
        return None
    if isinstance(firing, EveryN):
        return triggers.AfterCount(firing.count)
    # Beam Python's AfterProcessingTime only translates whole seconds (a float delay fails to
    # build the pipeline proto), so a fractional delay is rounded up.
    return triggers.AfterProcessingTime(math.ceil(firing.seconds))


@dataclass(frozen=True)
class WindowSpec:
    """Windows and their firings.

    Attributes:
        type: fixed | sliding | session | global.
        size_s, period_s, gap_s, offset_s: the window's durations in seconds.
        early, late: optional firings (EveryN or AfterSeconds; configs' forms are accepted).
        repeat: for global windows, the repeated firing.
        allowed_lateness_s: how long after the watermark late data is still counted.
        accumulating: panes include earlier panes' data (else each pane is a delta).
    """

    type: str = "fixed"
    size_s: float = 60.0
    period_s: Optional[float] = None
    gap_s: Optional[float] = None
    offset_s: float = 0.0
    early: Optional[Firing] = None
    late: Optional[Firing] = None
    repeat: Optional[Firing] = None
    allowed_lateness_s: float = 0.0
    accumulating: bool = False

    def __post_init__(self):
        if self.type not in WINDOW_TYPES:
            raise ValueError(f"unknown window type {self.type!r}; choose one of {', '.join(WINDOW_TYPES)}")
        for name in ("early", "late", "repeat"):
            object.__setattr__(self, name, firing_of(getattr(self, name)))

    def window_fn(self) -> window.WindowFn:
        if self.type == "fixed":
            return window.FixedWindows(self.size_s, self.offset_s)
        if self.type == "sliding":
            return window.SlidingWindows(self.size_s, self.period_s, self.offset_s)
        if self.type == "session":
            return window.Sessions(self.gap_s)
        return window.GlobalWindows()

    def trigger(self) -> triggers.TriggerFn:
        if self.type == "global":
            # A global window never closes: it fires on the repeated trigger only.
            repeated = _trigger_fn(self.repeat)
            return triggers.Repeatedly(repeated) if repeated else triggers.DefaultTrigger()
        if self.early is None and self.late is None:
            return triggers.DefaultTrigger()
        # Speculative early panes, the on-time pane at the watermark, then late panes.
        return triggers.AfterWatermark(early=_trigger_fn(self.early), late=_trigger_fn(self.late))

    @functools.cached_property
    def _last_window_us(self) -> tuple[int, int, int]:
        """(step, offset, size) in microseconds, as Beam's own assigner holds them: built once."""
        assigner = self.window_fn()
        step = assigner.size if isinstance(assigner, window.FixedWindows) else assigner.period
        return step.micros, assigner.offset.micros, assigner.size.micros

    def latest_window_end_us(self, timestamp_us: int) -> Optional[int]:
        """The end of the last window an element at this time belongs to; None: it never closes.

        Beam's window assignment in integers (the late split asks for every message): the last
        window starts at the latest step boundary at or before the element. A session is at
        least its element plus the gap.
        """
        if self.type == "global":
            return None
        if self.type == "session":
            return timestamp_us + int(self.gap_s * 1e6)
        step_us, offset_us, size_us = self._last_window_us
        return timestamp_us - (timestamp_us - offset_us) % step_us + size_us


class _NoteWindowCountFn(beam.DoFn):
    """TokenizedMessage -> the same, with `windows` set to how many windows its time falls into."""

    def __init__(self, window_fn: window.WindowFn):
        self._window_fn = window_fn

    def process(self, message, timestamp=beam.DoFn.TimestampParam):
        windows = self._window_fn.assign(window.WindowFn.AssignContext(timestamp))
        yield message._replace(windows=len(windows)) if hasattr(message, "windows") else message


class WindowTokens(beam.PTransform):
    """Assigns the event-time windows and trigger of a WindowSpec.

    Takes a WindowSpec, or the spec's fields as arguments: WindowTokens("fixed", size_s=10).
    """

    def __init__(self, spec: Union[WindowSpec, str, None] = None, *, kind: str = "fixed", **fields):
        super().__init__()
        spec = spec if spec is not None else kind
        self._spec = spec if isinstance(spec, WindowSpec) else WindowSpec(spec, **fields)

    def expand(self, pcoll):
        window_fn = self._spec.window_fn()
        if isinstance(window_fn, window.SlidingWindows):
            # A message counts in several windows; its offset is written once all their panes are.
            pcoll = pcoll | "NoteWindowCount" >> beam.ParDo(_NoteWindowCountFn(window_fn))
        return pcoll | "AssignWindows" >> beam.WindowInto(
            window_fn,
            trigger=self._spec.trigger(),
            allowed_lateness=self._spec.allowed_lateness_s,
            accumulation_mode=(
                triggers.AccumulationMode.ACCUMULATING
                if self._spec.accumulating
                else triggers.AccumulationMode.DISCARDING
            ),
        )
