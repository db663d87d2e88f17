"""Unit tests of pipeline/config.py: load_config, overrides, one-line errors, durations, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ConfigError, StopConfig, load_config, parse_duration

DIRECT = str(Path(__file__).resolve().parents[1] / "run_configs" / "direct.yaml")


def _write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _error(path: str, *overrides: str) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(path, overrides)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_direct_yaml_loads():
    config = load_config(DIRECT)
    assert (config.runner, config.options, config.source.bootstrap_servers, config.source.topics) == (
        "DirectRunner",
        {},
        "127.0.0.1:9092",
        ("text-stream",),
    )
    assert (config.source.start, config.source.stop, config.source.max_out_of_orderness_s) == (
        "earliest",
        StopConfig(),
        5.0,
    )
    assert (config.tokenize.tokenizer, config.tokenize.punkt, config.window.type, config.window.size_s) == (
        "word",
        "auto",
        "fixed",
        10.0,
    )
    assert (config.count.top_k, config.sink.type, config.dead_letter.type) == (5, "stdout", "log")


def test_set_overrides_are_parsed_as_yaml_scalars():
    config = load_config(
        DIRECT,
        (
            "count.top_k=3",
            "tokenize.lowercase=false",
            "window.size=30s",
            "source.topics=[a, b]",
            "source.group_id=",
            "options.streaming=true",
        ),
    )
    assert (config.count.top_k, config.tokenize.lowercase, config.window.size_s) == (3, False, 30.0)
    assert (config.source.topics, config.source.group_id, config.options) == (("a", "b"), None, {"streaming": True})
    assert _error(DIRECT, "nonsense") == (
        f"{DIRECT}: --set 'nonsense': expected dotted.key=value "
        '(quote a part that holds dots: source.consumer_config."client.id"=x)'
    )
    assert _error(DIRECT, "window.size.x=1") == f"{DIRECT}: --set window.size.x: size is not a mapping"


def test_unknown_keys_name_the_file_and_the_dotted_key(tmp_path):
    path = _write(tmp_path, "typo.yaml", "window: {type: fixed, sise: 10s}\n")
    assert _error(path) == f"{path}: window.sise: unknown key"
    assert _error(DIRECT, "runnr=x") == f"{DIRECT}: runnr: unknown key"
    assert _error(DIRECT, "source.stop={max_rows: 5}") == f"{DIRECT}: source.stop.max_rows: unknown key"


def test_wrong_types_name_the_key_and_the_value():
    assert _error(DIRECT, "count.top_k=ten") == f"{DIRECT}: count.top_k: expected int, got str 'ten'"
    assert _error(DIRECT, "tokenize.lowercase=1") == f"{DIRECT}: tokenize.lowercase: expected bool, got int 1"
    assert _error(DIRECT, "window=[1]") == f"{DIRECT}: window: expected a mapping, got list"
    assert _error(DIRECT, "runner=SparkRunner") == (
        f"{DIRECT}: runner: must be one of DirectRunner, PrismRunner, FlinkRunner, DataflowRunner, got 'SparkRunner'"
    )


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1.5h", 5400.0),
        ("10", 10.0),
        (2, 2.0),
        (0, 0.0),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text, message",
    [
        ("5 minutes", "expected a duration like 500ms, 30s, 5m, 1h or 1d, got '5 minutes'"),
        ("-5s", "expected a duration like 500ms, 30s, 5m, 1h or 1d, got '-5s'"),
        ("1w", "expected a duration like 500ms, 30s, 5m, 1h or 1d, got '1w'"),
        (-1, "a duration cannot be negative, got -1"),
        (True, "expected a duration like 30s, got True"),
    ],
)
def test_bad_durations(text, message):
    with pytest.raises(ValueError) as raised:
        parse_duration(text)
    assert str(raised.value) == message
    assert _error(DIRECT, f"window.size={text}") == f"{DIRECT}: window.size: {message}"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (("window.type=sliding",), "window.period: a sliding window needs a period greater than 0"),
        (("window.type=sliding", "window.size=10s", "window.period=20s"), "window.period: must not exceed size (10s)"),
        (("window.type=session",), "window.gap: a session window needs a gap greater than 0"),
        (("trigger.late={every_n: 2}",), "trigger.late: late firings need trigger.allowed_lateness greater than 0"),
        (
            ("window.type=global",),
            "trigger.repeat: a global window never closes: give a repeated firing such as 10s or {every_n: 100}",
        ),
        (("trigger.repeat=10s",), "trigger.repeat: only global windows take a repeated firing: use early / late"),
        (("trigger.early=0s",), "trigger.early: must be greater than 0"),
        (("trigger.early={every_n: 0}",), "trigger.early.every_n: must be an integer of at least 1"),
    ],
)
def test_window_and_trigger_combinations_that_cannot_work(overrides, message):
    assert _error(DIRECT, *overrides) == f"{DIRECT}: {message}"


def test_windows_and_triggers_that_work():
    config = load_config(
        DIRECT,
        (
            "window={type: sliding, size: 1m, period: 15s}",
            "trigger.early=500ms",
            "trigger.late={every_n: 3}",
            "trigger.allowed_lateness=1h",
        ),
    )
    assert (config.window.size_s, config.window.period_s) == (60.0, 15.0)
    trigger = config.trigger
    assert (trigger.early, trigger.late, trigger.allowed_lateness_s) == (0.5, ("every_n", 3), 3600.0)
    assert load_config(DIRECT, ("window={type: global}", "trigger.repeat={every_n: 100}")).trigger.repeat == (
        "every_n",
        100,
    )


def test_stop_forms():
    stops = [
        load_config(DIRECT, (f"source.stop={value}",)).source.stop
        for value in ("null", "latest", "{max_records: 100}", "{max_read_time: 30s}")
    ]
    assert stops == [
        StopConfig(),
        StopConfig(latest=True),
        StopConfig(max_records=100),
        StopConfig(max_read_time_s=30.0),
    ]
    assert _error(DIRECT, "source.stop=soon") == (
        f"{DIRECT}: source.stop: expected null, latest, {{max_records: N}} or {{max_read_time: 30s}}, got 'soon'"
    )
    assert _error(DIRECT, "source.stop={max_records: 0}") == (
        f"{DIRECT}: source.stop.max_records: must be at least 1, got 0"
    )
    assert _error(DIRECT, "source.stop={}") == f"{DIRECT}: source.stop: give max_records or max_read_time"


@pytest.mark.parametrize(
    "value, ms",
    [
        ("2024-01-02T03:04:05Z", 1704164645000),  # YAML reads it as a datetime
        ("'2024-01-02T03:04:05.250+00:00'", 1704164645250),  # quoted: a string
        ("2024-01-02T05:04:05+02:00", 1704164645000),
        ("2024-01-02 03:04:05", 1704164645000),  # no zone: UTC
    ],
)
def test_start_iso_timestamps_become_milliseconds(value, ms):
    source = load_config(DIRECT, (f"source.start={value}",)).source
    assert (source.start, source.start_timestamp_ms) == ("timestamp", ms)


def test_start_names():
    assert [load_config(DIRECT, (f"source.start={name}",)).source.start for name in ("latest", "committed")] == [
        "latest",
        "committed",
    ]
    assert _error(DIRECT, "source.start=yesterday") == (
        f"{DIRECT}: source.start: expected earliest, latest, committed or an ISO-8601 time, got 'yesterday'"
    )
    assert _error(DIRECT, "source.start=committed", "source.group_id=") == (
        f"{DIRECT}: source.start: committed needs source.group_id"
    )


def test_start_accepts_an_unquoted_iso_date(tmp_path):
    path = _write(tmp_path, "date.yaml", "source: {start: 2024-01-02}\n")
    assert load_config(path).source.start_timestamp_ms == 1704153600000


SECRET_CONFIG = """\
source:
  consumer_config:
    security.protocol: SASL_SSL
    sasl.mechanism: PLAIN
    sasl.username: alice
    sasl.password: ${TEST_KAFKA_PASSWORD}
