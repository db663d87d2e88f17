"""Apache Flink for the FlinkRunner: Beam's Flink job server, and a local Flink session cluster.

Three things, each fetched with its ordinary client into the project cache:

* **The Beam Flink job server** (`job_server_jar`): what ``FlinkRunner`` starts
  with ``java -jar`` to translate the portable pipeline into a Flink job. The
  shaded ``beam-runners-flink-*-job-server`` jars are not served by the Maven
  repository this project can reach, so the job server is assembled from its
  parts: ``mvn`` fetches ``beam-runners-flink-1.19`` (which holds
  ``FlinkJobServerDriver``) with its runtime dependencies, and a small launcher
  jar names them in its manifest ``Class-Path``. ``java -jar launcher.jar`` is
  then exactly the job server. `pipeline_options` passes it as
  ``flink_job_server_jar`` when a config does not name one.
* **A Flink distribution** (`flink_home`): ``bin/``, ``conf/``, ``lib/`` of the
  same Flink version, from PyPI's ``apache-flink`` and
  ``apache-flink-libraries`` wheels installed with ``pip --no-deps --target``
  into the cache (never into the project's environment: PyFlink pins an old
  apache-beam).
* **A session cluster** (`FlinkCluster`): a JobManager and a TaskManager as two
  processes from that distribution (REST on 127.0.0.1:8081 by default), plus
  Beam's Python worker pool, which starts an SDK harness process for each
  Flink task that runs Python code (``environment_type: EXTERNAL``).

Beam Java and Python talk through the portable Fn API, so the job server need
not be the same Beam release as the Python SDK; the tests run the whole
pipeline through it on every change.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn

from pipeline.stack import paths
from pipeline.stack.errors import StackError, read_log, summarize_output
from pipeline.stack.locking import exclusive_lock
from pipeline.stack.maven import fetch_artifacts
from pipeline.stack.net import LOCALHOST, accepts_connections, port_in_use
from pipeline.stack.prism import java_launcher
from pipeline.stack.process import is_alive, launch, read_pid, terminate, write_pid

__all__ = [
    "BEAM_JOB_SERVER_VERSION",
    "FLINK_MINOR_VERSION",
    "FLINK_VERSION",
    "FlinkCluster",
    "default_flink_state_dir",
    "flink_home",
    "flink_option_defaults",
    "job_server_jar",
    "job_server_jar_path",
    "run_sdk_worker",
]

FLINK_VERSION = "1.19.3"
"""Flink version of the session cluster and of the job server's embedded Flink."""

FLINK_MINOR_VERSION = "1.19"
"""The ``flink_version`` pipeline option that matches `FLINK_VERSION`."""

BEAM_JOB_SERVER_VERSION = "2.62.0"
"""Beam Java release of the job server. The Maven repository this project reaches
serves no ``*-job-server`` jar, no Flink runner for Flink 1.20 or 2.x, and
``beam-runners-flink-1.19`` only at 2.62.0 and 2.70.0; 2.70.0's job service
dependency is not served, so 2.62.0 is the newest complete one."""

_FLINK_MODULES = ("flink-clients", "flink-streaming-java", "flink-core", "flink-java",
                  "flink-runtime", "flink-metrics-core")
JOB_SERVER_ARTIFACTS = [
    # Listed first so that Maven's nearest-wins picks them over the 1.19.0 the runner was built with.
    *(f"org.apache.flink:{module}:{FLINK_VERSION}" for module in _FLINK_MODULES),
    f"org.apache.beam:beam-runners-flink-{FLINK_MINOR_VERSION}:{BEAM_JOB_SERVER_VERSION}",
    "org.slf4j:slf4j-simple:1.7.30",
]
"""Maven coordinates whose runtime class path is the Beam Flink job server."""

