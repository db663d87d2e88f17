"""Local services for development and tests: Kafka (KRaft), Prism, and a Flink session cluster.

No Docker: every service is fetched with its ordinary client (``mvn``, ``go``)
into the project cache (see `pipeline.stack.paths`) and runs as a plain
background process whose pid file, logs and data live in the project state
directory. ``python -m pipeline stack up|down|status`` and the test fixtures
use the same code. ``stack up --flink`` adds a Flink session cluster and Beam's
Python worker pool (see `pipeline.stack.flink`).

Example (not a doctest: it starts real services)::

    from pipeline import stack

    stack.up()  # Kafka on 127.0.0.1:9092, Prism built
    for line in stack.status():
        print(line)
    stack.down()
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.stack.errors import StackError
from pipeline.stack.flink import FLINK_VERSION, FlinkCluster, default_flink_state_dir, job_server_jar
from pipeline.stack.kafka import KAFKA_VERSION, KafkaBroker, default_kafka_state_dir
from pipeline.stack.maven import fetch_artifacts
from pipeline.stack.paths import cache_dir, home_dir, state_dir
from pipeline.stack.prism import beam_version, prism_binary, prism_path

__all__ = [
    "FLINK_VERSION",
    "FlinkCluster",
    "KAFKA_VERSION",
    "KafkaBroker",
    "StackError",
    "cache_dir",
    "down",
    "fetch_artifacts",
    "home_dir",
    "job_server_jar",
    "prism_binary",
    "prism_path",
    "state_dir",
    "status",
    "up",
]


def up(
    kafka_port: int = 9092,
    progress: Callable[[str], object] = print,
    *,
    state: Path | None = None,
    flink: bool = False,
    flink_rest_port: int = 8081,
) -> None:
    """Starts the local stack: a Kafka broker, and the Prism binary built for this Beam.

    Idempotent: a broker that already runs from the same state directory on the
    same port is left alone, and a built Prism binary is reused.

    Args:
        kafka_port: Kafka client port on 127.0.0.1 (the controller uses the next port).
        progress: Receives one-line progress messages.
        state: State root directory; defaults to the project state directory.
        flink: Also start a Flink session cluster and Beam's Python worker pool,
            and fetch the Beam Flink job server. A cluster whose JobManager
            still runs keeps it and its jobs: only what died is started.
        flink_rest_port: Flink's REST port on 127.0.0.1.

    Raises:
        StackError: A service cannot be fetched, built or started.
    """
    broker = KafkaBroker(port=kafka_port, state_dir=default_kafka_state_dir(state))
    if broker.is_running() and broker.running_bootstrap_servers() == broker.bootstrap_servers:
        where = f"{broker.bootstrap_servers} (pid {broker.pid()})"
        progress(f"Kafka {KAFKA_VERSION} already running on {where}")
    else:
        progress(f"Starting Kafka {KAFKA_VERSION} on {broker.bootstrap_servers}...")
        broker.start(progress=progress)
        where = f"{broker.bootstrap_servers} (pid {broker.pid()})"
        progress(f"Kafka {KAFKA_VERSION} running on {where}")
    binary = prism_binary(progress=progress)
    progress(f"Prism {beam_version()} ready at {binary}")
    if flink:
        jar = job_server_jar(progress=progress)
        progress(f"Beam Flink job server ready at {jar}")
        cluster = FlinkCluster(rest_port=flink_rest_port, state_dir=default_flink_state_dir(state))
        if cluster.pids()["jobmanager"] is None:
            progress(f"Starting Flink {FLINK_VERSION} on {cluster.rest_url} and Beam's worker pool...")
        # A live JobManager is kept with its jobs: only a TaskManager or worker pool that died is started.
        if not cluster.start(progress=progress):
            progress(f"Flink {FLINK_VERSION} already running on {cluster.rest_url}")


def down(*, state: Path | None = None) -> None:
    """Stops the local stack's running services (the caches are kept).

    Args:
        state: State root directory; defaults to the project state directory.
    """
    FlinkCluster(state_dir=default_flink_state_dir(state)).stop()
    KafkaBroker(state_dir=default_kafka_state_dir(state)).stop()


def status(*, state: Path | None = None, flink: bool = False) -> list[str]:
    """Describes the local stack, one line per service.

    Args:
        state: State root directory; defaults to the project state directory.
        flink: Also describe the Flink cluster and Beam's worker pool (two more lines).

    Returns:
        Lines such as ``"kafka: running on 127.0.0.1:9092 (pid 4242, state ...)"``,
        ``"kafka: stopped (state ...)"``, ``"prism: built for apache-beam 2.77.0 at ..."``.
    """
    broker = KafkaBroker(state_dir=default_kafka_state_dir(state))
    pid = broker.pid()
    if pid is None:
        kafka_line = f"kafka: stopped (state {broker.state_dir})"
    else:
        kafka_line = (
            f"kafka: running on {broker.running_bootstrap_servers()} "
            f"(Kafka {KAFKA_VERSION}, pid {pid}, state {broker.state_dir})"
        )
    binary = prism_path()
    if binary.is_file():
        prism_line = f"prism: built for apache-beam {beam_version()} at {binary}"
    else:
        prism_line = f"prism: not built for apache-beam {beam_version()} (built by 'stack up' or on first use)"
    if not flink:
        return [kafka_line, prism_line]
    return [kafka_line, prism_line, *FlinkCluster(state_dir=default_flink_state_dir(state)).status_lines()]
