"""Unit tests of transforms/windowing.py and transforms/counting.py: WindowTokens | CountTokens rows.

Batch tests run on the in-process FnApiRunner; trigger tests use TestStream on the
BundleBasedDirectRunner, where Beam's DirectRunner sends every TestStream pipeline anyway.
"""

from __future__ import annotations

from collections import Counter

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline, test_stream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue
from hypothesis import given
from hypothesis import strategies as st

from transforms.counting import CountSpec, CountTokens, MergeCountsFn, WindowCounts, by_count, top_tokens
from transforms.text.tokenize import TokenizedMessage
from transforms.windowing import WindowTokens

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def _batch() -> test_pipeline.TestPipeline:
    # The default DirectRunner first tries to fetch a Prism binary; FnApiRunner is in-process and fast.
    return test_pipeline.TestPipeline(runner="FnApiRunner")


def _streaming() -> test_pipeline.TestPipeline:
    return test_pipeline.TestPipeline(runner="BundleBasedDirectRunner", options=PipelineOptions(streaming=True))


def _at(seconds: float, *tokens: str) -> TimestampedValue:
    return TimestampedValue(TokenizedMessage(None, tokens), seconds)


def _pane(start, end, timing="ON_TIME", index=0, last=False) -> dict:
    return {"window_start": start, "window_end": end, "pane_timing": timing, "pane_index": index, "pane_is_last": last}


def _summary(pane, messages, tokens, distinct) -> dict:
    return {"kind": "summary", **pane, "messages": messages, "tokens": tokens, "distinct_tokens": distinct}


def _top(pane, top) -> dict:
    return {"kind": "top", **pane, "top": top}


def _counts(pane, **counts) -> list:
    return [{"kind": "count", **pane, "token": token, "count": n} for token, n in counts.items()]


def test_fixed_windows_give_summary_top_and_count_rows():
    messages = [_at(T0 + 5, "a", "b", "a"), _at(T0 + 30, "c", "a"), _at(T0 + 40, "b", "d"), _at(T0 + 39.999, "d")]
    first = _pane("2023-11-14T22:13:00.000Z", "2023-11-14T22:14:00.000Z")
    second = _pane("2023-11-14T22:14:00.000Z", "2023-11-14T22:15:00.000Z")  # T0 + 40 starts it
    with _batch() as p:
        rows = p | beam.Create(messages) | WindowTokens("fixed", size_s=60.0) | CountTokens(top_k=2)
        assert_that(
            rows,
            equal_to(
                [
                    _summary(first, 3, 6, 4),
                    _top(first, [["a", 3], ["b", 1]]),
                    *_counts(first, a=3, b=1, c=1, d=1),
                    _summary(second, 1, 2, 2),
                    _top(second, [["b", 1], ["d", 1]]),
                    *_counts(second, b=1, d=1),
                ]
            ),
        )


def test_sliding_windows_count_each_message_in_every_window_it_falls_in():
    messages = [_at(5, "a", "b", "a"), _at(30, "c", "a"), _at(65, "b")]
    w_30 = _pane("1969-12-31T23:59:30.000Z", "1970-01-01T00:00:30.000Z")
    w0, w30 = (
        _pane("1970-01-01T00:00:00.000Z", "1970-01-01T00:01:00.000Z"),
        _pane("1970-01-01T00:00:30.000Z", "1970-01-01T00:01:30.000Z"),
    )
    w60 = _pane("1970-01-01T00:01:00.000Z", "1970-01-01T00:02:00.000Z")
    with _batch() as p:
        rows = (
            p
            | beam.Create(messages)
            | WindowTokens("sliding", size_s=60.0, period_s=30.0)
            | CountTokens(top_k=2, emit_counts=False)
        )
        assert_that(
            rows,
            equal_to(
                [
                    _summary(w_30, 1, 3, 2),
                    _top(w_30, [["a", 2], ["b", 1]]),
                    _summary(w0, 2, 5, 3),
                    _top(w0, [["a", 3], ["b", 1]]),
                    _summary(w30, 2, 3, 3),
                    _top(w30, [["a", 1], ["b", 1]]),
                    _summary(w60, 1, 1, 1),
                    _top(w60, [["b", 1]]),
                ]
            ),
        )


