"""The pre-flight check: which runner really executes a config, and refusals with the fix."""

from __future__ import annotations

import dataclasses
import os

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.runner_check import fans_out, plan_runner, worker_processes
from tests.integration_helpers import DIRECT_CONFIG, REPO, config_overrides, run_cli


def _config(*overrides: str):
    return load_config(DIRECT_CONFIG, overrides)


def test_direct_runner_hands_a_streaming_fixed_window_job_to_prism():
    plan = plan_runner(_config())
    assert (plan.effective, plan.streaming) == ("PrismRunner", True)
    assert plan.describe() == (
        "runner: DirectRunner will execute on PrismRunner (streaming): Beam's DirectRunner hands this pipeline to Prism"
    )


@pytest.mark.parametrize(
    "overrides, reason",
    [
        (("window.type=session", "window.gap=5s"), "session windows are not sent to Prism"),
        (("options.allow_unsafe_triggers=true",), "allow_unsafe_triggers is set"),
        (("options.update_compatibility_version=2.60.0",), "update_compatibility_version is set"),
    ],
)
def test_direct_runner_refuses_an_unbounded_read_it_would_take_away_from_prism(overrides, reason):
    with pytest.raises(ConfigError) as error:
        plan_runner(_config(*overrides))
    message = str(error.value)
    assert reason in message and "set runner: PrismRunner, or a bounded source.stop" in message
    assert "\n" not in message


def test_a_bounded_read_that_leaves_prism_runs_in_process():
    plan = plan_runner(_config("window.type=session", "window.gap=5s", "source.stop=latest"))
    assert (plan.effective, plan.streaming) == ("FnApiRunner (in-process batch)", False)
    assert plan.reasons == ("session windows are not sent to Prism (apache/beam#33623)",)


def test_a_bounded_read_asking_for_worker_processes_runs_on_them():
    plan = plan_runner(_config("source.stop=latest", "options.direct_num_workers=2"))
    assert (plan.effective, plan.streaming) == ("FnApiRunner (2 worker processes)", False)
    assert worker_processes(_config("source.stop=latest", "options.direct_num_workers=2")) == 2
    every_core = _config("source.stop=latest", "options.direct_num_workers=0")
    assert worker_processes(every_core) == (os.cpu_count() or 1)


def test_worker_processes_do_not_apply_to_a_stream():
    config = _config("options.direct_num_workers=2")
    plan = plan_runner(config)
    assert (plan.effective, worker_processes(config)) == ("PrismRunner", 1)
    assert any("applies to bounded reads" in warning for warning in plan.warnings)


def test_a_bad_worker_count_is_a_one_line_error():
    with pytest.raises(ConfigError, match="options.direct_num_workers: expected a whole number, got 'two'"):
        plan_runner(_config("source.stop=latest", "options.direct_num_workers=two"))


def test_the_reader_has_one_shard_per_worker_process_unless_configured():
    from pipeline.graph import build_pipeline, pipeline_options

    def shards(*overrides):
        config = _config("source.stop=latest", *overrides)
        pipeline = build_pipeline(config, pipeline_options(config))
        read = next(t.transform for t in pipeline.transforms_stack[0].parts if t.full_label == "ReadFromKafka")
        return read._shards

    assert shards() == 1
    assert shards("options.direct_num_workers=2") == 2
    assert shards("options.direct_num_workers=2", "source.shards=4") == 4


def test_count_fanout_applies_to_windows_that_fire_once_at_the_watermark_and_says_so_otherwise():
    for overrides in ((), ("window.type=sliding", "window.size=10s", "window.period=5s")):
        config = _config("count.fanout=2", *overrides)
        assert fans_out(config) and not plan_runner(config).warnings
    for overrides in (("window.type=session", "window.gap=5s", "runner=PrismRunner"), ("trigger.early={every_n: 10}",)):
        config = _config("count.fanout=2", *overrides)
        assert not fans_out(config)
        assert any("count.fanout applies to fixed and sliding windows" in w for w in plan_runner(config).warnings)
    assert not fans_out(_config())


