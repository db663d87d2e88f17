"""GroupLease on a real broker: one run at a time commits to a consumer group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.group_lease import GroupInUse, GroupLease


def _lease(broker, topic: str, group: str) -> GroupLease:
    return GroupLease(broker.bootstrap_servers, group, [topic])


def _wait_held(lease: GroupLease, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not lease.holders():
        assert time.monotonic() < deadline, "the lease was never held"
        time.sleep(0.2)


def test_a_second_run_on_a_group_in_use_is_refused_and_the_next_one_after_it_is_not(kafka_broker, fresh_topic):
    topic = fresh_topic(partitions=2)
    first = _lease(kafka_broker, topic, "leased")
    first.acquire()
    try:
        second = _lease(kafka_broker, topic, "leased")
        second._me = "another run"  # two runs of one test process: tell them apart
        _wait_held(second)
        with pytest.raises(GroupInUse, match=r"consumer group 'leased' is in use by another run: token-counts run pid"):
            second.acquire()
    finally:
        first.release()
    after = _lease(kafka_broker, topic, "leased")
    after._me = "a later run"
    started = time.monotonic()
    after.acquire()  # the first left the group when it released: no wait
    after.release()
    assert time.monotonic() - started < 5


def test_a_killed_runs_lease_expires_and_the_restart_goes_on(kafka_broker, fresh_topic):
    topic = fresh_topic(partitions=1)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pipeline.group_lease import GroupLease; "
            "GroupLease(sys.argv[1], 'killed', [sys.argv[2]]).acquire(); time.sleep(600)",
            kafka_broker.bootstrap_servers,
            topic,
        ],
    )
    try:
        restart = _lease(kafka_broker, topic, "killed")
        restart._me = "the restart"
        _wait_held(restart)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    restart.acquire()  # waits for the killed member to expire, then holds
    restart.release()