def test_session_windows_merge_messages_closer_than_the_gap():
    messages = [_at(0, "a"), _at(5, "b"), _at(20, "b", "b"), _at(30, "c")]
    with _batch() as p:
        rows = p | beam.Create(messages) | WindowTokens("session", gap_s=10.0) | CountTokens(emit_counts=False)
        assert_that(
            rows | beam.Filter(lambda row: row["kind"] == "top"),
            equal_to(
                [
                    _top(_pane("1970-01-01T00:00:00.000Z", "1970-01-01T00:00:15.000Z"), [["a", 1], ["b", 1]]),
                    _top(_pane("1970-01-01T00:00:20.000Z", "1970-01-01T00:00:30.000Z"), [["b", 2]]),
                    _top(_pane("1970-01-01T00:00:30.000Z", "1970-01-01T00:00:40.000Z"), [["c", 1]]),
                ]
            ),
        )


def test_global_window_top_k_breaks_ties_by_token():
    messages = [_at(0, "c"), _at(1, "b", "b"), _at(2, "a", "b")]
    pane = _pane(None, None, last=True)
    with _batch() as p:
        rows = p | beam.Create(messages) | WindowTokens("global") | CountTokens(top_k=2, emit_counts=False)
        assert_that(rows, equal_to([_summary(pane, 3, 5, 3), _top(pane, [["b", 3], ["a", 1]])]))
    assert top_tokens({"b": 2, "a": 2, "c": 2, "d": 5}, 3) == [["d", 5], ["a", 2], ["b", 2]]


def test_merge_counts_fn_create_add_merge_extract():
    fn = MergeCountsFn()
    assert fn.extract_output(fn.create_accumulator()) == WindowCounts(0, {})
    left = fn.add_input(fn.create_accumulator(), TokenizedMessage("k", ("a", "b", "a")))
    left = fn.add_input(left, TokenizedMessage(None, ()))
    right = fn.add_input(fn.create_accumulator(), TokenizedMessage(None, ("b", "c")))
    assert left == [2, Counter({"a": 2, "b": 1})]
    merged = fn.merge_accumulators([left, right, fn.create_accumulator()])
    assert fn.extract_output(merged) == WindowCounts(3, {"a": 2, "b": 2, "c": 1})
    assert left == [2, Counter({"a": 2, "b": 1})]  # merging does not alter its inputs


def test_late_data_fires_late_panes_until_allowed_lateness_passes():
    stream = (
        test_stream.TestStream()
        .add_elements([_at(1, "a", "b"), _at(3, "a"), _at(12, "z")])
        .advance_watermark_to(10)
        .add_elements([_at(4, "c")])  # late, within allowed lateness: a LATE pane of its own
        .advance_watermark_to(40)
        .add_elements([_at(5, "d")])  # past allowed lateness: dropped
        .advance_watermark_to_infinity()
    )
    w0, w10 = (
        _pane("1970-01-01T00:00:00.000Z", "1970-01-01T00:00:10.000Z"),
        _pane("1970-01-01T00:00:10.000Z", "1970-01-01T00:00:20.000Z"),
    )
    with _streaming() as p:
        rows = (
            p
            | stream
            | WindowTokens("fixed", size_s=10.0, late=("every_n", 1), allowed_lateness_s=20.0)
            | CountTokens(top_k=2, emit_counts=False)
        )
        assert_that(
            rows | beam.Filter(lambda row: row["kind"] == "top"),
            equal_to(
                [
                    _top(w0, [["a", 2], ["b", 1]]),
                    _top({**w0, "pane_timing": "LATE", "pane_index": 1}, [["c", 1]]),
                    _top(w10, [["z", 1]]),
                ]
            ),
        )


