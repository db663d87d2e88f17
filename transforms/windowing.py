"""WindowTokens: event-time windows, trigger, lateness and accumulation in one place.

`WindowSpec` says it all once: the windows, the firings, the allowed lateness and
the accumulation. WindowTokens assigns the windows it describes, and
SplitLateMessages (transforms/lateness.py) asks the same spec where an element's
last window ends, so the two can never disagree.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields
from typing import Annotated, Any, Mapping, Optional, Union

import apache_beam as beam
from apache_beam.transforms import trigger as triggers
from apache_beam.transforms import window
from pydantic import Field, TypeAdapter, WithJsonSchema, model_validator

from transforms.spec import Duration, Int, Spec, SpecError, build, named_choice, one_of, parse_duration, plain, spec

__all__ = [
    "AfterSeconds",
    "EveryN",
    "Firing",
    "Triggering",
    "WindowSpec",
    "WindowTokens",
    "Windows",
    "WINDOW_TYPES",
    "MAX_WINDOWS_PER_ELEMENT",
]

WINDOW_TYPES = ("fixed", "sliding", "session", "global")
# Windows one element may fall into (sliding size / period): each costs a copy of every token count.
MAX_WINDOWS_PER_ELEMENT = 1000


@spec(json_schema_extra={"required": ["every_n"]})
class EveryN(Spec):
    """A firing after every N elements."""

    every_n: Annotated[Optional[Int], WithJsonSchema({"type": "integer", "minimum": 1})] = None

    @model_validator(mode="after")
    def _check(self):
        if self.every_n is None or self.every_n < 1:
            raise SpecError("every_n", "must be an integer of at least 1")
        return self


@dataclass(frozen=True)
class AfterSeconds:
    """A firing this long (processing time) after a pane's first element."""

    seconds: float


_EVERY_N = TypeAdapter(EveryN)


def _firing(value: Any) -> Union[EveryN, AfterSeconds]:
    """A firing from a duration (processing time) or {every_n: N}; ("every_n", N) is {every_n: N} too."""
    if isinstance(value, (EveryN, AfterSeconds)):
        return value
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "every_n":
        value = {"every_n": value[1]}
    if isinstance(value, Mapping):
        return _EVERY_N.validate_python(value)
    try:
        seconds = parse_duration(value)
    except ValueError as e:
        raise ValueError(f"{e}, or {{every_n: N}}") from None
    if seconds <= 0:
        raise ValueError("must be greater than 0")
    return AfterSeconds(seconds)


Firing = Annotated[Union[EveryN, AfterSeconds], plain(_firing, Union[Duration, EveryN])]


def _trigger_fn(firing: Optional[Union[EveryN, AfterSeconds]]) -> Optional[triggers.TriggerFn]:
    if firing is None:
        return None
    if isinstance(firing, EveryN):
        return triggers.AfterCount(firing.every_n)
    # Beam Python's AfterProcessingTime only translates whole seconds (a float delay fails to
    # build the pipeline proto), so a fractional delay is rounded up.
    return triggers.AfterProcessingTime(math.ceil(firing.seconds))


@spec
class Windows(Spec):
    """How tokens are grouped in event time: fixed(size), sliding(size, period), session(gap), global."""

    type: named_choice("window type", WINDOW_TYPES) = "fixed"
    size_s: Duration = Field(60.0, alias="size")
    """Window length (fixed, sliding)."""
    period_s: Optional[Duration] = Field(None, alias="period")
    """How often a sliding window starts: at most size, at least size / 1000."""
    gap_s: Optional[Duration] = Field(None, alias="gap")
    """The inactivity gap that closes a session."""
    offset_s: Duration = Field(0.0, alias="offset")
    """Shifts fixed and sliding window boundaries."""

    @model_validator(mode="after")
    def _check(self):
        if self.type in ("fixed", "sliding") and self.size_s <= 0:
            raise SpecError("size", "must be greater than 0")
        if self.type == "sliding":
            if not self.period_s:
                raise SpecError("period", "a sliding window needs a period greater than 0")
            if self.period_s > self.size_s:
                raise SpecError("period", f"must not exceed size ({self.size_s:g}s)")
            windows = math.ceil(self.size_s / self.period_s)
            if windows > MAX_WINDOWS_PER_ELEMENT:
                raise SpecError(
                    "period",
                    f"size {self.size_s:g}s / period {self.period_s:g}s puts each element "
                    f"into {windows} windows; at most {MAX_WINDOWS_PER_ELEMENT} are allowed",
                )
        if self.type == "session" and not self.gap_s:
            raise SpecError("gap", "a session window needs a gap greater than 0")
        return self


@spec
class Triggering(Spec):
    """When panes fire, how late records may come, and what a pane holds."""

    allowed_lateness_s: Duration = Field(0.0, alias="allowed_lateness")
    """How long after the watermark passes a window's end late records still count."""
    accumulation: one_of("discarding", "accumulating") = "discarding"
    """discarding: a pane holds what arrived since the last one; accumulating: everything so far."""
    early: Optional[Firing] = None
    """Early firings: a processing-time delay after the pane's first record (5s) or {every_n: N}."""
    late: Optional[Firing] = None
    """Late firings, same forms; needs allowed_lateness > 0."""
    repeat: Optional[Firing] = None
    """global windows only, required there: the repeated firing."""

    @model_validator(mode="after")
    def _check(self):
        if self.late is not None and self.allowed_lateness_s == 0:
            raise SpecError("late", "late firings need trigger.allowed_lateness greater than 0")
        return self

    @property
    def accumulating(self) -> bool:
        return self.accumulation == "accumulating"

    def firings(self) -> dict:
        """The firings that are set, by key: early, late, repeat."""
        return {name: getattr(self, name) for name in ("early", "late", "repeat") if getattr(self, name) is not None}