def test_prism_runner_is_used_as_asked_and_count_triggers_carry_a_warning():
    plan = plan_runner(
        _config("runner=PrismRunner", "window.type=session", "window.gap=5s", "trigger.early={every_n: 10}")
    )
    assert plan.effective == "PrismRunner"
    assert plan.warnings and "element-count triggers" in plan.warnings[0]


_PRISM_PANIC_FIX = (
    "use an element-count firing such as {every_n: 100}, or a Flink config (run_configs/flink-local.yaml)"
)


@pytest.mark.parametrize("runner", ["DirectRunner", "PrismRunner"])
@pytest.mark.parametrize(
    "overrides, key, shown",
    [
        (("trigger.early=30s",), "trigger.early", "(30s)"),
        (("trigger.early=500ms",), "trigger.early", "(0.5s)"),
        (("trigger.early={every_n: 5}", "trigger.late=2s", "trigger.allowed_lateness=1m"), "trigger.late", "(2s)"),
        (("window.type=global", "trigger.repeat=10s"), "trigger.repeat", "(10s)"),
        (("trigger.early=2s", "source.stop={max_read_time: 30s}"), "trigger.early", "(2s)"),
    ],
)
def test_prism_refuses_processing_time_firings_on_an_unbounded_read(runner, overrides, key, shown):
    # Prism 2.77 panics ('assignment to entry in nil map') when such a firing comes due for a
    # window whose state it has already dropped: reproduced on live streams (issue 11).
    with pytest.raises(ConfigError) as error:
        plan_runner(_config(f"runner={runner}", *overrides))
    message = str(error.value)
    assert message.startswith(
        f"{DIRECT_CONFIG}: {key}: a processing-time firing {shown} on an unbounded read crashes Prism 2.77"
    )
    assert message.endswith(_PRISM_PANIC_FIX) and "\n" not in message


def test_a_stream_with_session_windows_is_refused_for_the_firing_first():
    # The session windows alone would send the user to PrismRunner, which refuses the firing as well.
    with pytest.raises(ConfigError, match=r"trigger\.early: a processing-time firing \(2s\)"):
        plan_runner(_config("window.type=session", "window.gap=5s", "trigger.early=2s"))


@pytest.mark.parametrize("runner", ["DirectRunner", "PrismRunner"])
def test_prism_runs_element_count_firings_on_a_stream(runner):
    config = _config(
        f"runner={runner}", "trigger.early={every_n: 20}", "trigger.late={every_n: 1}", "trigger.allowed_lateness=1m"
    )
    assert plan_runner(config).effective == "PrismRunner"


@pytest.mark.parametrize("runner", ["DirectRunner", "PrismRunner"])
def test_a_bounded_read_on_prism_takes_processing_time_firings_with_a_warning(runner):
    # Measured: bounded reads (stop: latest, and max_records of a live stream) ran to the end on
    # Prism with early: 1s, and gave only ON_TIME panes.
    plan = plan_runner(_config(f"runner={runner}", "trigger.early=2s", "source.stop=latest"))
    assert plan.effective == "PrismRunner"
    assert any("processing-time firings do not fire there, only the final pane" in w for w in plan.warnings)


@pytest.mark.parametrize("runner", ["DirectRunner", "PrismRunner"])
def test_prism_warns_that_late_panes_are_mislabelled_when_accumulating_with_early_firings(runner):
    # Measured in tests/test_trigger_matrix.py (fixed windows, early every_n, late every_n, accumulating).
    def warnings(*overrides):
        return plan_runner(_config(f"runner={runner}", *overrides)).warnings

    late_setup = ("trigger.early={every_n: 4}", "trigger.late={every_n: 1}", "trigger.allowed_lateness=1m")
    assert any(
        "labels some panes of late data EARLY or ON_TIME" in w
        for w in warnings(*late_setup, "trigger.accumulation=accumulating")
    )
    assert not any("late data" in w for w in warnings(*late_setup, "trigger.accumulation=discarding"))
    assert not any(
        "late data" in w for w in warnings("trigger.early={every_n: 4}", "trigger.accumulation=accumulating")
    )