_JOB_SERVER_MAIN = "org.apache.beam.runners.flink.FlinkJobServerDriver"
_JOB_SERVER_NAME = f"beam-flink-{FLINK_MINOR_VERSION}-job-server-{BEAM_JOB_SERVER_VERSION}"
_PIP_TIMEOUT_SECONDS = 30 * 60
# The Impulse source starts a little before the reader sets its deadline.
_DRAIN_MARGIN_S = 10
_POLL_SECONDS = 0.25


def job_server_jar_path() -> Path:
    """Where the job server launcher jar lives in the cache (fetched or not)."""
    return paths.cache_dir() / _JOB_SERVER_NAME / f"{_JOB_SERVER_NAME}.jar"


def job_server_jar(progress: Callable[[str], object] = print) -> Path:
    """Returns the Beam Flink job server jar, fetching its parts with Maven on first use.

    Args:
        progress: Receives a one-line message before a (slow) first fetch.

    Returns:
        A jar that ``java -jar`` runs as the job server (pass it as the
        ``flink_job_server_jar`` pipeline option).

    Raises:
        StackError: Maven is missing or cannot fetch the artifacts.
    """
    jars = fetch_artifacts(_JOB_SERVER_NAME, JOB_SERVER_ARTIFACTS, progress,
                           label=f"Beam {BEAM_JOB_SERVER_VERSION} Flink {FLINK_VERSION} job server")
    launcher = job_server_jar_path()
    with exclusive_lock(launcher.parent / ".launcher.lock"):
        manifest = _launcher_manifest(sorted(p.name for p in jars.glob("*.jar")))
        if not launcher.is_file() or _read_manifest(launcher) != manifest:
            partial = launcher.with_suffix(".partial")
            with zipfile.ZipFile(partial, "w") as archive:
                archive.writestr("META-INF/MANIFEST.MF", manifest)
            os.replace(partial, launcher)
    return launcher


def _launcher_manifest(jar_names: list[str]) -> bytes:
    # Manifest lines hold at most 72 bytes; longer ones continue after a newline and a space.
    def line(text: str) -> bytes:
        data = text.encode("utf-8")
        chunks = [data[:72]] + [b" " + data[i:i + 71] for i in range(72, len(data), 71)]
        return b"\r\n".join(chunks) + b"\r\n"

    class_path = " ".join(f"jars/{name}" for name in jar_names)
    return (line("Manifest-Version: 1.0") + line(f"Main-Class: {_JOB_SERVER_MAIN}")
            + line(f"Class-Path: {class_path}") + b"\r\n")


def _read_manifest(jar: Path) -> bytes | None:
    try:
        with zipfile.ZipFile(jar) as archive:
            return archive.read("META-INF/MANIFEST.MF")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


def flink_option_defaults(options: Mapping[str, object], *, unbounded: bool, drain_after_s: float | None = None,
                          progress: Callable[[str], object] = print) -> dict[str, object]:
    """The pipeline options FlinkRunner needs on this project's stack, for those ``options`` lacks.

    * ``flink_job_server_jar``: the cached job server (`job_server_jar`), so
      Beam never downloads one at run time; ``flink_version``: its Flink.
    * ``streaming``: portable Flink finalizes bundles only in streaming mode
      (batch mode rejects the reader: apache/beam#19526), so a bounded read
      runs as a streaming job that ends when the read does.
    * For an unbounded read, ``checkpointing_interval`` (10 s): Flink finalizes
      bundles, and so the reader commits offsets, when a checkpoint completes.
    * For an unbounded read that drains after ``drain_after_s``,
      ``shutdown_sources_after_idle_ms`` a little past the drain: with
      checkpointing on, Flink keeps the (idle) Impulse source, and so the job,
      running forever; shutting it down earlier stops the checkpoints.
    * ``job_server_java_launcher`` (always): the job server JVM runs in its own
      process group (a terminal's Ctrl-C reaches `run`, which cancels the job
      through it) and is killed with the process that started it.

    Args:
        options: The pipeline options a config gives.
        unbounded: Whether the read is unbounded (a stream).
        drain_after_s: When an unbounded read stops reading, if it does.
        progress: Receives a one-line message before a first fetch of the jar.
    """
    defaults: dict[str, object] = {"flink_version": FLINK_MINOR_VERSION, "streaming": True}
    if unbounded:
        defaults["checkpointing_interval"] = 10_000
        if drain_after_s is not None:
            defaults["shutdown_sources_after_idle_ms"] = int((drain_after_s + _DRAIN_MARGIN_S) * 1000)
    if not options.get("flink_job_server_jar"):
        defaults["flink_job_server_jar"] = str(job_server_jar(progress))
    # The job server in its own process group (a terminal's Ctrl-C goes to `run`, which
    # cancels the job through it) that dies with the process that started it.
    defaults["job_server_java_launcher"] = str(java_launcher())
    return {key: value for key, value in defaults.items() if key not in options}


