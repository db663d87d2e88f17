"""SIGTERM and SIGINT stop `run` the same way on every runner, and every socket a run listens on is loopback.

Each test starts the real CLI on the real broker, waits until the job runs, lists the
TCP sockets in LISTEN state that the CLI and its descendants hold (/proc/net/tcp and
tcp6, socket inode -> pid through /proc/<pid>/fd), then sends the signal: SIGTERM to
the CLI's pid as `kill` does, SIGINT to its whole process group as a terminal's Ctrl-C
does. `run` must exit promptly with 128 + the signal number and leave no process behind.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from pipeline.devtools.producer import ProducerRecord, produce_messages
from tests.integration_helpers import (
    DIRECT_CONFIG,
    REPO,
    config_overrides,
    descendants,
    is_loopback,
    listening_sockets,
    start_cli,
    wait_gone,
)

_NOISE = (
    "Traceback",
    "Internal gRPC call error",
    "Really destroying",
    "apitools not found",
    "Exception in thread",
    "KeyboardInterrupt",
)


def _wait_for(log: Path, text: str, runner, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        assert runner.poll() is None, f"run exited early ({runner.returncode}):\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} within {timeout_s}s:\n{log.read_text()[-3000:]}")


def _sockets_of_run(pid: int) -> list[tuple[int, str, str]]:
    return listening_sockets({pid} | descendants(pid))


def _stop_and_check(runner, signum: int, log: Path, *, to_group: bool, within_s: float = 30) -> set[int]:
    family = descendants(runner.pid)
    started = time.monotonic()
    (os.killpg if to_group else os.kill)(runner.pid, signum)
    code = runner.wait(timeout=within_s + 30)
    took = time.monotonic() - started
    output = log.read_text(errors="replace")
    assert code == 128 + signum, f"exit {code} after {signal.Signals(signum).name}:\n{output[-3000:]}"
    assert took < within_s, f"took {took:.1f}s to stop:\n{output[-3000:]}"
    left = wait_gone(family, timeout_s=5)
    assert not left, f"processes left behind: {sorted(left)}"
    noise = [line for line in output.splitlines() if any(marker in line for marker in _NOISE)]
    assert not noise, f"noise on {signal.Signals(signum).name}: {noise[:5]}\n{output[-3000:]}"
    return family


@pytest.fixture
def busy_topic(kafka_broker, fresh_topic):
    topic = fresh_topic(partitions=2)
    produce_messages(
        kafka_broker.bootstrap_servers,
        topic,
        [ProducerRecord(f"message {n} with a few words in it", None, None) for n in range(200)],
    )
    return topic


def _settings(kafka_broker, topic: str, **more) -> list[str]:
    return config_overrides(
        source__bootstrap_servers=kafka_broker.bootstrap_servers,
        source__topics=[topic],
        source__group_id=f"g-{uuid.uuid4().hex[:8]}",
        **more,
    )


def _assert_loopback_only(runner, log: Path, expect_at_least: int, known_exception=None) -> list:
    sockets = _sockets_of_run(runner.pid)
    exposed = [s for s in sockets if not is_loopback(s[1]) and not (known_exception and known_exception(s))]
    assert not exposed, f"listening on a non-loopback address: {exposed}"
    assert len(sockets) >= expect_at_least, f"expected the run's servers to listen, found {sockets}"
    return sockets


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_prism_stream_is_cancelled_and_listens_on_loopback_only(
    kafka_broker, busy_topic, prism_location, tmp_path, signum
):
    log = tmp_path / "run.log"
    runner = start_cli(
        "run", "--config", DIRECT_CONFIG, *_settings(kafka_broker, busy_topic), log_path=log, new_session=True
    )
    try:
        _wait_for(log, "executing on: PrismRunner", runner, timeout_s=120)
        time.sleep(3)
        # Prism's job and worker port, the Python loopback worker pool.
        sockets = _assert_loopback_only(runner, log, expect_at_least=2)
        assert any("prism" in command for _, _, command in sockets), sockets
        _stop_and_check(runner, signum, log, to_group=signum == signal.SIGINT)
        assert "cancelling the job" in log.read_text()
        assert "state CANCELLED" in log.read_text()
    finally:
        if runner.poll() is None:
            runner.kill()


def test_a_bounded_prism_run_stops_on_sigterm_while_the_job_starts(kafka_broker, busy_topic, prism_location, tmp_path):
    """A signal before the runner hands the job back (submission) stops the run at once."""
    log = tmp_path / "run.log"
    runner = start_cli(
        "run", "--config", DIRECT_CONFIG, *_settings(kafka_broker, busy_topic, source__stop="latest"), log_path=log
    )
    try:
        _wait_for(log, "runner: DirectRunner will execute on PrismRunner", runner, timeout_s=120)
        _stop_and_check(runner, signal.SIGTERM, log, to_group=False)
    finally:
        if runner.poll() is None:
            runner.kill()


@pytest.fixture
def big_topic(kafka_broker, fresh_topic):
    topic = fresh_topic(partitions=2)
    produce_messages(
        kafka_broker.bootstrap_servers,
        topic,
        [
            ProducerRecord(f"message {n} with a few more words in it, to keep the workers busy", None, None)
            for n in range(30_000)
        ],
    )
    return topic


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_multi_process_direct_runner_stops_on_a_signal(kafka_broker, big_topic, tmp_path, signum):
    """Beam's FnApiRunner runs the job inside pipeline.run(): Ctrl-C used to be ignored until it ended."""
    log = tmp_path / "run.log"
    settings = _settings(kafka_broker, big_topic, source__stop="latest", options__direct_num_workers=2)
    runner = start_cli("run", "--config", DIRECT_CONFIG, *settings, log_path=log, new_session=True)
    try:
        _wait_for(log, "FnApiRunner (2 worker processes)", runner, timeout_s=120)
        deadline = time.monotonic() + 60
        while len(descendants(runner.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)
        assert runner.poll() is None, log.read_text()[-3000:]
        # The FnApiRunner's control, data, state and logging servers and the workers' logging servers.
        _assert_loopback_only(runner, log, expect_at_least=2)
        family = _stop_and_check(runner, signum, log, to_group=signum == signal.SIGINT, within_s=15)
        assert len(family) >= 2, f"the worker processes were not seen: {family}"
    finally:
        if runner.poll() is None:
            runner.kill()


def test_embedded_flink_is_cancelled_on_sigterm(
    kafka_broker, busy_topic, flink_job_server_jar, nltk_data_dir, tmp_path
):
    log = tmp_path / "run.log"
    config = str(REPO / "run_configs" / "flink-local.yaml")
    env = {**os.environ, "NLTK_DATA": nltk_data_dir}
    runner = start_cli("run", "--config", config, *_settings(kafka_broker, busy_topic), log_path=log, env=env)
    try:
        _wait_for(log, "executing on: FlinkRunner", runner, timeout_s=180)
        time.sleep(5)

        # The Python loopback worker pool is loopback only. Beam's Java job server (2.62) binds its
        # job, artifact and expansion ports on every interface whatever --job-host says
        # (ServerFactory uses NettyServerBuilder.forPort): the documented exception (docs/runners.md).
        def job_server(found):
            return "job-server" in found[2]

        sockets = _assert_loopback_only(runner, log, expect_at_least=3, known_exception=job_server)
        exposed = [found for found in sockets if not is_loopback(found[1])]
        # The job server's own ports, and those of the Flink MiniCluster it runs for an embedded job (docs/runners.md).
        assert all(job_server(found) for found in exposed), exposed
        assert any(is_loopback(address) and "python" in command for _, address, command in sockets), sockets
        _stop_and_check(runner, signal.SIGTERM, log, to_group=False, within_s=45)
    finally:
        if runner.poll() is None:
            runner.kill()
