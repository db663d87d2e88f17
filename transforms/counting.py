"""CountTokens: per-token counts, top-K and a summary per window and pane.

Each message's tokens cross the shuffle as one element, and the combiner is
lifted, so every bundle sends one partial Counter per window downstream instead
of one element per token (docs/design.md, decision 5).

With `fanout` > 1, a window's key is hot: Beam's hot-key fanout merges each
window's partial Counters on `fanout` intermediate keys first, on as many
workers, and then the few results on the window's key. The merge is the same
CombineFn, so the panes hold the same counts and offsets. It applies with the
default trigger only, where each stage fires one pane per window (early or late
firings would fire on the intermediate results, not on the messages), and not
to merging windows (sessions), which are only known after their merge.

The counts are keyed by their window rather than combined globally: a global
combine puts every window on one key, so one worker merges and writes all of
them while the others wait. Keyed by window, the windows spread over the
workers after the shuffle; the groups, and so the panes, are the same, because
the key follows from the window. Merging windows (sessions) keep a single key:
their windows are only known after the merge.

With `batch_rows`, a pane's rows and credits leave as one RowBatch, for
WriteRows: a pane has a row per token, and one element per row would pay Beam's
per-element cost for each (more rows than messages on a real stream).

With `offset_credits`, the accumulator also carries the offset ranges of the
messages it counted, and each pane's rows are followed by OffsetCredits that
name the pane's window: once a sink has written the rows, those offsets may be
committed (docs/design.md, decision 8, transforms.kafka.ledger).
"""

from __future__ import annotations

import heapq
from collections import Counter
from operator import itemgetter
from typing import Any, Iterable, NamedTuple, Optional, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger as triggers
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.windowed_value import PaneInfoTiming

from transforms.event_time import iso_utc
from transforms.kafka.ledger import OffsetCredit, add_offset, credits_needed, merge_ranges
from transforms.records import RowBatch
from transforms.spec import Bool, Spec, build, int_range, spec
from transforms.text.tokenize import TokenizedMessage

__all__ = [
    "CountSpec",
    "CountTokens",
    "WindowCounts",
    "MergeCountsFn",
    "by_count",
    "top_tokens",
    "pane_fields",
    "PANES",
    "COUNTED_WINDOWS",
]

# Counters (namespace, name), for whoever reads the job's metrics.
PANES = ("CountTokens", "panes")
# (message, window) pairs in the panes of discarding windows: each once (the account of windows).
COUNTED_WINDOWS = ("CountTokens", "message_windows_counted")

_TIMING_NAMES = {
    PaneInfoTiming.EARLY: "EARLY",
    PaneInfoTiming.ON_TIME: "ON_TIME",
    PaneInfoTiming.LATE: "LATE",
    PaneInfoTiming.UNKNOWN: "UNKNOWN",
}


class WindowCounts(NamedTuple):
    """What a window's pane holds: how many messages, each token's count, and (when tracked)
    the offset ranges counted, keyed by (topic, partition, open windows, closed windows per message)."""

    messages: int
    counts: dict
    offsets: Optional[dict] = None


class MergeCountsFn(beam.CombineFn):
    """TokenizedMessages -> WindowCounts; partial Counters merge cheaply.

    Args:
        track_offsets: also keep the offset ranges of the counted messages.
    """

    def __init__(self, track_offsets: bool = False):
        self._track_offsets = track_offsets

    def create_accumulator(self):
        return [0, Counter(), {}] if self._track_offsets else [0, Counter()]

    def add_input(self, accumulator, message: TokenizedMessage):
        accumulator[0] += 1
        accumulator[1].update(message.tokens)
        if self._track_offsets and message.offset is not None:
            key = (message.topic, message.partition, message.windows, message.late_windows)
            add_offset(accumulator[2].setdefault(key, []), message.offset)
        return accumulator

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for accumulator in accumulators:
            merged[0] += accumulator[0]
            merged[1].update(accumulator[1])
            if self._track_offsets:
                for key, ranges in accumulator[2].items():
                    merged[2][key] = [list(r) for r in merge_ranges(merged[2].get(key, ()), ranges)]
        return merged

    def extract_output(self, accumulator) -> WindowCounts:
        if not self._track_offsets:
            return WindowCounts(accumulator[0], dict(accumulator[1]))
        offsets = {key: tuple(map(tuple, ranges)) for key, ranges in accumulator[2].items()}
        return WindowCounts(accumulator[0], dict(accumulator[1]), offsets)


