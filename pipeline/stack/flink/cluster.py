"""A local Flink session cluster: a JobManager and a TaskManager from the distribution, and Beam's Python worker pool.

The worker pool starts an SDK harness process for each Flink task that runs Python
code (``environment_type: EXTERNAL``); `run_sdk_worker` is that harness's entry point.

The JobManager holds the jobs (this cluster has no high availability: they die with
it), so a start that finds it alive and answering keeps it and starts only the
processes that died: a TaskManager killed mid-stream comes back and its jobs resume
from their last checkpoint, instead of being replaced along with the whole cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pipeline.stack import paths
from pipeline.stack.errors import StackError
from pipeline.stack.flink.distribution import distribution_java_opts, flink_home
from pipeline.stack.flink.versions import FLINK_VERSION
from pipeline.stack.locking import exclusive_lock
from pipeline.stack.net import LOCALHOST, accepts_connections, port_in_use
from pipeline.stack.process import Launches, is_alive, read_pid, terminate

__all__ = ["FlinkCluster", "default_flink_state_dir", "run_sdk_worker"]

_POLL_SECONDS = 0.25


def default_flink_state_dir(state_root: Path | None = None) -> Path:
    """Returns the Flink cluster state directory under ``state_root`` (default: the project state dir)."""
    return (state_root or paths.state_dir()) / "flink"


def _port_freed(port: int, timeout_s: float = 20.0) -> bool:
    """Whether the port is free, waiting a while: a killed worker pool's connections take time to close."""
    deadline = time.monotonic() + timeout_s
    while port_in_use(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return True


class FlinkCluster:
    """A Flink session cluster on 127.0.0.1 (JobManager + TaskManager) and Beam's Python worker pool.

    Each of the three processes runs in its own session with a pid file in the
    state directory, which also holds the generated Flink configuration, the
    logs, checkpoints and temporary files. The distribution comes from the
    shared cache. A cluster outlives the Python process that started it; any
    `FlinkCluster` on the same state directory can stop it.

    Attributes:
        rest_port: Flink's REST API and web UI (``flink_master`` of a job).
        rpc_port: The JobManager's RPC port.
        worker_pool_port: Beam's Python worker pool (``environment_config`` of a job).
        slots: Task slots of the TaskManager (the largest parallelism it runs).
        state_dir: Directory holding the configuration, pid files, logs and checkpoints.
    """

    _PROCESSES = ("jobmanager", "taskmanager", "worker-pool")

    def __init__(
        self,
        rest_port: int = 8081,
        rpc_port: int = 6123,
        worker_pool_port: int = 50000,
        state_dir: Path | None = None,
        *,
        slots: int = 2,
        jobmanager_memory: str = "1024m",
        taskmanager_memory: str = "1600m",
    ) -> None:
        """Describes a cluster; nothing is started until `start`."""
        self.rest_port = rest_port
        self.rpc_port = rpc_port
        self.worker_pool_port = worker_pool_port
        self.state_dir = Path(state_dir).expanduser().resolve() if state_dir is not None else default_flink_state_dir()
        self.slots = slots
        self.jobmanager_memory = jobmanager_memory
        self.taskmanager_memory = taskmanager_memory
        self._launches = Launches(self.log_dir, self.stop)

    def __repr__(self) -> str:
        return (
            f"FlinkCluster(rest_port={self.rest_port}, rpc_port={self.rpc_port}, "
            f"worker_pool_port={self.worker_pool_port}, state_dir={str(self.state_dir)!r})"
        )

    @property
    def rest_url(self) -> str:
        """Flink's REST address, ``"http://127.0.0.1:PORT"`` (the ``flink_master`` option)."""
        return f"http://{LOCALHOST}:{self.rest_port}"

    @property
    def flink_master(self) -> str:
        """``"127.0.0.1:PORT"``, the value of the ``flink_master`` pipeline option."""
        return f"{LOCALHOST}:{self.rest_port}"

    @property
    def worker_pool_address(self) -> str:
        """``"localhost:PORT"``, the ``environment_config`` of ``environment_type: EXTERNAL``."""
        return f"localhost:{self.worker_pool_port}"

    @property
    def conf_dir(self) -> Path:
        return self.state_dir / "conf"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"

    @property
    def checkpoint_dir(self) -> Path:
        """Where jobs on this cluster write their checkpoints."""
        return self.state_dir / "checkpoints"

    def _pid_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.pid"

    def _stdout_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.out"

    def _marker(self) -> str:
        # Every process of this cluster names its state directory on its command line.
        return str(self.state_dir)

    def pids(self) -> dict[str, int | None]:
        """The pid of each process of this state directory's cluster, None where it does not run."""
        result = {}
        for name in self._PROCESSES:
            pid = read_pid(self._pid_file(name))
            result[name] = pid if pid is not None and is_alive(pid, marker=self._marker()) else None
        return result

    def is_running(self) -> bool:
        """Tells whether all processes of this state directory's cluster run."""
        return all(pid is not None for pid in self.pids().values())

    def running_ports(self) -> dict[str, int] | None:
        """The ports the running cluster of this state directory was started with, or None."""
        return self._recorded_ports() if self.is_running() else None

    def _recorded_ports(self) -> dict[str, int] | None:
        try:
            return json.loads((self.state_dir / "ports.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _ports(self) -> dict[str, int]:
        return {"rest": self.rest_port, "rpc": self.rpc_port, "worker_pool": self.worker_pool_port}

    def _jobmanager_answers(self, tries: int = 3) -> bool:
        """Tells whether this state directory's JobManager runs and its REST API answers on our port.

        Asks up to ``tries`` times: replacing a JobManager that was only slow to answer would lose its jobs.
        """
        for attempt in range(tries):
            if self.pids()["jobmanager"] is None or self._recorded_ports() != self._ports():
                return False
            try:
                self.rest("/overview", timeout=5)
                return True
            except (OSError, ValueError):
                if attempt + 1 < tries:
                    time.sleep(1)
        return False

    def start(
        self, timeout: float = 120.0, progress: Callable[[str], object] = print, env: Mapping[str, str] | None = None
    ) -> list[str]:
        """Starts the JobManager, the TaskManager and the worker pool; waits until jobs can run.

        No-op if this state directory's cluster already runs on the same ports.
        If its JobManager runs and answers but the TaskManager or the worker
        pool died, starts only those: the JobManager and its jobs are kept.
        Otherwise (nothing runs, or a JobManager that does not answer) starts
        the whole cluster afresh.

        Args:
            timeout: Seconds to wait for the TaskManager to register its slots.
            progress: Receives one-line messages about slow first-time steps.
            env: Extra environment of the worker pool (and so of the Python
                SDK harnesses), e.g. ``{"NLTK_DATA": ...}``.

        Returns:
            The processes it started (``"jobmanager"``, ``"taskmanager"``,
            ``"worker-pool"``); empty if all of them already ran.

        Raises:
            StackError: Java, the distribution or a port is missing, another
                cluster runs from this state directory on other ports, or the
                cluster does not become ready (the message carries the end of
                its logs; what this start launched is stopped).
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.state_dir / ".lock"):
            ports = self._ports()
            recorded = self._recorded_ports()
            if self.pids()["jobmanager"] is not None and recorded is not None and recorded != ports:
                raise StackError(
                    f"Flink from {self.state_dir} already runs with ports {recorded}; stop it first to change them"
                )
            if self.is_running():
                return []
            if self._jobmanager_answers():
                return self._start_missing(timeout, progress, dict(env or {}))
            jobmanager = self.pids()["jobmanager"]
            if jobmanager is not None:
                progress(
                    f"Flink's jobmanager (pid {jobmanager}) does not answer on {self.rest_url}: "
                    "starting the whole cluster afresh (its jobs are lost)"
                )
            self.stop(timeout=10)  # nothing runs, or a JobManager that does not answer: start clean
            java = shutil.which("java")
            if java is None:
                raise StackError("cannot start Flink: 'java' is not on PATH; install a Java 17 runtime")
            home = flink_home(progress)
            for what, port in ports.items():
                if port_in_use(port):
                    raise StackError(
                        f"cannot start Flink: port {port} ({what}) on {LOCALHOST} is already "
                        "in use by another process; stop it or choose another port"
                    )
            self._write_config(home)
            self._launch(list(self._PROCESSES), home, dict(env or {}), stop=self.stop)
            (self.state_dir / "ports.json").write_text(json.dumps(ports), encoding="utf-8")
            self._wait_until_ready(timeout)
            return list(self._PROCESSES)

    def _start_missing(self, timeout: float, progress: Callable[[str], object], env: dict[str, str]) -> list[str]:
        """Starts the TaskManager and/or the worker pool beside a live JobManager, keeping its jobs."""
        pids = self.pids()
        missing = [name for name in self._PROCESSES if pids[name] is None]
        try:
            jobs = f"{self.rest('/overview', timeout=5).get('jobs-running', 0)} job(s) running"
        except (OSError, ValueError):
            jobs = "its jobs"
        progress(
            f"Flink's jobmanager still runs (pid {pids['jobmanager']}, {jobs}): "
            f"starting only the {' and the '.join(missing)}, keeping the jobmanager and its jobs"
        )
        if "worker-pool" in missing and not _port_freed(self.worker_pool_port):
            raise StackError(
                f"cannot start Beam's worker pool: port {self.worker_pool_port} on {LOCALHOST} is already "
                "in use by another process; stop it, or stop the cluster and start it with another port"
            )
        home = flink_home(progress)
        if not (self.conf_dir / "config.yaml").is_file() or not (self.state_dir / "sdk-worker.sh").is_file():
            self._write_config(home)
        known = self._taskmanager_ids()
        for name in missing:
            self._pid_file(name).unlink(missing_ok=True)

        def stop_launched(timeout: float = 30.0) -> None:
            self._stop_processes(missing, timeout)

        self._launch(missing, home, env, stop=stop_launched)
        self._wait_until_ready(timeout, new_taskmanager_beside=known if "taskmanager" in missing else None)
        return missing

    def stop(self, timeout: float = 30.0) -> None:
        """Stops every process of this state directory's cluster (SIGTERM, wait, SIGKILL)."""
        self._stop_processes(self._PROCESSES, timeout)
        (self.state_dir / "ports.json").unlink(missing_ok=True)

    def _stop_processes(self, names: Sequence[str], timeout: float) -> None:
        for name in reversed(self._PROCESSES):
            if name not in names:
                continue
            pid = read_pid(self._pid_file(name))
            if pid is not None:
                terminate(pid, timeout, marker=self._marker())
            self._launches.reap(name)
            self._pid_file(name).unlink(missing_ok=True)

    def _taskmanager_ids(self) -> set[str]:
        """The ids of the TaskManagers registered with the JobManager (a dead one stays until its heartbeat times out)."""
        try:
            return {tm["id"] for tm in self.rest("/taskmanagers", timeout=5).get("taskmanagers", [])}
        except (OSError, ValueError, KeyError, TypeError):
            return set()

    def rest(self, path: str, timeout: float = 5.0, *, port: int | None = None) -> dict:
        """GETs ``path`` (e.g. ``"/jobs/overview"``) from Flink's REST API and decodes the JSON.

        ``port`` asks another REST port than ``rest_port``, e.g. the one the running cluster recorded.
        """
        url = self.rest_url if port is None else f"http://{LOCALHOST}:{port}"
        with urllib.request.urlopen(url + path, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))

    def status_lines(self) -> list[str]:
        """One line for the cluster and one for the worker pool, as ``stack status`` prints them."""
        pids = self.pids()
        ports = self._recorded_ports() or {}
        if pids["jobmanager"] is None and pids["taskmanager"] is None:
            cluster = f"flink: stopped (Flink {FLINK_VERSION}, state {self.state_dir})"
        else:
            # The cluster's own port: `stack status` does not know which one `stack up` was given.
            rest_port = ports.get("rest", self.rest_port)
            try:
                overview = self.rest("/overview", timeout=2, port=rest_port)
                detail = (
                    f"{overview.get('taskmanagers', 0)} taskmanager(s), "
                    f"{overview.get('slots-available', 0)}/{overview.get('slots-total', 0)} slots free, "
                    f"{overview.get('jobs-running', 0)} job(s) running"
                )
            except (OSError, ValueError):
                detail = "REST not answering"
            cluster = (
                f"flink: running on http://{LOCALHOST}:{rest_port} (Flink {FLINK_VERSION}, {detail}; "
                f"jobmanager pid {pids['jobmanager']}, taskmanager pid {pids['taskmanager']}, "
                f"state {self.state_dir})"
            )
        if pids["jobmanager"] is not None and None in pids.values():
            port_flag = "" if rest_port == 8081 else f" --flink-port {rest_port}"
            cluster += f"; python -m pipeline stack up --flink{port_flag} starts what is missing and keeps the jobs"
        if pids["worker-pool"] is None:
            pool = "beam worker pool: stopped"
        else:
            pool_port = ports.get("worker_pool", self.worker_pool_port)
            pool = f"beam worker pool: running on localhost:{pool_port} (pid {pids['worker-pool']})"
        return [cluster, pool]

    def _write_config(self, home: Path) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in ("log4j-console.properties", "log4j.properties", "logback-console.xml"):
            shutil.copyfile(home / "conf" / name, self.conf_dir / name)
        settings = {
            "jobmanager.rpc.address": LOCALHOST,
            "jobmanager.rpc.port": self.rpc_port,
            "jobmanager.bind-host": LOCALHOST,
            "jobmanager.memory.process.size": self.jobmanager_memory,
            "taskmanager.host": LOCALHOST,
            "taskmanager.bind-host": LOCALHOST,
            "taskmanager.memory.process.size": self.taskmanager_memory,
            "taskmanager.numberOfTaskSlots": self.slots,
            "parallelism.default": 1,
            "rest.address": LOCALHOST,
            "rest.bind-address": LOCALHOST,
            "rest.port": self.rest_port,
            "io.tmp.dirs": str(self.state_dir / "tmp"),
            "state.checkpoints.dir": (self.checkpoint_dir).as_uri(),
            "jobmanager.execution.failover-strategy": "region",
            # Java 17 needs these opens for Flink's serializers; the distribution's default config carries them.
            "env.java.opts.all": distribution_java_opts(home),
        }
        (self.state_dir / "tmp").mkdir(exist_ok=True)
        lines = [f"{key}: {json.dumps(value)}\n" for key, value in settings.items()]
        (self.conf_dir / "config.yaml").write_text(
            "# Generated by pipeline.stack.flink on every start; edits are overwritten.\n" + "".join(lines),
            encoding="utf-8",
        )
        worker = self.state_dir / "sdk-worker.sh"
        worker.write_text(
            "#!/bin/sh\n"
            "# Beam SDK harness for the worker pool. Its stdout joins stderr: the pool never reads that pipe.\n"
            f"exec {_shell_quote(sys.executable)} -c "
            "'import sys; from pipeline.stack.flink import run_sdk_worker; run_sdk_worker(sys.argv[1:])' "
            '"$@" 1>&2\n',
            encoding="utf-8",
        )
        worker.chmod(0o755)

    def _launch(self, names: list[str], home: Path, extra_env: dict[str, str], stop: Callable[..., object]) -> None:
        """Launches the named processes; a failed wait calls ``stop`` (what this start launched)."""
        flink_env = {**os.environ, "FLINK_CONF_DIR": str(self.conf_dir), "FLINK_LOG_DIR": str(self.log_dir)}
        commands = {
            "jobmanager": [str(home / "bin" / "jobmanager.sh"), "start-foreground"],
            "taskmanager": [str(home / "bin" / "taskmanager.sh"), "start-foreground"],
        }
        # The project must be importable by the SDK harnesses: run them from the checkout as well.
        project_root = str(Path(__file__).resolve().parents[3])
        python_path = os.pathsep.join(p for p in (project_root, os.environ.get("PYTHONPATH", "")) if p)
        pool_env = {**os.environ, **extra_env, "PYTHONPATH": python_path}
        # Beam's worker_pool_main, bound to loopback only (it binds [::] itself).
        pool_command = [
            sys.executable,
            "-c",
            "import sys; from pipeline.stack.loopback import bind_grpc_servers_to_loopback; "
            "bind_grpc_servers_to_loopback(); "
            "from apache_beam.runners.worker import worker_pool_main; worker_pool_main.main(sys.argv[1:])",
            f"--service_port={self.worker_pool_port}",
            f"--container_executable={self.state_dir / 'sdk-worker.sh'}",
        ]
        self._launches = Launches(self.log_dir, stop)
        for name in names:
            command, env = (pool_command, pool_env) if name == "worker-pool" else (commands[name], flink_env)
            self._launches.launch(
                name,
                command,
                label=f"Flink's {name}",
                cwd=self.state_dir,
                log_path=self._stdout_path(name),
                pid_file=self._pid_file(name),
                env=env,
            )

    def _wait_until_ready(self, timeout: float, new_taskmanager_beside: set[str] | None = None) -> None:
        """Waits until a TaskManager offers the slots and the worker pool accepts connections.

        With ``new_taskmanager_beside``, the TaskManager must be one whose id is
        not in that set: a killed TaskManager stays registered until its
        heartbeat times out, and its slots must not count as the new one's.
        """

        def ready() -> bool:
            try:
                overview = self.rest("/overview", timeout=2)
            except (OSError, ValueError):
                return False
            if new_taskmanager_beside is not None and not self._taskmanager_ids() - new_taskmanager_beside:
                return False
            return (
                overview.get("taskmanagers", 0) >= 1
                and overview.get("slots-total", 0) >= self.slots
                and accepts_connections(self.worker_pool_port)
            )

        self._launches.wait_until(
            ready, timeout, f"Flink did not become ready on {self.rest_url} within {timeout:g} s", poll_s=_POLL_SECONDS
        )


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def run_sdk_worker(argv: list[str]) -> None:
    """Runs one Beam Python SDK harness for the worker pool (the container contract, without Docker).

    The worker pool calls its ``--container_executable`` with ``--id``,
    ``--control_endpoint``, ``--logging_endpoint``, ``--provision_endpoint``
    and ``--artifact_endpoint``, as a runner calls a Beam SDK container. Like
    the container's boot program, this asks the provision service for the
    job's pipeline options, sends the harness's logs to the runner, and runs
    the harness; the staged artifacts are not installed, so the pipeline's
    packages must already be importable here.
    """
    import argparse

    import grpc
    from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc
    from apache_beam.runners.worker import sdk_worker_main
    from google.protobuf import json_format

    parser = argparse.ArgumentParser(prog="sdk-worker")
    for flag in ("id", "control_endpoint", "logging_endpoint", "provision_endpoint", "artifact_endpoint"):
        parser.add_argument(f"--{flag}", default="")
    args, _ = parser.parse_known_args(argv)
    options = {}
    if args.provision_endpoint:
        with grpc.insecure_channel(args.provision_endpoint) as channel:
            stub = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel)
            info = stub.GetProvisionInfo(
                beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=[("worker_id", args.id)], timeout=60
            ).info
            options = json_format.MessageToDict(info.pipeline_options)
    os.environ.update(
        {
            "WORKER_ID": args.id,
            "PIPELINE_OPTIONS": json.dumps(options),
            "CONTROL_API_SERVICE_DESCRIPTOR": f'url: "{args.control_endpoint}"',
        }
    )
    if args.logging_endpoint:
        os.environ["LOGGING_API_SERVICE_DESCRIPTOR"] = f'url: "{args.logging_endpoint}"'
    sdk_worker_main.main([])