@dataclass(frozen=True)
class WindowSpec:
    """Windows and their firings: what WindowTokens assigns and SplitLateMessages checks against."""

    windows: Windows = field(default_factory=Windows)
    trigger: Triggering = field(default_factory=Triggering)

    @classmethod
    def of(cls, type: str = "fixed", **settings) -> WindowSpec:
        """A spec from the fields of Windows and Triggering together: WindowSpec.of("fixed", size_s=10, early=2)."""
        names = {f.name for f in fields(Windows)}
        return cls(
            build(Windows, type=type, **{k: v for k, v in settings.items() if k in names}),
            build(Triggering, **{k: v for k, v in settings.items() if k not in names}),
        )

    def window_fn(self) -> window.WindowFn:
        w = self.windows
        if w.type == "fixed":
            return window.FixedWindows(w.size_s, w.offset_s)
        if w.type == "sliding":
            return window.SlidingWindows(w.size_s, w.period_s, w.offset_s)
        if w.type == "session":
            return window.Sessions(w.gap_s)
        return window.GlobalWindows()

    def trigger_fn(self) -> triggers.TriggerFn:
        t = self.trigger
        if self.windows.type == "global":
            # A global window never closes: it fires on the repeated trigger only.
            repeated = _trigger_fn(t.repeat)
            return triggers.Repeatedly(repeated) if repeated else triggers.DefaultTrigger()
        if t.early is None and t.late is None:
            return triggers.DefaultTrigger()
        # Speculative early panes, the on-time pane at the watermark, then late panes.
        return triggers.AfterWatermark(early=_trigger_fn(t.early), late=_trigger_fn(t.late))

    @functools.cached_property
    def _last_window_us(self) -> tuple[int, int, int]:
        """(step, offset, size) in microseconds, as Beam's own assigner holds them: built once."""
        assigner = self.window_fn()
        step = assigner.size if isinstance(assigner, window.FixedWindows) else assigner.period
        return step.micros, assigner.offset.micros, assigner.size.micros

    def window_ends_us(self, timestamp_us: int) -> Optional[list[int]]:
        """The ends of every window an element at this time belongs to, latest first; None: it never closes.

        Beam's assignment in integers: sliding windows start every period, the last at the latest
        step boundary at or before the element, back to the first that still holds it.
        """
        last_end = self.latest_window_end_us(timestamp_us)
        if last_end is None or self.windows.type != "sliding":
            return None if last_end is None else [last_end]
        step_us, _, size_us = self._last_window_us
        ends = []
        end = last_end
        while end > timestamp_us and end - size_us <= timestamp_us:
            ends.append(end)
            end -= step_us
        return ends

    def latest_window_end_us(self, timestamp_us: int) -> Optional[int]:
        """The end of the last window an element at this time belongs to; None: it never closes.

        Beam's window assignment in integers (the late split asks for every message): the last
        window starts at the latest step boundary at or before the element. A session is at
        least its element plus the gap.
        """
        if self.windows.type == "global":
            return None
        if self.windows.type == "session":
            return timestamp_us + int(self.windows.gap_s * 1e6)
        step_us, offset_us, size_us = self._last_window_us
        return timestamp_us - (timestamp_us - offset_us) % step_us + size_us


class _NoteWindowCountFn(beam.DoFn):
    """TokenizedMessage -> the same, with `windows` set to how many windows will count it.

    That is every window its time falls into but those SplitLateMessages found closed
    (`late_windows`): the runner drops it from those, and late_record rows stand for them.
    """

    def __init__(self, window_fn: window.WindowFn):
        self._window_fn = window_fn

    def process(self, message, timestamp=beam.DoFn.TimestampParam):
        if not hasattr(message, "windows"):
            yield message
            return
        windows = self._window_fn.assign(window.WindowFn.AssignContext(timestamp))
        yield message._replace(windows=len(windows) - getattr(message, "late_windows", 0))


class WindowTokens(beam.PTransform):
    """Assigns the event-time windows and trigger of a WindowSpec.

    Takes a WindowSpec, or the fields of Windows and Triggering: WindowTokens("fixed", size_s=10).
    """

    def __init__(self, spec: Union[WindowSpec, str, None] = None, **settings):
        super().__init__()
        self._spec = (
            spec if isinstance(spec, WindowSpec) else WindowSpec.of(spec or settings.pop("type", "fixed"), **settings)
        )

    def expand(self, pcoll):
        window_fn = self._spec.window_fn()
        if isinstance(window_fn, window.SlidingWindows):
            # A message counts in several windows; its offset is written once all their panes are.
            pcoll = pcoll | "NoteWindowCount" >> beam.ParDo(_NoteWindowCountFn(window_fn))
        return pcoll | "AssignWindows" >> beam.WindowInto(
            window_fn,
            trigger=self._spec.trigger_fn(),
            allowed_lateness=self._spec.trigger.allowed_lateness_s,
            accumulation_mode=(
                triggers.AccumulationMode.ACCUMULATING
                if self._spec.trigger.accumulating
                else triggers.AccumulationMode.DISCARDING
            ),
        )