"""


def test_env_references_are_substituted_and_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_KAFKA_PASSWORD", "hunter2")
    config = load_config(_write(tmp_path, "secret.yaml", SECRET_CONFIG))
    assert config.source.consumer_config == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "alice",
        "sasl.password": "hunter2",
    }
    assert config.redacted()["source"]["consumer_config"] == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "alice",
        "sasl.password": "***",
    }
    assert "hunter2" not in repr(config) and "hunter2" not in str(config.redacted())


def test_a_missing_env_variable_names_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_KAFKA_PASSWORD", raising=False)
    path = _write(tmp_path, "secret.yaml", SECRET_CONFIG)
    assert _error(path) == (
        f"{path}: source.consumer_config.sasl.password: environment variable TEST_KAFKA_PASSWORD is not set"
    )


def test_redacted_keeps_settings_that_only_look_secret():
    assert load_config(DIRECT).redacted()["tokenize"]["tokenizer"] == "word"


def test_extends_merges_the_base_file(tmp_path):
    _write(
        tmp_path,
        "base.yaml",
        "runner: PrismRunner\nsource: {topics: [base]}\n"
        "window: {type: sliding, size: 1m, period: 30s}\ncount: {top_k: 7}\n",
    )
    child = _write(
        tmp_path, "child.yaml", "extends: base.yaml\nwindow: {size: 2m}\nsink: {type: jsonl, path: o.jsonl}\n"
    )
    config = load_config(child)
    assert (config.runner, config.source.topics, config.count.top_k) == ("PrismRunner", ("base",), 7)
    assert (config.window.type, config.window.size_s, config.window.period_s) == ("sliding", 120.0, 30.0)
    assert (config.sink.type, config.sink.path) == ("jsonl", "o.jsonl")
    loop = _write(tmp_path, "loop.yaml", "extends: loop.yaml\n")
    assert _error(loop) == f"{loop}: extends: circular ({loop} -> {loop})"


def test_null_is_refused_where_a_key_has_no_null_meaning():
    # Before pydantic, null slipped through as None: a crash later (top_k, size) or a silent False.
    assert _error(DIRECT, "count.top_k=null") == f"{DIRECT}: count.top_k: expected int, got null"
    assert _error(DIRECT, "tokenize.lowercase=") == f"{DIRECT}: tokenize.lowercase: expected bool, got null"
    assert _error(DIRECT, "window.size=null") == (
        f"{DIRECT}: window.size: expected a duration like 500ms, 30s, 5m, 1h or 1d, got None"
    )
    config = load_config(DIRECT, ("window=", "source.shards=null", "source.stop=", "tokenize.stopwords=null"))
    assert (config.window.size_s, config.source.shards, config.source.stop.bounded) == (60.0, None, False)


def test_attribute_names_are_no_keys_of_a_file():
    assert _error(DIRECT, "window.size_s=10") == f"{DIRECT}: window.size_s: unknown key"
    assert _error(DIRECT, "source.start_timestamp_ms=1") == f"{DIRECT}: source.start_timestamp_ms: unknown key"
    assert _error(DIRECT, "source.stop={latest: true}") == f"{DIRECT}: source.stop.latest: unknown key"
    assert _error(DIRECT, "path=x") == f"{DIRECT}: path: unknown key"


def test_a_derived_config_is_validated_again():
    import dataclasses

    config = load_config(DIRECT, ("trigger.early={every_n: 2}", "source.start=2024-01-02T03:04:05Z"))
    stop = dataclasses.replace(config.source.stop, max_read_time_s=30.0)
    derived = dataclasses.replace(config, source=dataclasses.replace(config.source, stop=stop))
    assert (derived.source.stop, derived.trigger.early, derived.source.start_timestamp_ms) == (
        StopConfig(max_read_time_s=30.0),
        ("every_n", 2),
        1704164645000,
    )
    with pytest.raises(ValueError, match="must be one of"):
        dataclasses.replace(config, runner="SparkRunner")
