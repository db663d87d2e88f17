"""A single-node Apache Kafka broker (KRaft, broker + controller) run from its Maven jars."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from pipeline.stack import paths
from pipeline.stack.errors import StackError, summarize_output
from pipeline.stack.locking import exclusive_lock
from pipeline.stack.maven import fetch_artifacts
from pipeline.stack.net import LOCALHOST, accepts_connections, port_in_use
from pipeline.stack.process import Launches, is_alive, read_pid, terminate

__all__ = ["KAFKA_ARTIFACTS", "KAFKA_VERSION", "KafkaBroker", "default_kafka_state_dir"]

KAFKA_VERSION = "4.1.1"
"""Apache Kafka server version run by the stack."""

KAFKA_ARTIFACTS = [
    f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
    "org.apache.logging.log4j:log4j-slf4j-impl:2.24.3",
]
"""Maven coordinates whose runtime class path is the Kafka server."""

_NODE_ID = 1
_POLL_SECONDS = 0.25


def default_kafka_state_dir(state_root: Path | None = None) -> Path:
    """Returns the Kafka state directory under ``state_root`` (default: the project state dir)."""
    return (state_root or paths.state_dir()) / "kafka"


class KafkaBroker:
    """One Kafka node in KRaft combined mode listening on 127.0.0.1.

    All files of the broker (config, pid file, logs, data) live in its state
    directory; the jars come from the shared project cache. Two brokers with
    different state directories and ports can run side by side. A broker
    outlives the Python process that started it; any `KafkaBroker` on the same
    state directory can stop it.

    Attributes:
        port: Client (PLAINTEXT) port.
        controller_port: KRaft controller port.
        state_dir: Directory holding this broker's config, pid file, logs and data.
    """

    def __init__(
        self,
        port: int = 9092,
        controller_port: int | None = None,
        state_dir: Path | None = None,
        *,
        heap: str = "1g",
    ) -> None:
        """Describes a broker; nothing is started until `start`.

        Args:
            port: Client port on 127.0.0.1.
            controller_port: Controller port; defaults to ``port + 1``.
            state_dir: State directory; defaults to ``<project state>/kafka``.
            heap: Maximum JVM heap (``-Xmx``), e.g. ``"1g"`` or ``"512m"``.
        """
        self.port = port
        self.controller_port = controller_port if controller_port is not None else port + 1
        if self.controller_port == self.port:
            raise StackError(f"Kafka port and controller port must differ (both {port})")
        # Absolute, because the broker's command line names its config file and
        # `pid()` recognises the broker by that path.
        self.state_dir = Path(state_dir).expanduser().resolve() if state_dir is not None else default_kafka_state_dir()
        self.heap = heap
        self._launches = Launches(self.state_dir / "logs", self.stop)

    def __repr__(self) -> str:
        return (
            f"KafkaBroker(port={self.port}, controller_port={self.controller_port}, state_dir={str(self.state_dir)!r})"
        )

    @property
    def bootstrap_servers(self) -> str:
        """Client bootstrap address, ``"127.0.0.1:PORT"``."""
        return f"{LOCALHOST}:{self.port}"

    @property
    def config_path(self) -> Path:
        """The generated ``server.properties``."""
        return self.state_dir / "server.properties"

    @property
    def pid_file(self) -> Path:
        """File holding the pid of the running broker."""
        return self.state_dir / "kafka.pid"

    @property
    def log_path(self) -> Path:
        """Kafka's own log (log4j)."""
        return self.state_dir / "logs" / "server.log"

    @property
    def stdout_path(self) -> Path:
        """The JVM's stdout and stderr (crashes before logging starts end up here)."""
        return self.state_dir / "logs" / "stdout.log"

    @property
    def data_dir(self) -> Path:
        """Kafka's ``log.dirs`` (topic data and KRaft metadata)."""
        return self.state_dir / "data"

    def pid(self) -> int | None:
        """Returns the pid of this state directory's running broker, or None if none runs."""
        pid = read_pid(self.pid_file)
        if pid is not None and is_alive(pid, marker=str(self.config_path)):
            return pid
        return None

    def is_running(self) -> bool:
        """Tells whether a broker of this state directory runs (pid file, live process)."""
        return self.pid() is not None

    def running_bootstrap_servers(self) -> str | None:
        """Returns the address the running broker of this state directory listens on.

        It may differ from `bootstrap_servers` when this object was created
        with another port than the one the broker was started with.

        Returns:
            ``"127.0.0.1:PORT"``, or None if no broker runs.
        """
        if not self.is_running():
            return None
        listeners = _read_properties(self.config_path).get("advertised.listeners", "")
        return listeners.removeprefix("PLAINTEXT://") or None

    def ensure_jars(self, progress: Callable[[str], object] = print) -> Path:
        """Fetches the Kafka server jars into the shared cache unless already there.

        Args:
            progress: Receives a one-line message before a first fetch.

        Returns:
            Directory of the jars.

        Raises:
            StackError: Maven is missing or fails.
        """
        return fetch_artifacts(
            f"kafka-{KAFKA_VERSION}",
            KAFKA_ARTIFACTS,
            progress,
            label=f"Kafka {KAFKA_VERSION}",
        )

    def start(self, timeout: float = 60.0, progress: Callable[[str], object] = print) -> None:
        """Starts the broker and waits until it serves metadata; no-op if it already runs.

        On the first start the storage is formatted with a fresh cluster id.
        The JVM runs in its own session and keeps running after this process
        exits.

        Args:
            timeout: Seconds to wait for the broker to become ready.
            progress: Receives one-line messages about slow first-time steps.

        Raises:
            StackError: Java or the jars are missing, a port is taken, the broker
                already runs on a different port, or it does not become ready
                in time (the message carries the end of its log; the process is
                stopped).
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.state_dir / ".lock"):
            running = self.running_bootstrap_servers()
            if running is not None:
                if running != self.bootstrap_servers:
                    raise StackError(
                        f"Kafka from {self.state_dir} already runs on {running}, not "
                        f"{self.bootstrap_servers}; stop it first to change the port"
                    )
                return
            java = _java()
            jars = self.ensure_jars(progress)
            for port in (self.port, self.controller_port):
                if port_in_use(port):
                    raise StackError(
                        f"cannot start Kafka: port {port} on {LOCALHOST} is already in use by "
                        "another process; stop it or choose another port"
                    )
            self._write_config()
            if not (self.data_dir / "meta.properties").is_file():
                self._format_storage(java, jars)
            self._launch(java, jars)
            # Still under the lock: a concurrent start() returns only once ready.
            self._wait_until_ready(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stops the broker of this state directory: SIGTERM, wait, then SIGKILL.

        Removes the pid file. Does nothing if no broker runs.

        Args:
            timeout: Seconds to wait for a clean shutdown before SIGKILL.
        """
        pid = read_pid(self.pid_file)
        if pid is not None:
            terminate(pid, timeout, marker=str(self.config_path))
        self._launches.reap("broker")
        self.pid_file.unlink(missing_ok=True)

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        config: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Creates a topic and waits until every partition has a leader.

        Args:
            name: Topic name.
            partitions: Number of partitions.
            config: Topic-level configs, e.g. ``{"retention.ms": "60000"}``.
            timeout: Seconds to wait for creation and leaders.

        Raises:
            StackError: Creation fails (including: the topic already exists) or
                partitions have no leader in time.
        """
        from pipeline.devtools.producer import ProducerError, ensure_topic

        try:
            created, _ = ensure_topic(self.bootstrap_servers, name, partitions, topic_config=config, timeout_s=timeout)
        except ProducerError as exc:
            raise StackError(f"cannot create Kafka topic {name!r} on {self.bootstrap_servers}: {exc}") from None
        if not created:
            raise StackError(f"cannot create Kafka topic {name!r} on {self.bootstrap_servers}: it already exists")

    def _write_config(self) -> None:
        log_dir = self.log_path.parent
        log_dir.mkdir(parents=True, exist_ok=True)
        properties = {
            "process.roles": "broker,controller",
            "node.id": str(_NODE_ID),
            "controller.quorum.voters": f"{_NODE_ID}@{LOCALHOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{LOCALHOST}:{self.port},CONTROLLER://{LOCALHOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOCALHOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": self.data_dir.as_posix(),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        self.config_path.write_text(
            "# Generated by pipeline.stack.kafka on every start; edits are overwritten.\n"
            + "".join(f"{key}={value}\n" for key, value in properties.items()),
            encoding="utf-8",
        )
        (self.state_dir / "log4j2.properties").write_text(_log4j_config(self.log_path), encoding="utf-8")

    def _java_command(self, java: str, jars: Path, *args: str) -> list[str]:
        return [
            java,
            f"-Xmx{self.heap}",
            "-cp",
            f"{jars}/*",
            f"-Dlog4j2.configurationFile={(self.state_dir / 'log4j2.properties').as_posix()}",
            f"-Dkafka.logs.dir={self.log_path.parent.as_posix()}",
            *args,
        ]

    def _format_storage(self, java: str, jars: Path) -> None:
        cluster_id = "-"
        while cluster_id.startswith("-"):  # the tool would read "-..." as an option (Kafka's own ids avoid it too)
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        command = self._java_command(
            java,
            jars,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.config_path),
        )
        result = subprocess.run(
            command,
            cwd=self.state_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            output = result.stdout.decode("utf-8", errors="replace")
            raise StackError(
                f"formatting Kafka storage in {self.data_dir} failed (exit {result.returncode}): "
                f"{summarize_output(output)}"
            )

    def _launch(self, java: str, jars: Path) -> None:
        # The JVM's own errors go to stdout.log; Kafka's go to server.log. Only this launch counts.
        self._launches = Launches(self.log_path.parent, self.stop)
        self._launches.launch(
            "broker",
            self._java_command(java, jars, "kafka.Kafka", str(self.config_path)),
            label="Kafka",
            cwd=self.state_dir,
            log_path=self.stdout_path,
            pid_file=self.pid_file,
            more_logs=(self.log_path,),
        )

    def _wait_until_ready(self, timeout: float) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = None

        def ready() -> bool:
            nonlocal admin
            if admin is None and accepts_connections(self.port):
                admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
            if admin is None:
                return False
            try:
                return _NODE_ID in admin.list_topics(timeout=2).brokers
            except KafkaException:
                return False

        self._launches.wait_until(
            ready,
            timeout,
            f"Kafka did not become ready on {self.bootstrap_servers} within {timeout:g} s",
            poll_s=_POLL_SECONDS,
        )


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError("cannot start Kafka: 'java' is not on PATH; install a Java 17+ runtime")
    return java


def _read_properties(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _log4j_config(log_path: Path) -> str:
    log = log_path.as_posix()
    return f"""\
# Generated by pipeline.stack.kafka; Kafka logs to a rolling file, never to the terminal.
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=FILE
appender.file.type=RollingFile
appender.file.name=FILE
appender.file.fileName={log}
appender.file.filePattern={log}.%i
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
appender.file.policies.type=Policies
appender.file.policies.size.type=SizeBasedTriggeringPolicy
appender.file.policies.size.size=50MB
appender.file.strategy.type=DefaultRolloverStrategy
appender.file.strategy.max=3
"""
