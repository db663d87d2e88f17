"""Windows and triggers, pane by pane: a table of scripted streams run with TestStream.

Each scenario is a window, a trigger, a scripted stream (elements with event
times, watermark advances, processing-time advances) and the exact panes it
must produce: (window start, pane timing, pane index, token counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from transforms.counting import CountTokens
from transforms.text.tokenize import TokenizedMessage
from transforms.windowing import WindowTokens

T0 = 1_767_600_000  # 2026-01-05T08:00:00Z, a whole minute


@dataclass(frozen=True)
class Scenario:
    name: str
    window: dict
    trigger: dict
    events: list  # ("add", [(text, seconds after T0)]), ("watermark", s), ("ptime", s)
    panes: set  # (window start s after T0 or None, timing, index, ((token, count), ...))
    options: dict = field(default_factory=dict)


def _pane(start, timing, index, **counts):
    return (start, timing, index, tuple(sorted(counts.items())))


SCENARIOS = [
    Scenario(
        "fixed, default trigger: one on-time pane per window",
        {"type": "fixed", "size_s": 10},
        {},
        [("add", [("a b", 1), ("a", 9), ("c", 12)]), ("watermark", 30)],
        {_pane(0, "ON_TIME", 0, a=2, b=1), _pane(10, "ON_TIME", 0, c=1)},
    ),
    Scenario(
        "fixed, out of order within the watermark: still on time",
        {"type": "fixed", "size_s": 10},
        {},
        [("add", [("x", 8)]), ("watermark", 5), ("add", [("y", 2)]), ("watermark", 30)],
        {_pane(0, "ON_TIME", 0, x=1, y=1)},
    ),
    Scenario(
        "late record inside allowed lateness: a LATE pane, discarding",
        {"type": "fixed", "size_s": 10},
        {"allowed_lateness_s": 10, "late": ("every_n", 1)},
        [("add", [("a", 1)]), ("watermark", 12), ("add", [("b", 3)]), ("watermark", 40)],
        {_pane(0, "ON_TIME", 0, a=1), _pane(0, "LATE", 1, b=1)},
    ),
    Scenario(
        "late record inside allowed lateness: accumulating repeats the earlier data",
        {"type": "fixed", "size_s": 10},
        {"allowed_lateness_s": 10, "late": ("every_n", 1), "accumulation": "accumulating"},
        [("add", [("a", 1)]), ("watermark", 12), ("add", [("b", 3)]), ("watermark", 40)],
        {_pane(0, "ON_TIME", 0, a=1), _pane(0, "LATE", 1, a=1, b=1)},
    ),
    # Beam Python drops a record when watermark > window end + allowed lateness
    # (trigger.py); Prism and Java use max_timestamp, so they drop one millisecond sooner.
    Scenario(
        "lateness boundary: a record that arrives when the watermark is exactly at window end + lateness counts",
        {"type": "fixed", "size_s": 10},
        {"allowed_lateness_s": 5, "late": ("every_n", 1)},
        [("add", [("a", 1)]), ("watermark", 15), ("add", [("b", 2)]), ("watermark", 40)],
        {_pane(0, "ON_TIME", 0, a=1), _pane(0, "LATE", 1, b=1)},
    ),
    Scenario(
        "lateness boundary: one millisecond past window end + lateness, the record is dropped",
        {"type": "fixed", "size_s": 10},
        {"allowed_lateness_s": 5, "late": ("every_n", 1)},
        [("add", [("a", 1)]), ("watermark", 15.001), ("add", [("b", 2)]), ("watermark", 40)],
        {_pane(0, "ON_TIME", 0, a=1)},
    ),
    Scenario(
        "zero allowed lateness: a record behind the watermark is dropped",
        {"type": "fixed", "size_s": 10},
        {},
        [("add", [("a", 1)]), ("watermark", 10.001), ("add", [("b", 2)]), ("watermark", 40)],
        {_pane(0, "ON_TIME", 0, a=1)},
    ),
    Scenario(
        "early firing after a processing-time delay, then on time (discarding)",
        {"type": "fixed", "size_s": 10},
        {"early": 5},
        [("add", [("a", 1)]), ("ptime", 6), ("add", [("b", 2)]), ("watermark", 30)],
        {_pane(0, "EARLY", 0, a=1), _pane(0, "ON_TIME", 1, b=1)},
    ),
    Scenario(
        "early firing every 2 elements, accumulating",
        {"type": "fixed", "size_s": 10},
        {"early": ("every_n", 2), "accumulation": "accumulating"},
        [("add", [("a", 1), ("b", 2)]), ("watermark", 5), ("add", [("c", 3)]), ("watermark", 30)],
        {_pane(0, "EARLY", 0, a=1, b=1), _pane(0, "ON_TIME", 1, a=1, b=1, c=1)},
    ),
    Scenario(
        "idle processing time without elements fires nothing early",
        {"type": "fixed", "size_s": 10},
        {"early": 5},
        [("ptime", 20), ("add", [("a", 1)]), ("watermark", 30)],
        {_pane(0, "ON_TIME", 0, a=1)},
    ),
    Scenario(
        "sliding windows: a record counts in every window that covers it",
        {"type": "sliding", "size_s": 10, "period_s": 5},
        {},
        [("add", [("a", 7), ("b", 12)]), ("watermark", 40)],
        {_pane(0, "ON_TIME", 0, a=1), _pane(5, "ON_TIME", 0, a=1, b=1), _pane(10, "ON_TIME", 0, b=1)},
    ),
    Scenario(
        "session windows merge records closer than the gap",
        {"type": "session", "gap_s": 5},
        {},
        [("add", [("a", 1), ("b", 4), ("c", 20)]), ("watermark", 60)],
        {_pane(1, "ON_TIME", 0, a=1, b=1), _pane(20, "ON_TIME", 0, c=1)},
    ),
    Scenario(
        "global window with a repeated count trigger",
        {"type": "global"},
        {"repeat": ("every_n", 2)},
        [("add", [("a", 1), ("b", 2)]), ("watermark", 5), ("add", [("c", 3), ("d", 4)]), ("watermark", 9)],
        {_pane(None, "EARLY", 0, a=1, b=1), _pane(None, "EARLY", 1, c=1, d=1)},
    ),
]


def _stream(events) -> TestStream:
    stream = TestStream()
    for kind, value in events:
        if kind == "add":
            stream.add_elements(
                [TimestampedValue(TokenizedMessage(None, tuple(text.split())), T0 + ts) for text, ts in value]
            )
        elif kind == "watermark":
            stream.advance_watermark_to(T0 + value)
        else:
            stream.advance_processing_time(value)
    return stream.advance_watermark_to_infinity()


def _observed(row) -> tuple:
    """(window start s after T0 or None, timing, index, ((token, count), ...)) of a top row."""
    start = None
    if row["window_start"] is not None:
        start = round(datetime.fromisoformat(row["window_start"]).timestamp() - T0, 3)
    return start, row["pane_timing"], row["pane_index"], tuple(sorted((t, n) for t, n in row["top"]))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_produces_exactly_the_expected_panes(scenario: Scenario):
    options = PipelineOptions(runner="BundleBasedDirectRunner")
    options.view_as(StandardOptions).streaming = True
    with TestPipeline(options=options) as p:
        rows = (
            p
            | _stream(scenario.events)
            | WindowTokens(**scenario.window, **scenario.trigger)
            # A top row with room for every token is the whole pane.
            | CountTokens(top_k=100, emit_counts=False)
            | beam.Filter(lambda row: row["kind"] == "top")
            | beam.Map(_observed)
        )
        assert_that(rows, equal_to(list(scenario.panes)), use_global_window=True)
