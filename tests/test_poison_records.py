"""Poison records on the real broker: event times the pipeline cannot hold become dead letters, and a
record stamped ahead of the wall clock makes no other record late."""

from __future__ import annotations

import json
import time
import uuid

from pipeline.devtools.producer import ProducerRecord, produce_messages
from tests.integration_helpers import DIRECT_CONFIG, config_overrides, read_rows, records_accounting, run_cli

_YEAR_10000_MS = 253_402_300_800_000


def _topic(kafka_broker) -> str:
    name = f"poison-{uuid.uuid4().hex[:10]}"
    # The broker would refuse CreateTimes far ahead by default (1 h): allow any, as a misconfigured one does.
    kafka_broker.create_topic(
        name,
        1,
        config={"retention.ms": "-1", "message.timestamp.after.max.ms": str(2**63 - 1), "max.message.bytes": "2000000"},
    )
    return name


def _run(kafka_broker, topic, tmp_path, tokenizer="whitespace", **settings):
    out, dead, late = tmp_path / "out.jsonl", tmp_path / "dead.jsonl", tmp_path / "late.jsonl"
    result = run_cli(
        "run",
        "--config",
        DIRECT_CONFIG,
        *config_overrides(
            source__bootstrap_servers=kafka_broker.bootstrap_servers,
            source__topics=[topic],
            source__stop="latest",
            source__max_out_of_orderness="1s",
            window__size="10s",
            tokenize__tokenizer=tokenizer,
            sink__type="jsonl",
            sink__path=str(out),
            dead_letter__type="jsonl",
            dead_letter__path=str(dead),
            late_records__type="jsonl",
            late_records__path=str(late),
            **settings,
        ),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    counted = sum(r["count"] for r in read_rows(out, "count"))
    return counted, read_rows(dead, "dead_letter"), read_rows(late, "late_record"), result.stderr


def test_kafka_times_out_of_range_or_far_ahead_are_dead_letters_and_the_rest_is_on_time(
    kafka_broker, prism_location, tmp_path
):
    topic, now_ms = _topic(kafka_broker), int(time.time() * 1000)
    messages = [
        ProducerRecord("before", None, now_ms - 10_000),
        ProducerRecord("year10000", None, _YEAR_10000_MS),
        ProducerRecord("twopow62", None, 2**62),
        ProducerRecord("soon", None, now_ms + 55 * 60_000),  # within max_future_skew (1 h): counted
        ProducerRecord("far", None, now_ms + 2 * 3600_000),  # beyond it: a dead letter
        *[ProducerRecord(f"ontime{i}", None, now_ms - 5_000 + i * 100) for i in range(20)],
    ]
    produce_messages(kafka_broker.bootstrap_servers, topic, messages)
    counted, dead, late, stderr = _run(kafka_broker, topic, tmp_path)
    reasons = {d["offset"]: d["reason"] for d in dead}
    assert sorted(reasons) == [1, 2, 4]
    assert reasons[1].startswith("event time out of range") and reasons[2].startswith("event time out of range")
    assert "ahead of the wall clock" in reasons[4]
    assert late == [], "a record stamped ahead of the wall clock made later records late"
    assert counted == 22  # before, soon, ontime0..19
    assert records_accounting(stderr) == (25, 22, 3, "ok")


def test_payload_times_that_cannot_be_held_are_dead_letters_and_unusable_ones_fall_back(
    kafka_broker, prism_location, tmp_path
):
    topic, now_ms = _topic(kafka_broker), int(time.time() * 1000)
    fields = ["NaN", "Infinity", "-Infinity", "1e300", "-1e17", '"9999-12-31T23:59:59Z"', str(now_ms - 3000)]
    messages = [
        ProducerRecord(f'{{"text": "w{i}", "ts": {value}}}', None, now_ms - 4000) for i, value in enumerate(fields)
    ]
    produce_messages(kafka_broker.bootstrap_servers, topic, messages)
    counted, dead, late, stderr = _run(kafka_broker, topic, tmp_path, format__type="json", source__timestamp="field:ts")
    dead_texts = sorted(json.loads(__import__("base64").b64decode(d["value_b64"]))["text"] for d in dead)
    assert dead_texts == ["w3", "w4", "w5"]  # 1e300, -1e17, year 9999: out of range
    assert all(d["reason"].startswith("event time out of range") for d in dead)
    assert counted == 4 and late == []  # NaN and the infinities keep the Kafka time (a fallback)
    assert records_accounting(stderr) == (7, 4, 3, "ok")


def test_messages_over_the_cpu_budget_are_dead_letters_and_a_huge_token_cannot_flood_the_output(
    kafka_broker, prism_location, tmp_path
):
    topic, now_ms = _topic(kafka_broker), int(time.time() * 1000)
    messages = [
        ProducerRecord(". " * 200_000, None, now_ms - 3000),  # 400 KB that NLTK's Punkt would chew on for seconds
        ProducerRecord("x" * 900_000, None, now_ms - 3000),  # one huge token
        ProducerRecord("plain words here", None, now_ms - 3000),
    ]
    produce_messages(kafka_broker.bootstrap_servers, topic, messages, producer_config={"message.max.bytes": 2_000_000})
    started = time.monotonic()
    counted, dead, late, stderr = _run(kafka_broker, topic, tmp_path, tokenizer="word")
    assert sorted(d["offset"] for d in dead) == [0, 1]
    assert all(d["reason"].startswith("message too long to tokenize") for d in dead)
    assert counted == 3 and late == []
    assert (tmp_path / "out.jsonl").stat().st_size < 10_000  # the huge token is in no count, top or key row
    assert records_accounting(stderr) == (3, 3, 0, "ok")
    print(f"run with the two oversized messages: {time.monotonic() - started:.1f}s")