def test_early_firings_accumulate_into_the_on_time_pane():
    stream = (
        test_stream.TestStream()
        .advance_watermark_to(0)
        .add_elements([_at(1, "a")])
        .advance_processing_time(5)
        .add_elements([_at(2, "b")])
        .advance_processing_time(5)
        .advance_watermark_to_infinity()
    )
    w0 = _pane("1970-01-01T00:00:00.000Z", "1970-01-01T00:00:10.000Z")
    with _streaming() as p:
        rows = (
            p
            | stream
            | WindowTokens("fixed", size_s=10.0, early=1.5, accumulation="accumulating")
            | CountTokens(top_k=3, emit_counts=False)
        )
        assert_that(
            rows | beam.Filter(lambda row: row["kind"] == "top"),
            equal_to(
                [
                    _top({**w0, "pane_timing": "EARLY"}, [["a", 1]]),
                    _top({**w0, "pane_timing": "EARLY", "pane_index": 1}, [["a", 1], ["b", 1]]),
                    _top({**w0, "pane_index": 2, "pane_is_last": True}, [["a", 1], ["b", 1]]),
                ]
            ),
        )


def test_bad_parameters_fail_at_construction():
    with pytest.raises(ValueError, match="^top_k must be at least 1, got 0$"):
        CountTokens(top_k=0)
    with pytest.raises(
        ValueError, match="^unknown window type 'tumbling'; choose one of fixed, sliding, session, global$"
    ):
        WindowTokens("tumbling")


def test_counts_by_key_add_key_count_rows_per_message_key():
    messages = [
        TimestampedValue(TokenizedMessage("k1", ("a", "b")), T0 + 1),
        TimestampedValue(TokenizedMessage("k2", ("a",)), T0 + 2),
        TimestampedValue(TokenizedMessage("k1", ("a",)), T0 + 3),
    ]
    pane = _pane("2023-11-14T22:13:00.000Z", "2023-11-14T22:14:00.000Z")
    with _batch() as p:
        rows = (
            p
            | beam.Create(messages)
            | WindowTokens("fixed", size_s=60.0)
            | CountTokens(top_k=1, emit_counts=False, by_key=True)
        )
        assert_that(
            rows,
            equal_to(
                [
                    _summary(pane, 3, 4, 2),
                    _top(pane, [["a", 3]]),
                    {"kind": "key_count", **pane, "key": "k1", "token": "a", "count": 2},
                    {"kind": "key_count", **pane, "key": "k1", "token": "b", "count": 1},
                    {"kind": "key_count", **pane, "key": "k2", "token": "a", "count": 1},
                ]
            ),
        )


@given(st.dictionaries(st.text(max_size=4), st.integers(min_value=1, max_value=6), max_size=50))
def test_count_rows_are_ordered_by_count_then_token(counts):
    assert by_count(counts) == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


_COLLECTED: list = []


def _collect(rows) -> None:
    _COLLECTED.extend(rows)  # the in-process runner calls this in this process, by reference


def _rows_of(messages, window: dict, spec: CountSpec) -> list:
    _COLLECTED.clear()
    with _batch() as p:
        counted = (
            p | beam.Create(messages, reshuffle=False) | WindowTokens(**window) | CountTokens(spec, offset_credits=True)
        )
        assert_that(counted, _collect)
    return sorted(_COLLECTED, key=repr)


@pytest.mark.parametrize(
    "window", [{"type": "fixed", "size_s": 10.0}, {"type": "sliding", "size_s": 10.0, "period_s": 5.0}]
)
def test_hot_key_fanout_gives_the_same_rows_and_offset_credits_as_one_key(window):
    words = "the cat sat on the mat and the dog ate the cat".split()
    messages = [
        TimestampedValue(TokenizedMessage(None, tuple(words[i % 7 : i % 7 + 4]), "t", i % 3, i, 1), T0 + i * 0.37)
        for i in range(300)
    ]
    one_key = _rows_of(messages, window, CountSpec(top_k=3))
    fanned_out = _rows_of(messages, window, CountSpec(top_k=3, fanout=4))
    assert fanned_out == one_key
    kinds = Counter(row["kind"] if isinstance(row, dict) else "credit" for row in one_key)
    assert kinds["summary"] == kinds["top"] >= 12 and kinds["count"] > kinds["summary"] and kinds["credit"] >= 12
