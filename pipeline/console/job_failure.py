"""A failed job in one line: what failed (a sink, the reader, the committer, the Flink job) and why.

A runner reports a failed job as text: Prism and Beam's FnApiRunner as the Python
worker's traceback, chained and wrapped by Beam (`RuntimeError: OSError: ... [while
running 'WriteResults/Write']`); the Flink job server as the root cause of a Java
exception, whose message can carry a whole Java stack trace (a Flink REST error is
`RestClientException: [<the server's stack trace>]`) or a Python worker's traceback.
`describe_failure` reads that text: the step that failed from Beam's `[while running
'...']`, the innermost error (the first exception of a Python chain, the last `Caused
by:` of a Java one), and names the output a sink step writes from the run config.
"""

from __future__ import annotations

import re
from typing import Optional

__all__ = ["describe_failure", "innermost_error"]

_PYTHON_TRACEBACK = "Traceback (most recent call last):"
# `SomeError: message` at the start of a line (Python), or after `Caused by: ` (Java).
_EXCEPTION = re.compile(
    r"^(?:Caused by: )?(?P<type>[A-Za-z_][\w.$]*(?:Error|Exception|Exit|Interrupt)): ?(?P<message>.*)$"
)
# How Beam's portable runners begin the text of a failed job.
_BEAM_PREFIX = re.compile(r"^\s*Pipeline \S+ failed in state \w+: ")
_STEP = re.compile(r" ?\[while running '(?P<step>[^']*)'\]")
_FLINK_JOB_GONE = re.compile(
    r"Could not find Flink job \((?P<id>[0-9a-f]+)\)|FlinkJobNotFoundException|JobExecutionResultNotFoundException"
)
_SINK_STEPS = {"WriteResults": "sink", "WriteDeadLetters": "dead_letter", "WriteLateRecords": "late_records"}
_SINK_NAMES = {
    "sink": "the {type} sink",
    "dead_letter": "the dead-letter {type} sink",
    "late_records": "the late-record {type} sink",
}
_LIMIT = 400


def _python_root(lines: list[str]) -> Optional[str]:
    """The first exception line after the first Python traceback: the root of a chain, which Python prints first."""
    for i, line in enumerate(lines):
        if line.rstrip().endswith(_PYTHON_TRACEBACK):
            for candidate in lines[i + 1 :]:
                if _EXCEPTION.match(candidate):
                    return candidate
    return None


def _java_root(lines: list[str]) -> Optional[str]:
    """The last `Caused by:` line of a Java stack trace, else its first exception line."""
    caused = [line for line in lines if line.startswith("Caused by: ") and _EXCEPTION.match(line)]
    if caused:
        return caused[-1]
    return next((line for line in lines if _EXCEPTION.match(line.strip())), None)


def _unwrap(line: str) -> str:
    """`RuntimeError: OSError: [Errno 28] ...` -> `OSError: [Errno 28] ...`; Java packages dropped; a type kept
    unless the message says it (an OSError's `[Errno N] ...`)."""
    line = _STEP.sub("", line.strip())
    match = _EXCEPTION.match(line)
    while match and _EXCEPTION.match(match.group("message")):
        match = _EXCEPTION.match(match.group("message"))
    if not match:
        return line
    kind, message = match.group("type").rsplit(".", 1)[-1].split("$")[-1], match.group("message").strip()
    if re.match(r"\[Errno \d+\]", message) or not message:
        return message or kind
    return f"{kind}: {message}"


def innermost_error(text: str) -> str:
    """The innermost error a failed job's text names, in one line (its type kept where its message needs it)."""
    text = _BEAM_PREFIX.sub("", text.replace("\r", ""), count=1)
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    root = _python_root(lines) or _java_root(lines)
    if root is None:
        root = lines[-1] if lines[-1].strip() not in ("]", ")") else lines[0]
    return _unwrap(root)[:_LIMIT]


def _failed_step(text: str) -> Optional[str]:
    steps = _STEP.findall(text)
    return steps[-1] if steps else None


def _sink_failure(key: str, sink, error: str) -> str:
    what = _SINK_NAMES[key].format(type=sink.type)
    if sink.type == "jsonl":
        path = str(sink.path)
        for quoted in (f": '{path}'", f": {path!r}"):
            error = error.removesuffix(quoted)
        return f"{what} could not write {path}: {error}"
    if sink.type == "kafka":
        return f"{what} could not write to Kafka topic {sink.topic}: {error}"
    return f"{what} could not write to {'stderr' if sink.type == 'log' else 'stdout'}: {error}"


def _resume(config) -> str:
    if config is not None and not config.source.commits:
        return ""
    return "; a rerun with source.start: committed resumes from the last committed offsets"


def _flink_master(config) -> str:
    master = str(config.options.get("flink_master", "")) if config is not None else ""
    return f" at {master}" if master and master != "[local]" else ""


def _flink_job_gone(config, match: re.Match) -> str:
    job = f" {match.group('id')}" if match.group("id") else ""
    return (
        f"the Flink job{job} is gone from the cluster{_flink_master(config)} (a restarted or replaced "
        f"cluster forgets its jobs){_resume(config)}"
    )


def describe_failure(text: str, config=None) -> str:
    """One line that says what failed and why, from the text of a failed job (RuntimeError's message).

    Args:
        text: What the runner reported: Beam's `Pipeline ... failed in state FAILED: ...`, a worker
            traceback, or a Java exception of the Flink job server.
        config: The run config (names a sink's path or topic, the Flink master, whether offsets are committed).
    """
    gone = _FLINK_JOB_GONE.search(text)
    if gone:
        return _flink_job_gone(config, gone)
    error = innermost_error(text)
    step = _failed_step(text)
    if step is None:
        if config is not None and config.runner == "FlinkRunner":
            return f"the Flink job failed{_flink_master(config)}: {error}{_resume(config)}"
        return f"the pipeline failed: {error}"
    top = step.split("/", 1)[0]
    if top in _SINK_STEPS and config is not None:
        return _sink_failure(_SINK_STEPS[top], getattr(config, _SINK_STEPS[top]), error)
    if top == "ReadFromKafka":
        return f"the Kafka reader failed ({step}): {error}"
    if top == "CommitOffsets":
        group = f" to group {config.source.group_id}" if config is not None else ""
        return f"committing offsets{group} failed: {error}"
    return f"step {step} failed: {error}"