def test_flink_takes_processing_time_firings_on_a_stream():
    plan = plan_runner(load_config(str(REPO / "run_configs" / "flink-local.yaml"), ["trigger.early=2s"]))
    assert plan.effective == "FlinkRunner" and not plan.warnings


def test_a_bounded_read_outside_prism_takes_processing_time_firings_without_a_warning():
    plan = plan_runner(_config("trigger.early=2s", "source.stop=latest", "options.direct_num_workers=2"))
    assert plan.effective.startswith("FnApiRunner") and not plan.warnings


def test_validate_refuses_the_readme_early_firing_on_the_default_config():
    refused = run_cli("validate", "--config", DIRECT_CONFIG, "--set", "trigger.early=30s")
    assert refused.returncode == 2
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: {DIRECT_CONFIG}: trigger.early: a processing-time firing (30s)")
    assert line.endswith(_PRISM_PANIC_FIX)


def test_other_runners_are_taken_as_they_are():
    config = dataclasses.replace(_config(), runner="FlinkRunner")
    assert plan_runner(config).describe() == "runner: FlinkRunner (streaming)"


def test_validate_explains_the_effective_runner_and_refuses_with_the_fix():
    ok = run_cli("validate", "--config", DIRECT_CONFIG)
    assert ok.returncode == 0 and "will execute on PrismRunner" in ok.stdout
    refused = run_cli(
        "validate", "--config", DIRECT_CONFIG, *config_overrides(window__type="session", window__gap="5s")
    )
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"error: {DIRECT_CONFIG}: runner: DirectRunner would leave Prism (session windows are not sent to Prism "
        "(apache/beam#33623)) for a runner that cannot stream an unbounded Kafka read: set runner: PrismRunner, "
        "or a bounded source.stop"
    ]


def test_a_bounded_session_job_really_runs_outside_prism(kafka_broker, fresh_topic, tmp_path):
    from pipeline.devtools.producer import ProducerRecord, produce_messages

    topic = fresh_topic(partitions=1)
    produce_messages(kafka_broker.bootstrap_servers, topic, [ProducerRecord("a b", None, 1_767_600_000_000)])
    result = run_cli(
        "run",
        "--config",
        DIRECT_CONFIG,
        *config_overrides(
            source__bootstrap_servers=kafka_broker.bootstrap_servers,
            source__topics=[topic],
            source__stop="latest",
            window__type="session",
            window__gap="5s",
            sink__type="jsonl",
            sink__path=str(tmp_path / "o.jsonl"),
        ),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "executing on: FnApiRunner (in-process batch)" in result.stderr


@pytest.mark.parametrize("runner", ["DirectRunner", "PrismRunner"])
def test_prism_warns_that_more_than_one_reader_shard_turns_a_slower_partition_late(runner):
    # Measured (issue 19, item 10): Prism, shards: 2, one partition 15 s behind the other: all
    # 40 of its records became late. Flink holds a watermark per restriction and takes the minimum.
    def shard_warnings(*overrides):
        plan = plan_runner(_config(f"runner={runner}", *overrides))
        return [w for w in plan.warnings if "source.shards" in w]

    [warning] = shard_warnings("source.shards=2")
    assert warning.startswith("source.shards: 2 on Prism: ")
    assert "late rows" in warning and "leave source.shards unset" in warning
    assert shard_warnings("source.shards=1") == shard_warnings() == []
    flink = load_config(str(REPO / "run_configs" / "flink-local.yaml"), ["source.shards=2"])
    assert not [w for w in plan_runner(flink).warnings if "source.shards" in w]


def test_validate_prints_the_shards_warning_with_the_fix():
    result = run_cli("validate", "--config", DIRECT_CONFIG, "--set", "source.shards=2")
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if "source.shards" in line]
    assert line.startswith("warning: source.shards: 2 on Prism: ") and line.endswith("(run_configs/flink-local.yaml)")
