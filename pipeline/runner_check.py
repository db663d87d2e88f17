"""Which runner will really execute a config, and whether that can work.

Beam 2.77's DirectRunner hands a pipeline to Prism unless it finds something
Prism is known not to handle (the checks of SwitchingDirectRunner.run_pipeline);
then it falls back to runners that cannot stream an unbounded source. This
module applies the same checks to a config before the job starts.

Prism runs all Python work in one SDK worker process. A bounded job that asks
for more (`options.direct_num_workers`, Beam's own knob; 0 means one per core)
runs on Beam's FnApiRunner with that many worker processes instead, the runner
the DirectRunner itself uses for batch jobs that do not go to Prism.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipeline.config import ConfigError, RunConfig
from transforms.windowing import AfterSeconds, EveryN

__all__ = ["RunnerPlan", "plan_runner", "worker_processes"]

_BEAM_ISSUE = "apache/beam#33623"


@dataclass(frozen=True)
class RunnerPlan:
    configured: str
    effective: str
    streaming: bool
    reasons: tuple = ()
    warnings: tuple = ()

    def describe(self) -> str:
        mode = "streaming" if self.streaming else "batch"
        if self.configured == self.effective:
            line = f"runner: {self.configured} ({mode})"
        else:
            line = f"runner: {self.configured} will execute on {self.effective} ({mode})"
        if self.reasons:
            line += ": " + "; ".join(self.reasons)
        return line


def _prism_blockers(config: RunConfig) -> list[str]:
    """The reasons Beam 2.77's DirectRunner would not use Prism for this config."""
    reasons = []
    if config.window.type == "session":
        reasons.append(f"session windows are not sent to Prism ({_BEAM_ISSUE})")
    if config.options.get("allow_unsafe_triggers"):
        reasons.append(f"allow_unsafe_triggers is set ({_BEAM_ISSUE})")
    if config.options.get("update_compatibility_version"):
        reasons.append("update_compatibility_version is set")
    return reasons


def _seconds(firing: AfterSeconds) -> str:
    return f"{firing.seconds:g}s"


def _processing_time_firings(config: RunConfig) -> list[str]:
    """The trigger keys that hold a processing-time delay (a duration, not {every_n: N})."""
    return [name for name, firing in config.trigger.firings().items() if isinstance(firing, AfterSeconds)]


_LATE_PANES_ON_PRISM = (
    "Prism labels some panes of late data EARLY or ON_TIME instead of LATE when panes accumulate "
    "with early firings (counts are right; tests/test_trigger_matrix.py)"
)


def _shards_on_prism(shards: int) -> str:
    return (
        f"source.shards: {shards} on Prism: Prism takes the watermark estimate of the reader bundle it saw "
        "last, not the minimum over the reader elements, so one shard's watermark races ahead while another "
        "shard holds, and that shard's records become late rows instead of counts (measured: all 40 records "
        "of a partition 15 s behind were late); leave source.shards unset (one reader element takes the "
        "minimum over its partitions itself), or read in parallel on Flink (run_configs/flink-local.yaml)"
    )


def _prism_stream_warnings(config: RunConfig, streaming: bool) -> list[str]:
    """What Prism does differently from the Beam model with this config on a stream (measured)."""
    warnings = []
    trigger = config.trigger
    if (
        not config.source.stop.bounded
        and trigger.accumulation == "accumulating"
        and trigger.early is not None
        and trigger.allowed_lateness_s > 0
    ):
        warnings.append(_LATE_PANES_ON_PRISM)
    if streaming and (config.source.shards or 1) > 1:
        warnings.append(_shards_on_prism(config.source.shards))
    return warnings


_BATCH_ON_PRISM = (
    "a bounded read runs on Prism as one batch: processing-time firings do not fire there, only the final pane"
)


