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


def _requested_workers(config: RunConfig) -> int:
    """options.direct_num_workers as a number of processes (0: one per core)."""
    value = config.options.get("direct_num_workers", 1)
    try:
        workers = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{config.path}: options.direct_num_workers: expected a whole number, got {value!r}") from None
    if workers < 0:
        raise ConfigError(f"{config.path}: options.direct_num_workers: must be 0 (one per core) or more, "
                          f"got {workers}")
    return workers or os.cpu_count() or 1


def _is_streaming(config: RunConfig) -> bool:
    return not config.source.stop.bounded or bool(config.options.get("streaming"))


def worker_processes(config: RunConfig) -> int:
    """How many SDK worker processes the DirectRunner runs this job on; 1 when it goes to Prism."""
    if config.runner != "DirectRunner" or _is_streaming(config):
        return 1
    return _requested_workers(config)


def plan_runner(config: RunConfig) -> RunnerPlan:
    """The runner that will execute the config; ConfigError when it cannot work."""
    streaming = _is_streaming(config)
    warnings = []
    if any(isinstance(f, tuple) for f in (config.trigger.early, config.trigger.late, config.trigger.repeat)):
        warnings.append(f"Prism may fire element-count triggers once more at the window end ({_BEAM_ISSUE})")
    if config.runner != "DirectRunner":
        return RunnerPlan(config.runner, config.runner, streaming, warnings=tuple(warnings))
    workers = _requested_workers(config)
    if streaming and workers > 1:
        warnings.append("options.direct_num_workers applies to bounded reads: Prism streams in one SDK worker")
    if not streaming and workers > 1:
        return RunnerPlan("DirectRunner", f"FnApiRunner ({workers} worker processes)", streaming,
                          (f"direct_num_workers={workers} asks for worker processes; Prism runs one",),
                          tuple(warnings))
    blockers = _prism_blockers(config)
    if not blockers:
        return RunnerPlan("DirectRunner", "PrismRunner", streaming,
                          ("Beam's DirectRunner hands this pipeline to Prism",), tuple(warnings))
    if streaming:
        raise ConfigError(
            f"{config.path}: runner: DirectRunner would leave Prism ({'; '.join(blockers)}) for a runner that "
            "cannot stream an unbounded Kafka read: set runner: PrismRunner, or a bounded source.stop")
    return RunnerPlan("DirectRunner", "FnApiRunner (in-process batch)", streaming, tuple(blockers), tuple(warnings))
