"""Which runner will really execute a config, and whether that can work.

Beam 2.77's DirectRunner hands a pipeline to Prism unless it finds something
Prism is known not to handle (the checks of SwitchingDirectRunner.run_pipeline);
then it falls back to runners that cannot stream an unbounded source. This
module applies the same checks to a config before the job starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import ConfigError, RunConfig

__all__ = ["RunnerPlan", "plan_runner"]

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


def plan_runner(config: RunConfig) -> RunnerPlan:
    """The runner that will execute the config; ConfigError when it cannot work."""
    streaming = not config.source.stop.bounded or bool(config.options.get("streaming"))
    warnings = []
    if any(isinstance(f, tuple) for f in (config.trigger.early, config.trigger.late, config.trigger.repeat)):
        warnings.append(f"Prism may fire element-count triggers once more at the window end ({_BEAM_ISSUE})")
    if config.runner != "DirectRunner":
        return RunnerPlan(config.runner, config.runner, streaming, warnings=tuple(warnings))
    blockers = _prism_blockers(config)
    if not blockers:
        return RunnerPlan("DirectRunner", "PrismRunner", streaming,
                          ("Beam's DirectRunner hands this pipeline to Prism",), tuple(warnings))
    if streaming:
        raise ConfigError(
            f"{config.path}: runner: DirectRunner would leave Prism ({'; '.join(blockers)}) for a runner that "
            "cannot stream an unbounded Kafka read: set runner: PrismRunner, or a bounded source.stop")
    return RunnerPlan("DirectRunner", "FnApiRunner (in-process batch)", streaming, tuple(blockers), tuple(warnings))
