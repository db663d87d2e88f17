"""CountTokens: per-token counts, top-K and a summary per window and pane.

Each message's tokens cross the shuffle as one element, and the combiner is
lifted, so every bundle sends one partial Counter per window downstream instead
of one element per token (DESIGN decision 5).

The counts are keyed by their window rather than combined globally: a global
combine puts every window on one key, so one worker merges and writes all of
them while the others wait. Keyed by window, the windows spread over the
workers after the shuffle; the groups, and so the panes, are the same, because
the key follows from the window. Merging windows (sessions) keep a single key:
their windows are only known after the merge.
"""

from __future__ import annotations

import heapq
from collections import Counter
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any, Iterable, NamedTuple, Optional, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import PaneInfoTiming

from transforms.tokenize import TokenizedMessage

__all__ = ["CountTokens", "WindowCounts", "MergeCountsFn", "by_count", "top_tokens", "pane_fields"]

_TIMING_NAMES = {
    PaneInfoTiming.EARLY: "EARLY",
    PaneInfoTiming.ON_TIME: "ON_TIME",
    PaneInfoTiming.LATE: "LATE",
    PaneInfoTiming.UNKNOWN: "UNKNOWN",
}


class WindowCounts(NamedTuple):
    """What a window's pane holds: how many messages and each token's count."""

    messages: int
    counts: dict


class MergeCountsFn(beam.CombineFn):
    """TokenizedMessages -> WindowCounts; partial Counters merge cheaply."""

    def create_accumulator(self):
        return [0, Counter()]

    def add_input(self, accumulator, message: TokenizedMessage):
        accumulator[0] += 1
        accumulator[1].update(message.tokens)
        return accumulator

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for messages, counts in accumulators:
            merged[0] += messages
            merged[1].update(counts)
        return merged

    def extract_output(self, accumulator) -> WindowCounts:
        return WindowCounts(accumulator[0], dict(accumulator[1]))


def top_tokens(counts: dict, k: int) -> list:
    """The k most frequent tokens as [token, count], ties broken by token order."""
    return [[token, n] for token, n in heapq.nsmallest(k, counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def by_count(counts: dict) -> list:
    """(token, count) pairs, most frequent first, ties in token order."""
    pairs = sorted(counts.items())  # tokens are distinct: this orders by token
    pairs.sort(key=itemgetter(1), reverse=True)  # stable, also in reverse: ties keep token order
    return pairs


def _iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, tz=timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def pane_fields(window, pane) -> dict:
    """The window and pane fields that every output row carries (DESIGN decision 6)."""
    is_global = isinstance(window, GlobalWindow)
    return {
        "window_start": None if is_global else _iso(window.start.micros),
        "window_end": None if is_global else _iso(window.end.micros),
        "pane_timing": _TIMING_NAMES.get(pane.timing, "UNKNOWN"),
        "pane_index": pane.index,
        "pane_is_last": pane.is_last,
    }


def _window_key(window) -> int:
    """A key that is the same for every element of a window: its end (the global window has one)."""
    return 0 if isinstance(window, GlobalWindow) else window.end.micros


@beam.typehints.with_output_types(Tuple[int, Any])
class _KeyByWindowFn(beam.DoFn):
    def process(self, element, window=beam.DoFn.WindowParam):
        yield _window_key(window), element


class _PaneRowsFn(beam.DoFn):
    """(window key, WindowCounts) of one pane -> count rows, a top row and a summary row."""

    def __init__(self, top_k: int, emit_counts: bool):
        self._top_k = top_k
        self._emit_counts = emit_counts
        self._panes = Metrics.counter("CountTokens", "panes")

    def process(self, keyed_counts, window=beam.DoFn.WindowParam,
                pane=beam.DoFn.PaneInfoParam) -> Iterable[dict]:
        self._panes.inc()
        _, pane_counts = keyed_counts
        fields = pane_fields(window, pane)
        counts = pane_counts.counts
        yield {"kind": "summary", **fields, "messages": pane_counts.messages,
               "tokens": sum(counts.values()), "distinct_tokens": len(counts)}
        yield {"kind": "top", **fields, "top": top_tokens(counts, self._top_k)}
        if self._emit_counts:
            for token, n in by_count(counts):
                yield {"kind": "count", **fields, "token": token, "count": n}


class _KeyCountRowsFn(beam.DoFn):
    """(message key, WindowCounts) of one pane -> one key_count row per token."""

    def process(self, keyed_counts, window=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
        key, pane_counts = keyed_counts
        fields = pane_fields(window, pane)
        for token, n in by_count(pane_counts.counts):
            yield {"kind": "key_count", **fields, "key": key, "token": token, "count": n}


class CountTokens(beam.PTransform):
    """Windowed TokenizedMessages -> output rows (summary, top, count) per pane.

    Args:
        top_k: how many tokens the top row lists.
        emit_counts: also emit one count row per token (the full counts).
        by_key: also emit key_count rows: token counts per Kafka message key.
    """

    def __init__(self, top_k: int = 10, emit_counts: bool = True, by_key: bool = False,
                 label: Optional[str] = None):
        super().__init__(label)
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        self._top_k = top_k
        self._emit_counts = emit_counts
        self._by_key = by_key

    def expand(self, messages):
        if messages.windowing.windowfn.is_merging():
            keyed = messages | "KeyWithVoid" >> beam.Map(lambda message: (None, message))
        else:
            keyed = messages | "KeyByWindow" >> beam.ParDo(_KeyByWindowFn())
        rows = (
            keyed
            | "MergeCounts" >> beam.CombinePerKey(MergeCountsFn())
            | "PaneRows" >> beam.ParDo(_PaneRowsFn(self._top_k, self._emit_counts))
        )
        if not self._by_key:
            return rows
        key_rows = (
            messages
            | "KeyByMessageKey" >> beam.Map(lambda message: (message.key, message))
            | "MergeCountsPerKey" >> beam.CombinePerKey(MergeCountsFn())
            | "KeyCountRows" >> beam.ParDo(_KeyCountRowsFn())
        )
        return (rows, key_rows) | "AllRows" >> beam.Flatten()
