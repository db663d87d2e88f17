"""The jobs a Flink cluster still runs, from its REST API: so that a run never starts beside its own orphan.

A FlinkRunner run submits its job through Beam's job server, which dies with the
`run` process; the job on a session cluster does not. After a ``kill -9`` of `run`
the job stays RUNNING and keeps reading and writing, and a rerun on the same
consumer group would submit a second job beside it: both count the same records.
Every run of this pipeline names its job after its consumer group and topics
(`flink_job_name`), so the next run can ask the cluster (``GET /jobs/overview``)
whether that job still runs, and refuse with the job's id and the command that
cancels it (`refuse_running_job`). It refuses rather than cancels: the job may be
another user's live run, and cancelling is one command away.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from pipeline.stack.errors import StackError

if TYPE_CHECKING:
    from apache_beam.options.pipeline_options import PipelineOptions

__all__ = [
    "ACTIVE_STATES",
    "FlinkJob",
    "cancel_job",
    "flink_job_name",
    "refuse_running_job",
    "rest_url",
    "running_jobs_named",
]

ACTIVE_STATES = frozenset({"INITIALIZING", "CREATED", "RUNNING", "FAILING", "RESTARTING", "RECONCILING"})
"""Flink job states in which a job holds (or will take back) its sources and sinks; CANCELLING is on its way out."""

_EMBEDDED_MASTERS = frozenset({"", "[auto]", "[local]", "[collection]"})
_JOB_NAME_PREFIX = "token-counts"


class FlinkJob(NamedTuple):
    """One job of ``GET /jobs/overview``: its id, name, state and start time (ms since the epoch)."""

    jid: str
    name: str
    state: str
    start_time_ms: int


def flink_job_name(group_id: str, topics: Sequence[str]) -> str:
    """The Flink job name of a run that reads ``topics`` as consumer group ``group_id``.

    ``token-counts/<group_id>/<topic>,<topic>`` with the topics sorted: two runs
    get the same name exactly when they would commit offsets of the same
    partitions for the same group. A topic name cannot hold ``/``, so the name
    is unambiguous whatever the group id holds.

    Example:
        >>> flink_job_name("token-counts", ["text-stream", "more-text"])
        'token-counts/token-counts/more-text,text-stream'
    """
    return f"{_JOB_NAME_PREFIX}/{group_id}/{','.join(sorted(topics))}"


def rest_url(flink_master: str | None) -> str | None:
    """The REST base URL of a ``flink_master`` option (``host:port`` or a URL); None for an embedded Flink."""
    master = (flink_master or "").strip().rstrip("/")
    if master in _EMBEDDED_MASTERS:
        return None
    return master if "://" in master else f"http://{master}"


def running_jobs_named(flink_master: str, job_name: str, timeout: float = 5.0) -> list[FlinkJob]:
    """The jobs on the cluster at ``flink_master`` that are named ``job_name`` and not over (`ACTIVE_STATES`).

    Args:
        flink_master: The cluster's REST address, ``host:port`` or ``http://host:port``.
        job_name: The exact job name, e.g. from `flink_job_name`.
        timeout: Seconds to wait for the REST API.

    Returns:
        The matching jobs, oldest first; empty for an embedded Flink (``[auto]``, ``[local]``).

    Raises:
        StackError: The REST API does not answer or answers something that is not a job list.
    """
    base = rest_url(flink_master)
    if base is None:
        return []
    try:
        with urllib.request.urlopen(f"{base}/jobs/overview", timeout=timeout) as response:
            jobs = json.loads(response.read().decode("utf-8"))["jobs"]
        found = [
            FlinkJob(job["jid"], job["name"], job["state"], int(job.get("start-time", 0)))
            for job in jobs
            if job.get("name") == job_name and job.get("state") in ACTIVE_STATES
        ]
    except (OSError, ValueError) as e:
        raise StackError(f"cannot ask the Flink cluster at {base} for its jobs: {_reason(e)}{_hint(base)}") from None
    except (KeyError, TypeError):
        raise StackError(f"the Flink cluster at {base} answered /jobs/overview without a job list") from None
    return sorted(found, key=lambda job: job.start_time_ms)


def refuse_running_job(options: PipelineOptions) -> None:
    """Refuses a FlinkRunner run whose job (same ``job_name``) still runs on its cluster.

    Call it with the options the pipeline was built with (``pipeline.options``),
    before submitting. It does nothing for other runners, an embedded Flink, or
    a run without a ``job_name``.

    Raises:
        StackError: One line naming the running job's id, its state and since
            when, and the command that cancels it; or the cluster's REST API
            does not answer (the submission would fail too).
    """
    run = _cluster_run(options)
    if run is None:
        return
    master, job_name = run
    base = rest_url(master)
    jobs = running_jobs_named(master, job_name)
    if not jobs:
        return
    described = "; ".join(f"{job.jid} ({job.state} since {_clock(job.start_time_ms)})" for job in jobs)
    cancels = " && ".join(f"curl -X PATCH '{base}/jobs/{job.jid}?mode=cancel'" for job in jobs)
    raise StackError(
        f"a Flink job of this pipeline (job name {job_name!r}) still runs on {base}: {described}; "
        f"a second one would count the same records again. Cancel it with: {cancels} "
        "(or in the web UI), then run again; source.start: committed resumes after what it wrote"
    )


def cancel_job(flink_master: str, jid: str, timeout: float = 10.0) -> None:
    """Asks the cluster at ``flink_master`` to cancel job ``jid`` (``PATCH /jobs/<jid>?mode=cancel``); does not wait."""
    base = rest_url(flink_master)
    if base is None:
        raise StackError(f"no Flink cluster to cancel a job on: flink_master is {flink_master!r}")
    request = urllib.request.Request(f"{base}/jobs/{jid}?mode=cancel", method="PATCH")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            pass
    except (OSError, ValueError) as e:
        raise StackError(f"cannot cancel Flink job {jid} on {base}: {_reason(e)}") from None


def _cluster_run(options: PipelineOptions) -> tuple[str, str] | None:
    """``(flink_master, job_name)`` of a FlinkRunner run on a cluster with a job name; None otherwise."""
    from apache_beam.options.pipeline_options import FlinkRunnerOptions, GoogleCloudOptions, StandardOptions

    runner = str(options.view_as(StandardOptions).runner or "")
    master = options.view_as(FlinkRunnerOptions).flink_master
    job_name = options.view_as(GoogleCloudOptions).job_name
    if not runner.endswith("FlinkRunner") or not job_name or rest_url(master) is None:
        return None
    return master, job_name


def _reason(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _hint(base: str) -> str:
    local = base.startswith(("http://127.0.0.1", "http://localhost"))
    return " (start a local one with: python -m pipeline stack up --flink)" if local else ""


def _clock(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) if ms > 0 else "an unknown time"
