"""A Flink session cluster that lost a process gets back only what died, and keeps its JobManager.

A real cluster of its own (free ports, a temp state dir) whose processes get killed
with SIGKILL. The jobs of a session cluster live in its JobManager (no high
availability here), so a JobManager that keeps its pid keeps its jobs.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from pipeline.stack import FlinkCluster
from pipeline.stack.net import accepts_connections, free_ports


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlinkCluster]:
    """A cluster of this module only: its processes get killed."""
    rest_port, rpc_port, pool_port = free_ports(3)
    cluster = FlinkCluster(rest_port, rpc_port, pool_port, tmp_path_factory.mktemp("stack") / "flink")
    assert cluster.start(timeout=180) == ["jobmanager", "taskmanager", "worker-pool"]
    try:
        yield cluster
    finally:
        cluster.stop()


def _wait_for(what: str, check: Callable[[], object], timeout_s: float = 120) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {timeout_s:g}s")


def _taskmanager_ids(cluster: FlinkCluster) -> set[str]:
    return {tm["id"] for tm in cluster.rest("/taskmanagers")["taskmanagers"]}


def test_a_killed_taskmanager_comes_back_beside_the_same_jobmanager(cluster):
    before, old_taskmanagers = cluster.pids(), _taskmanager_ids(cluster)
    os.kill(before["taskmanager"], signal.SIGKILL)
    _wait_for("dead taskmanager", lambda: cluster.pids()["taskmanager"] is None, 10)

    assert cluster.start(timeout=180) == ["taskmanager"]

    after = cluster.pids()
    assert after["jobmanager"] == before["jobmanager"] and after["worker-pool"] == before["worker-pool"]
    assert after["taskmanager"] not in (None, before["taskmanager"])
    assert _taskmanager_ids(cluster) - old_taskmanagers  # a new TaskManager registered (the old one may linger)
    assert cluster.rest("/overview")["slots-total"] >= cluster.slots
    assert cluster.start() == []  # everything runs: nothing to do


def test_a_killed_worker_pool_comes_back_alone(cluster):
    before = cluster.pids()
    os.kill(before["worker-pool"], signal.SIGKILL)
    _wait_for("dead worker pool", lambda: cluster.pids()["worker-pool"] is None, 10)

    assert cluster.start(timeout=180) == ["worker-pool"]

    after = cluster.pids()
    assert (after["jobmanager"], after["taskmanager"]) == (before["jobmanager"], before["taskmanager"])
    assert accepts_connections(cluster.worker_pool_port)