def top_tokens(counts: dict, k: int) -> list:
    """The k most frequent tokens as [token, count], ties broken by token order."""
    return [[token, n] for token, n in heapq.nsmallest(k, counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def by_count(counts: dict) -> list:
    """(token, count) pairs, most frequent first, ties in token order."""
    pairs = sorted(counts.items())  # tokens are distinct: this orders by token
    pairs.sort(key=itemgetter(1), reverse=True)  # stable, also in reverse: ties keep token order
    return pairs


def pane_fields(window, pane) -> dict:
    """The window and pane fields that every output row carries (docs/design.md, decision 6)."""
    is_global = isinstance(window, GlobalWindow)
    return {
        "window_start": None if is_global else iso_utc(window.start.micros),
        "window_end": None if is_global else iso_utc(window.end.micros),
        "pane_timing": _TIMING_NAMES.get(pane.timing, "UNKNOWN"),
        "pane_index": pane.index,
        "pane_is_last": pane.is_last,
    }


def _window_key(window) -> int:
    """A key that is the same for every element of a window: its end (the global window has one)."""
    return 0 if isinstance(window, GlobalWindow) else window.end.micros


def _credits(pane_counts: WindowCounts, branch: str, window, merging: bool, copies: int):
    """The OffsetCredits of a written pane: each message must be written in `windows` x `copies` panes.

    A merging window (a session) changes its identity as it grows while a message
    belongs to one session only, so there the branch alone identifies the pane.
    """
    if merging or isinstance(window, GlobalWindow):
        window_id = (branch,)
    else:
        window_id = (branch, window.start.micros, window.end.micros)
    for (topic, partition, windows, late_windows), ranges in (pane_counts.offsets or {}).items():
        yield OffsetCredit(topic, partition, ranges, window_id, credits_needed(windows, late_windows, copies))


@beam.typehints.with_output_types(Tuple[int, Any])
class _KeyByWindowFn(beam.DoFn):
    def process(self, element, window=beam.DoFn.WindowParam):
        yield _window_key(window), element


def _pane_output(rows: list, credits, batch: bool) -> Iterable:
    """A pane's rows, then its credits: one element each, or together as one RowBatch."""
    if batch:
        return (RowBatch(tuple(rows), tuple(credits)),)
    return [*rows, *credits]


class _PaneRowsFn(beam.DoFn):
    """(window key, WindowCounts) of one pane -> count rows, a top row and a summary row."""

    def __init__(
        self, top_k: int, emit_counts: bool, merging: bool, copies: int, batch: bool = False, discarding: bool = True
    ):
        self._top_k = top_k
        self._emit_counts = emit_counts
        self._merging = merging
        self._copies = copies
        self._batch = batch
        self._discarding = discarding
        self._panes = Metrics.counter(*PANES)
        self._counted = Metrics.counter(*COUNTED_WINDOWS)

    def process(self, keyed_counts, window=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam) -> Iterable:
        self._panes.inc()
        _, pane_counts = keyed_counts
        if self._discarding:  # accumulating panes repeat earlier messages
            self._counted.inc(pane_counts.messages)
        fields = pane_fields(window, pane)
        counts = pane_counts.counts
        rows = [
            {
                "kind": "summary",
                **fields,
                "messages": pane_counts.messages,
                "tokens": sum(counts.values()),
                "distinct_tokens": len(counts),
            },
            {"kind": "top", **fields, "top": top_tokens(counts, self._top_k)},
        ]
        if self._emit_counts:
            rows += [{"kind": "count", **fields, "token": token, "count": n} for token, n in by_count(counts)]
        credits = _credits(pane_counts, "count", window, self._merging, self._copies)
        return _pane_output(rows, credits, self._batch)


class _KeyCountRowsFn(beam.DoFn):
    """(message key, WindowCounts) of one pane -> one key_count row per token."""

    def __init__(self, merging: bool, copies: int, batch: bool = False):
        self._merging = merging
        self._copies = copies
        self._batch = batch

    def process(self, keyed_counts, window=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam) -> Iterable:
        key, pane_counts = keyed_counts
        fields = pane_fields(window, pane)
        rows = [
            {"kind": "key_count", **fields, "key": key, "token": token, "count": n}
            for token, n in by_count(pane_counts.counts)
        ]
        credits = _credits(pane_counts, "key", window, self._merging, self._copies)
        return _pane_output(rows, credits, self._batch)


@spec
class CountSpec(Spec):
    """What each pane counts."""

    top_k: int_range(1) = 10
    """Tokens in each top row (ties broken by token)."""
    emit_counts: Bool = True
    """One count row per token per pane."""
    by_key: Bool = False
    """Also key_count rows: token counts per Kafka message key."""
    fanout: int_range(1) = 1
    """Merge each window's counts on this many keys first, on as many workers (Beam's hot-key fanout); fixed and sliding windows with the default trigger only, else 1."""


class CountTokens(beam.PTransform):
    """Windowed TokenizedMessages -> output rows (summary, top, count) per pane, as a CountSpec says.

    Takes a CountSpec, or its fields: CountTokens(top_k=3). With `offset_credits`, each
    pane's rows are followed by the OffsetCredits of the messages it counted (for
    CommitOffsets, behind a sink); with `batch_rows`, a pane's rows and credits leave as
    one RowBatch (for WriteRows) instead of one element each. `fanout` applies with the
    default trigger and unmerged windows, and is ignored otherwise.
    """

    def __init__(
        self,
        spec: Optional[CountSpec] = None,
        *,
        offset_credits: bool = False,
        batch_rows: bool = False,
        label=None,
        **fields,
    ):
        super().__init__(label)
        spec = spec or build(CountSpec, **fields)
        self._top_k = spec.top_k
        self._emit_counts = spec.emit_counts
        self._by_key = spec.by_key
        self._fanout = spec.fanout
        self._offset_credits = offset_credits
        self._batch_rows = batch_rows

    def expand(self, messages):
        merging = messages.windowing.windowfn.is_merging()
        discarding = messages.windowing.accumulation_mode != triggers.AccumulationMode.ACCUMULATING
        if merging:
            keyed = messages | "KeyWithVoid" >> beam.Map(lambda message: (None, message))
        else:
            keyed = messages | "KeyByWindow" >> beam.ParDo(_KeyByWindowFn())
        # With by_key, a message is written in two panes per window: its window's and its key's.
        copies = 2 if self._by_key else 1
        merge = beam.CombinePerKey(MergeCountsFn(self._offset_credits))
        if self._fanout > 1 and not merging and isinstance(messages.windowing.triggerfn, triggers.DefaultTrigger):
            merge = merge.with_hot_key_fanout(self._fanout)
        rows = (
            keyed
            | "MergeCounts" >> merge
            | "PaneRows"
            >> beam.ParDo(_PaneRowsFn(self._top_k, self._emit_counts, merging, copies, self._batch_rows, discarding))
        )
        if not self._by_key:
            return rows
        key_rows = (
            messages
            | "KeyByMessageKey" >> beam.Map(lambda message: (message.key, message))
            | "MergeCountsPerKey" >> beam.CombinePerKey(MergeCountsFn(self._offset_credits))
            | "KeyCountRows" >> beam.ParDo(_KeyCountRowsFn(merging, copies, self._batch_rows))
        )
        return (rows, key_rows) | "AllRows" >> beam.Flatten()