def flink_home(progress: Callable[[str], object] = print) -> Path:
    """Returns a Flink distribution directory (``bin/``, ``conf/``, ``lib/``), installing it once.

    Installs ``apache-flink`` and ``apache-flink-libraries`` of `FLINK_VERSION`
    with ``pip install --no-deps --target`` into the cache; their ``pyflink``
    package directory is a complete Flink distribution.

    Args:
        progress: Receives a one-line message before a (slow) first install.

    Raises:
        StackError: pip fails.
    """
    entry = paths.cache_dir() / f"flink-{FLINK_VERSION}"
    home = entry / "dist" / "pyflink"
    marker = entry / "complete"
    with exclusive_lock(entry / ".lock"):
        if marker.is_file() and (home / "bin" / "jobmanager.sh").is_file():
            return home
        progress(f"Installing the Flink {FLINK_VERSION} distribution with pip (first run only)...")
        partial = entry / "dist.partial"
        shutil.rmtree(partial, ignore_errors=True)
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--no-deps", "--no-compile", "--target", str(partial),
                   f"apache-flink=={FLINK_VERSION}", f"apache-flink-libraries=={FLINK_VERSION}"]
        try:
            result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, timeout=_PIP_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"pip did not install Flink {FLINK_VERSION} within "
                             f"{_PIP_TIMEOUT_SECONDS // 60} minutes") from exc
        output = result.stdout.decode("utf-8", errors="replace")
        (entry / "pip.log").write_text(output, encoding="utf-8")
        if result.returncode != 0 or not (partial / "pyflink" / "bin" / "jobmanager.sh").is_file():
            shutil.rmtree(partial, ignore_errors=True)
            raise StackError(f"pip could not install the Flink {FLINK_VERSION} distribution "
                             f"(exit {result.returncode}): {summarize_output(output)} "
                             f"(full log: {entry / 'pip.log'})")
        shutil.rmtree(entry / "dist", ignore_errors=True)
        partial.rename(entry / "dist")
        marker.write_text(FLINK_VERSION, encoding="utf-8")
        return home


