"""The whole graph (count_tokens) without Kafka: random records in, every record accounted for.

Random bytes, random JSON documents and random event times and watermarks go
through decode, the late split, the tokenizer, the windows and the counts in an
in-process runner; the job must finish and the books must balance:
read = decoded + dead letters, and decoded = counted + late + tokenizer dead letters.
"""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import load_config
from pipeline.graph import count_tokens
from tests.integration_helpers import DIRECT_CONFIG, read_rows
from transforms.records import KafkaRecord
from transforms.sinks import WriteRows

_BASE_MS = 1_767_600_000_000
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_payloads = st.one_of(
    st.binary(max_size=60),
    st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(
        lambda text, extra: json.dumps({"text": text, **extra}).encode(),
        st.text(max_size=60),
        st.dictionaries(st.text(max_size=4), _json_values, max_size=2),
    ),
    _json_values.map(lambda v: json.dumps(v).encode()),
    st.none(),
)
_records = st.lists(
    st.tuples(_payloads, st.integers(0, 120_000), st.one_of(st.none(), st.integers(0, 120_000))),
    min_size=1,
    max_size=25,
)


def _counters(result) -> dict:
    totals = {}
    for counter in result.metrics().query(MetricsFilter())["counters"]:
        key = f"{counter.key.metric.namespace}.{counter.key.metric.name}"
        totals[key] = totals.get(key, 0) + (counter.committed or counter.attempted or 0)
    return totals


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=_records, fmt=st.sampled_from(["text", "json"]))
def test_random_records_through_the_whole_graph_are_all_accounted_for(records, fmt, tmp_path_factory):
    config = load_config(
        DIRECT_CONFIG,
        (f"format.type={fmt}", "window.size=10s", "tokenize.punkt=untrained", "source.commit_offsets=false"),
    )
    out = tmp_path_factory.mktemp("graph") / "rows.jsonl"
    kafka_records = [
        beam.window.TimestampedValue(
            KafkaRecord("t", 0, offset, _BASE_MS + at, b"k", value, None if mark is None else _BASE_MS + mark),
            (_BASE_MS + at) / 1000,
        )
        for offset, (value, at, mark) in enumerate(records)
    ]
    pipeline = TestPipeline(runner="FnApiRunner")
    outputs = count_tokens(pipeline | beam.Create(kafka_records), config)
    for name, rows in (("Rows", outputs.rows), ("Dead", outputs.dead_letters), ("Late", outputs.late_records)):
        rows | f"Write{name}" >> WriteRows("jsonl", path=str(out))
    result = pipeline.run()
    result.wait_until_finish()
    counters = _counters(result)
    decoded, dead = counters.get("DecodeMessages.decoded", 0), counters.get("DecodeMessages.dead_letters", 0)
    tokenizer_dead = counters.get("TokenizeText.dead_letters", 0)
    counted = sum(row["messages"] for row in read_rows(out, "summary"))
    late = len(read_rows(out, "late_record"))
    assert decoded + dead == len(records)
    assert decoded == counted + late + tokenizer_dead
    assert len(read_rows(out, "dead_letter")) == dead + tokenizer_dead