def _refuse_processing_time_firings_on_prism(config: RunConfig, runner: str) -> None:
    """Prism 2.77 cannot run processing-time firings on an unbounded read: refuse them with the fix.

    Its ElementManager keeps a processing-time trigger's timer after the watermark has
    closed the window and dropped the window's state; when the timer comes due it writes
    into that state and the runner panics ('assignment to entry in nil map', in
    aggregateStageKind.buildProcessingTimeBundle). Measured on live streams: a timing race
    that ends the job sooner or later. A bounded read runs as one batch on Prism and never
    fires them (only the final pane), so it is let through.
    """
    firings = _processing_time_firings(config)
    if firings and not config.source.stop.bounded:
        name = firings[0]
        raise ConfigError(
            f"{config.path}: trigger.{name}: a processing-time firing ({_seconds(getattr(config.trigger, name))}) "
            f"on an unbounded read crashes Prism 2.77 (runner: {runner}; the runner panics when the firing comes "
            "due for a window it has already closed): use an element-count firing such as {every_n: 100}, "
            "or a Flink config (run_configs/flink-local.yaml)"
        )


def _requested_workers(config: RunConfig) -> int:
    """options.direct_num_workers as a number of processes (0: one per core)."""
    value = config.options.get("direct_num_workers", 1)
    try:
        workers = int(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{config.path}: options.direct_num_workers: expected a whole number, got {value!r}"
        ) from None
    if workers < 0:
        raise ConfigError(f"{config.path}: options.direct_num_workers: must be 0 (one per core) or more, got {workers}")
    return workers or os.cpu_count() or 1


def _is_streaming(config: RunConfig) -> bool:
    return not config.source.stop.bounded or bool(config.options.get("streaming"))


def worker_processes(config: RunConfig) -> int:
    """How many SDK worker processes the DirectRunner runs this job on; 1 when it goes to Prism."""
    if config.runner != "DirectRunner" or _is_streaming(config):
        return 1
    return _requested_workers(config)


def fans_out(config: RunConfig) -> bool:
    """Whether count.fanout applies: each of its two merges must fire once per window, at the watermark."""
    return config.count.fanout > 1 and config.window.type in ("fixed", "sliding") and not config.trigger.firings()


def plan_runner(config: RunConfig) -> RunnerPlan:
    """The runner that will execute the config; ConfigError when it cannot work."""
    streaming = _is_streaming(config)
    warnings = []
    if config.count.fanout > 1 and not fans_out(config):
        warnings.append(
            "count.fanout applies to fixed and sliding windows without early, late or repeated firings: "
            "here each window is merged on one key"
        )
    if any(isinstance(f, EveryN) for f in config.trigger.firings().values()):
        warnings.append(f"Prism may fire element-count triggers once more at the window end ({_BEAM_ISSUE})")
    if config.runner == "PrismRunner":
        _refuse_processing_time_firings_on_prism(config, "PrismRunner")
        if _processing_time_firings(config):
            warnings.append(_BATCH_ON_PRISM)
        warnings += _prism_stream_warnings(config, streaming)
    if config.runner != "DirectRunner":
        return RunnerPlan(config.runner, config.runner, streaming, warnings=tuple(warnings))
    workers = _requested_workers(config)
    if streaming and workers > 1:
        warnings.append("options.direct_num_workers applies to bounded reads: Prism streams in one SDK worker")
    if not streaming and workers > 1:
        return RunnerPlan(
            "DirectRunner",
            f"FnApiRunner ({workers} worker processes)",
            streaming,
            (f"direct_num_workers={workers} asks for worker processes; Prism runs one",),
            tuple(warnings),
        )
    if streaming:
        # Unbounded: the job runs on Prism, or it is refused below.
        _refuse_processing_time_firings_on_prism(config, "DirectRunner, which hands a stream to Prism")
    blockers = _prism_blockers(config)
    if not blockers:
        if _processing_time_firings(config):
            warnings.append(_BATCH_ON_PRISM)
        warnings += _prism_stream_warnings(config, streaming)
        return RunnerPlan(
            "DirectRunner",
            "PrismRunner",
            streaming,
            ("Beam's DirectRunner hands this pipeline to Prism",),
            tuple(warnings),
        )
    if streaming:
        raise ConfigError(
            f"{config.path}: runner: DirectRunner would leave Prism ({'; '.join(blockers)}) for a runner that "
            "cannot stream an unbounded Kafka read: set runner: PrismRunner, or a bounded source.stop"
        )
    return RunnerPlan("DirectRunner", "FnApiRunner (in-process batch)", streaming, tuple(blockers), tuple(warnings))