def default_flink_state_dir(state_root: Path | None = None) -> Path:
    """Returns the Flink cluster state directory under ``state_root`` (default: the project state dir)."""
    return (state_root or paths.state_dir()) / "flink"


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
        self.state_dir = (Path(state_dir).expanduser().resolve() if state_dir is not None
                          else default_flink_state_dir())
        self.slots = slots
        self.jobmanager_memory = jobmanager_memory
        self.taskmanager_memory = taskmanager_memory
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._log_offsets: dict[Path, int] = {}

    def __repr__(self) -> str:
        return (f"FlinkCluster(rest_port={self.rest_port}, rpc_port={self.rpc_port}, "
                f"worker_pool_port={self.worker_pool_port}, state_dir={str(self.state_dir)!r})")

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
        try:
            ports = json.loads((self.state_dir / "ports.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return ports if self.is_running() else None

    def start(self, timeout: float = 120.0, progress: Callable[[str], object] = print,
              env: Mapping[str, str] | None = None) -> None:
        """Starts the JobManager, the TaskManager and the worker pool; waits until jobs can run.

        No-op if this state directory's cluster already runs on the same ports.

        Args:
            timeout: Seconds to wait for the TaskManager to register its slots.
            progress: Receives one-line messages about slow first-time steps.
            env: Extra environment of the worker pool (and so of the Python
                SDK harnesses), e.g. ``{"NLTK_DATA": ...}``.

        Raises:
            StackError: Java, the distribution or a port is missing, another
                cluster runs from this state directory on other ports, or the
                cluster does not become ready (the message carries the end of
                its logs; what was started is stopped).
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.state_dir / ".lock"):
            ports = {"rest": self.rest_port, "rpc": self.rpc_port, "worker_pool": self.worker_pool_port}
            running = self.running_ports()
            if running is not None:
                if running != ports:
                    raise StackError(f"Flink from {self.state_dir} already runs with ports {running}; "
                                     "stop it first to change them")
                return
            self.stop(timeout=10)  # a half-running cluster: start clean
            java = shutil.which("java")
            if java is None:
                raise StackError("cannot start Flink: 'java' is not on PATH; install a Java 17 runtime")
            home = flink_home(progress)
            for what, port in ports.items():
                if port_in_use(port):
                    raise StackError(f"cannot start Flink: port {port} ({what}) on {LOCALHOST} is already "
                                     "in use by another process; stop it or choose another port")
            self._write_config(home)
            self._launch_all(home, dict(env or {}))
            (self.state_dir / "ports.json").write_text(json.dumps(ports), encoding="utf-8")
            self._wait_until_ready(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stops every process of this state directory's cluster (SIGTERM, wait, SIGKILL)."""
        for name in reversed(self._PROCESSES):
            pid = read_pid(self._pid_file(name))
            if pid is not None:
                terminate(pid, timeout, marker=self._marker())
            process = self._processes.pop(name, None)
            if process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=5)
            self._pid_file(name).unlink(missing_ok=True)
        (self.state_dir / "ports.json").unlink(missing_ok=True)

    def rest(self, path: str, timeout: float = 5.0) -> dict:
        """GETs ``path`` (e.g. ``"/jobs/overview"``) from Flink's REST API and decodes the JSON."""
        with urllib.request.urlopen(self.rest_url + path, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))

    def status_lines(self) -> list[str]:
        """One line for the cluster and one for the worker pool, as ``stack status`` prints them."""
        pids = self.pids()
        ports = self.running_ports()
        if pids["jobmanager"] is None and pids["taskmanager"] is None:
            cluster = f"flink: stopped (Flink {FLINK_VERSION}, state {self.state_dir})"
        else:
            rest_port = (ports or {}).get("rest", self.rest_port)
            try:
                overview = self.rest("/overview", timeout=2)
                detail = (f"{overview.get('taskmanagers', 0)} taskmanager(s), "
                          f"{overview.get('slots-available', 0)}/{overview.get('slots-total', 0)} slots free, "
                          f"{overview.get('jobs-running', 0)} job(s) running")
            except (OSError, ValueError):
                detail = "REST not answering"
            cluster = (f"flink: running on http://{LOCALHOST}:{rest_port} (Flink {FLINK_VERSION}, {detail}; "
                       f"jobmanager pid {pids['jobmanager']}, taskmanager pid {pids['taskmanager']}, "
                       f"state {self.state_dir})")
        if pids["worker-pool"] is None:
            pool = "beam worker pool: stopped"
        else:
            pool_port = (ports or {}).get("worker_pool", self.worker_pool_port)
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
            "env.java.opts.all": _distribution_java_opts(home),
        }
        (self.state_dir / "tmp").mkdir(exist_ok=True)
        lines = [f"{key}: {json.dumps(value)}\n" for key, value in settings.items()]
        (self.conf_dir / "config.yaml").write_text(
            "# Generated by pipeline.stack.flink on every start; edits are overwritten.\n" + "".join(lines),
            encoding="utf-8")
        worker = self.state_dir / "sdk-worker.sh"
        worker.write_text(
            "#!/bin/sh\n"
            "# Beam SDK harness for the worker pool. Its stdout joins stderr: the pool never reads that pipe.\n"
            f"exec {_shell_quote(sys.executable)} -c "
            "'import sys; from pipeline.stack.flink import run_sdk_worker; run_sdk_worker(sys.argv[1:])' "
            '"$@" 1>&2\n',
            encoding="utf-8")
        worker.chmod(0o755)

    def _launch_all(self, home: Path, extra_env: dict[str, str]) -> None:
        flink_env = {**os.environ, "FLINK_CONF_DIR": str(self.conf_dir), "FLINK_LOG_DIR": str(self.log_dir)}
        commands = {
            "jobmanager": [str(home / "bin" / "jobmanager.sh"), "start-foreground"],
            "taskmanager": [str(home / "bin" / "taskmanager.sh"), "start-foreground"],
        }
        # The project must be importable by the SDK harnesses: run them from the checkout as well.
        project_root = str(Path(__file__).resolve().parents[2])
        python_path = os.pathsep.join(p for p in (project_root, os.environ.get("PYTHONPATH", "")) if p)
        pool_env = {**os.environ, **extra_env, "PYTHONPATH": python_path}
        # Beam's worker_pool_main, bound to loopback only (it binds [::] itself).
        pool_command = [sys.executable, "-c",
                        "import sys; from pipeline.stack.loopback import bind_grpc_servers_to_loopback; "
                        "bind_grpc_servers_to_loopback(); "
                        "from apache_beam.runners.worker import worker_pool_main; worker_pool_main.main(sys.argv[1:])",
                        f"--service_port={self.worker_pool_port}",
                        f"--container_executable={self.state_dir / 'sdk-worker.sh'}"]
        self._log_offsets = {}
        for name in self._PROCESSES:
            stdout = self._stdout_path(name)
            self._log_offsets[stdout] = _size(stdout)
            if name == "worker-pool":
                process = launch(pool_command, cwd=self.state_dir, log_path=stdout, env=pool_env)
            else:
                process = launch(commands[name], cwd=self.state_dir, log_path=stdout, env=flink_env)
            self._processes[name] = process
            write_pid(self._pid_file(name), process.pid)

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self._processes.items():
                exit_code = process.poll()
                if exit_code is not None:
                    self._fail(f"Flink's {name} exited during startup (exit code {exit_code})")
            try:
                overview = self.rest("/overview", timeout=2)
            except (OSError, ValueError):
                overview = {}
            if (overview.get("taskmanagers", 0) >= 1 and overview.get("slots-total", 0) >= self.slots
                    and accepts_connections(self.worker_pool_port)):
                return
            time.sleep(_POLL_SECONDS)
        self._fail(f"Flink did not become ready on {self.rest_url} within {timeout:g} s")

    def _fail(self, what: str) -> NoReturn:
        output = "".join(read_log(path, since) for path, since in self._log_offsets.items())
        self.stop(timeout=10)
        raise StackError(f"{what}: {summarize_output(output)} (logs: {self.log_dir})")


def _distribution_java_opts(home: Path) -> str:
    import yaml

    try:
        config = yaml.safe_load((home / "conf" / "config.yaml").read_text(encoding="utf-8")) or {}
        return str(config["env"]["java"]["opts"]["all"])
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return ""


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


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
            info = stub.GetProvisionInfo(beam_provision_api_pb2.GetProvisionInfoRequest(),
                                         metadata=[("worker_id", args.id)], timeout=60).info
            options = json_format.MessageToDict(info.pipeline_options)
    os.environ.update({
        "WORKER_ID": args.id,
        "PIPELINE_OPTIONS": json.dumps(options),
        "CONTROL_API_SERVICE_DESCRIPTOR": f'url: "{args.control_endpoint}"',
    })
    if args.logging_endpoint:
        os.environ["LOGGING_API_SERVICE_DESCRIPTOR"] = f'url: "{args.logging_endpoint}"'
    sdk_worker_main.main([])

