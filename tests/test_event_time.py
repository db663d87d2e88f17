"""Event time from a JSON payload field."""

from __future__ import annotations

import json

import pytest

from pipeline.devtools.producer import ProducerRecord, produce_messages
from tests.integration_helpers import DIRECT_CONFIG, config_overrides, read_rows, records_accounting, run_cli
from transforms.event_time import payload_event_time_us

SECOND_US = 1_000_000


@pytest.mark.parametrize(
    "value, expected_s",
    [
        (1_767_600_000_000, 1_767_600_000),  # epoch milliseconds
        (1_767_600_000, 1_767_600_000),  # epoch seconds
        (1_767_600_000.5, 1_767_600_000.5),
        ("2026-01-05T08:00:00Z", 1_767_600_000),
        ("2026-01-05T09:00:00+01:00", 1_767_600_000),
        ("2026-01-05T08:00:00", 1_767_600_000),  # no offset: UTC
    ],
)
def test_payload_field_event_times(value, expected_s):
    payload = json.dumps({"text": "x", "ts": value}).encode()
    assert payload_event_time_us(payload, "ts") == int(expected_s * SECOND_US)


@pytest.mark.parametrize(
    "payload", [b"", b"not json", b"[1, 2]", b'{"ts": "yesterday"}', b'{"ts": true}', b'{"other": 1}', None]
)
def test_payloads_without_a_usable_field_give_none(payload):
    assert payload_event_time_us(payload, "ts") is None


def test_windows_follow_the_payload_time_not_the_kafka_time(kafka_broker, fresh_topic, prism_location, tmp_path):
    topic = fresh_topic(partitions=2)
    kafka_ms = 1_767_600_000_000  # every record's Kafka timestamp: 08:00:00
    documents = [
        {"text": "alpha beta", "ts": "2026-01-05T08:05:01Z"},
        {"text": "alpha", "ts": 1_767_600_905_000},
        {"text": "gamma"},
    ]  # no field: falls back to the Kafka timestamp
    produce_messages(
        kafka_broker.bootstrap_servers, topic, [ProducerRecord(json.dumps(d), None, kafka_ms) for d in documents]
    )
    out = tmp_path / "out.jsonl"
    result = run_cli(
        "run",
        "--config",
        DIRECT_CONFIG,
        *config_overrides(
            source__bootstrap_servers=kafka_broker.bootstrap_servers,
            source__topics=[topic],
            source__stop="latest",
            source__timestamp="field:ts",
            format__type="json",
            window__size="5m",
            sink__type="jsonl",
            sink__path=str(out),
        ),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    windows = {(r["window_start"], r["token"]): r["count"] for r in read_rows(out, "count")}
    assert windows == {
        ("2026-01-05T08:05:00.000Z", "alpha"): 1,
        ("2026-01-05T08:05:00.000Z", "beta"): 1,
        ("2026-01-05T08:15:00.000Z", "alpha"): 1,
        ("2026-01-05T08:00:00.000Z", "gamma"): 1,
    }
    assert records_accounting(result.stderr) == (3, 3, 0, "ok")
