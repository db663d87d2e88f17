"""Unit tests of transforms/sinks.py: WriteRows to a JSON-lines file and stdout, format_pane_table, the stdout blocks."""

from __future__ import annotations

import json

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given
from hypothesis import strategies as st

from transforms.kafka.ledger import OffsetCredit
from transforms.records import RowBatch
from transforms.sinks import WriteRows, _json_lines, _readable_blocks, _to_json, format_pane_table

PANE = {
    "window_start": "2023-11-14T22:13:00.000Z",
    "window_end": "2023-11-14T22:14:00.000Z",
    "pane_timing": "ON_TIME",
    "pane_index": 0,
    "pane_is_last": False,
}
TOP = {"kind": "top", **PANE, "top": [["streaming", 12], ["é", 3]]}
SUMMARY = {"kind": "summary", **PANE, "messages": 3, "tokens": 6, "distinct_tokens": 4}
COUNT = {"kind": "count", **PANE, "token": "é", "count": 3}
DEAD = {
    "kind": "dead_letter",
    "reason": "null value (tombstone)",
    "topic": "t",
    "partition": 2,
    "offset": 7,
    "timestamp_ms": 1007,
    "key_b64": None,
    "value_b64": "",
}


def _pipeline() -> test_pipeline.TestPipeline:
    # The default DirectRunner first tries to fetch a Prism binary; FnApiRunner is in-process and fast.
    return test_pipeline.TestPipeline(runner="FnApiRunner")


def test_jsonl_sink_appends_one_compact_json_object_per_line(tmp_path):
    path = tmp_path / "out" / "rows.jsonl"
    path.parent.mkdir()
    path.write_text('{"kind":"earlier run"}\n', encoding="utf-8")
    with _pipeline() as p:
        _ = p | beam.Create([COUNT, DEAD]) | WriteRows("jsonl", path=str(path))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"kind":"earlier run"}'
    assert sorted(lines[1:]) == [
        '{"kind":"count","window_start":"2023-11-14T22:13:00.000Z","window_end":"2023-11-14T22:14:00.000Z",'
        '"pane_timing":"ON_TIME","pane_index":0,"pane_is_last":false,"token":"é","count":3}',
        '{"kind":"dead_letter","reason":"null value (tombstone)","topic":"t","partition":2,"offset":7,'
        '"timestamp_ms":1007,"key_b64":null,"value_b64":""}',
    ]
    assert sorted(map(json.loads, lines[1:]), key=lambda row: row["kind"]) == [COUNT, DEAD]


def test_jsonl_sink_creates_missing_directories(tmp_path):
    path = tmp_path / "a" / "b" / "rows.jsonl"
    with _pipeline() as p:
        _ = p | beam.Create([SUMMARY]) | WriteRows("jsonl", path=str(path))
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == [SUMMARY]


def test_stdout_sink_prints_every_row_it_credits(capsys):
    credit = OffsetCredit("t", 0, ((0, 3),))
    with _pipeline() as p:
        written = p | beam.Create([RowBatch((SUMMARY, TOP, COUNT, {**COUNT, "token": "x", "count": 1}), (credit,))])
        assert_that(written | WriteRows("stdout"), equal_to([credit]))
    assert capsys.readouterr().out == (
        "2023-11-14T22:13:00.000Z  ON_TIME pane 0: 3 messages, 6 tokens, 4 distinct\n"
        "2023-11-14T22:13:00.000Z .. 2023-11-14T22:14:00.000Z  ON_TIME pane 0\n"
        "  streaming       12\n"
        "  é                3\n"
        "  counts: é 3, x 1\n"
    )


def test_stdout_blocks_wrap_counts_escape_tokens_and_print_rows_without_a_table():
    counts = [{**COUNT, "token": f"t{i}\x1b", "count": 100 - i} for i in range(20)]
    keyed = [{**COUNT, "kind": "key_count", "key": key, "token": "a", "count": 2} for key in ("k\u202e", None)]
    blocks = _readable_blocks([*counts, *keyed, DEAD, {"kind": "other", "text": "\u202e"}])
    assert blocks == [
        "2023-11-14T22:13:00.000Z .. 2023-11-14T22:14:00.000Z  ON_TIME pane 0\n"
        "  counts: t0\\x1b 100, t1\\x1b 99, t2\\x1b 98, t3\\x1b 97, t4\\x1b 96, t5\\x1b 95, t6\\x1b 94, t7\\x1b 93,\n"
        "          t8\\x1b 92, t9\\x1b 91, t10\\x1b 90, t11\\x1b 89, t12\\x1b 88, t13\\x1b 87, t14\\x1b 86,\n"
        "          t15\\x1b 85, t16\\x1b 84, t17\\x1b 83, t18\\x1b 82, t19\\x1b 81\n"
        "  counts, key k\\u202e: a 2\n"
        "  counts, no key: a 2",
        "dead_letter: t-2@7: null value (tombstone)",
        '{"kind":"other","text":"\\u202e"}',
    ]
    assert all(len(line) <= 100 for line in blocks[0].splitlines())


def test_stdout_counts_join_a_top_table_that_comes_after_them():
    assert _readable_blocks([COUNT, TOP]) == [format_pane_table(TOP) + "\n  counts: é 3"]


def test_format_pane_table_rows():
    assert format_pane_table(TOP) == (
        "2023-11-14T22:13:00.000Z .. 2023-11-14T22:14:00.000Z  ON_TIME pane 0\n"
        "  streaming       12\n"
        "  é                3"
    )
    global_top = {**TOP, "window_start": None, "window_end": None, "pane_timing": "EARLY", "pane_index": 4, "top": []}
    assert format_pane_table(global_top) == "global window  EARLY pane 4"
    assert format_pane_table(SUMMARY) == ("2023-11-14T22:13:00.000Z  ON_TIME pane 0: 3 messages, 6 tokens, 4 distinct")
    assert format_pane_table({**SUMMARY, "window_start": None}).startswith("global  ON_TIME pane 0: ")
    assert format_pane_table(DEAD) == "dead_letter: t-2@7: null value (tombstone)"
    assert format_pane_table(COUNT) is None


def test_bad_sink_settings_fail_at_construction():
    with pytest.raises(ValueError, match="^the jsonl sink needs a path$"):
        WriteRows("jsonl")
    with pytest.raises(ValueError, match="^the kafka sink needs a topic$"):
        WriteRows("kafka")
    with pytest.raises(ValueError, match="^unknown sink 'file'; choose one of stdout, jsonl, kafka, log$"):
        WriteRows("file")


_panes = st.fixed_dictionaries(
    {
        "window_start": st.one_of(st.none(), st.just(PANE["window_start"])),
        "window_end": st.one_of(st.none(), st.just(PANE["window_end"])),
        "pane_timing": st.sampled_from(["EARLY", "ON_TIME", "LATE"]),
        "pane_index": st.integers(-1, 3),
        "pane_is_last": st.booleans(),
    }
)


@given(st.lists(st.tuples(_panes, st.text(), st.integers(1, 10**12)), max_size=30))
def test_count_rows_encode_to_the_same_json_as_whole_rows(counts):
    rows = [TOP, SUMMARY, DEAD, {**COUNT, "key": "k"}, {**COUNT, "count": True}]
    rows += [{"kind": "count", **pane, "token": token, "count": n} for pane, token, n in counts]
    assert _json_lines(rows) == [_to_json(row) for row in rows]
