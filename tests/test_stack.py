"""Tests of the local service stack against real processes: Kafka from Maven jars, Prism from Go."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from pipeline import stack
from pipeline.stack import KafkaBroker, StackError
from pipeline.stack.maven import fetch_artifacts
from pipeline.stack.net import accepts_connections, free_port, free_ports, port_in_use
from pipeline.stack.prism import beam_version
from pipeline.stack.process import is_alive

CONSUME_TIMEOUT_SECONDS = 30.0
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _free_port_pair() -> int:
    """Returns a port P such that P and P + 1 are both free (up() uses P + 1 for the controller)."""
    for _ in range(50):
        port = free_port()
        if port < 65535 and not port_in_use(port + 1):
            return port
    raise AssertionError("no two consecutive free ports found")


def _run_stack_call(call: str) -> str:
    """Runs ``pipeline.stack.<call>`` in a fresh Python process; returns its stdout."""
    code = f"from pathlib import Path; from pipeline import stack; stack.{call}"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _consume(bootstrap_servers: str, topic: str, count: int) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"test-stack-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages = []
    deadline = time.monotonic() + CONSUME_TIMEOUT_SECONDS
    try:
        while len(messages) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            messages.append(message)
    finally:
        consumer.close()
    return messages


class TestKafkaBroker:
    def test_broker_serves_metadata_on_its_address(self, kafka_broker: KafkaBroker) -> None:
        assert kafka_broker.is_running()
        assert kafka_broker.bootstrap_servers == f"127.0.0.1:{kafka_broker.port}"
        metadata = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers}).list_topics(timeout=10)
        assert [(b.host, b.port) for b in metadata.brokers.values()] == [("127.0.0.1", kafka_broker.port)]

    def test_fresh_topic_has_requested_partitions(
        self, kafka_broker: KafkaBroker, fresh_topic: Callable[..., str]
    ) -> None:
        default_topic, single_topic = fresh_topic(), fresh_topic(partitions=1)
        assert default_topic != single_topic
        topics = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers}).list_topics(timeout=10).topics
        assert len(topics[default_topic].partitions) == 3
        assert len(topics[single_topic].partitions) == 1

    def test_produced_message_is_consumed_back(
        self, kafka_broker: KafkaBroker, fresh_topic: Callable[..., str]
    ) -> None:
        topic = fresh_topic()
        producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
        timestamp_ms = 1_700_000_000_123
        producer.produce(
            topic,
            value=b"the quick brown fox",
            key=b"k1",
            partition=2,
            timestamp=timestamp_ms,
        )
        producer.produce(topic, value="naïve café".encode(), key=b"k2", partition=0)
        assert producer.flush(30) == 0

        messages = _consume(kafka_broker.bootstrap_servers, topic, 2)

        by_key = {m.key(): m for m in messages}
        assert set(by_key) == {b"k1", b"k2"}
        assert by_key[b"k1"].value() == b"the quick brown fox"
        assert by_key[b"k1"].partition() == 2
        assert by_key[b"k1"].offset() == 0
        assert by_key[b"k1"].timestamp()[1] == timestamp_ms
        assert by_key[b"k2"].value().decode() == "naïve café"

    def test_creating_an_existing_topic_is_a_stack_error(
        self, kafka_broker: KafkaBroker, fresh_topic: Callable[..., str]
    ) -> None:
        topic = fresh_topic(partitions=1)
        with pytest.raises(StackError, match=topic):
            kafka_broker.create_topic(topic, 1)

    def test_start_is_a_no_op_when_already_running(self, kafka_broker: KafkaBroker) -> None:
        pid = kafka_broker.pid()
        same_state = KafkaBroker(kafka_broker.port, kafka_broker.controller_port, kafka_broker.state_dir)
        same_state.start(timeout=5)
        assert same_state.pid() == pid
        assert kafka_broker.is_running()

    def test_start_refuses_a_different_port_for_a_running_state_dir(self, kafka_broker: KafkaBroker) -> None:
        other_port, other_controller = free_ports(2)
        with pytest.raises(StackError, match="already runs on"):
            KafkaBroker(other_port, other_controller, kafka_broker.state_dir).start(timeout=5)
        assert kafka_broker.is_running()

    def test_start_refuses_a_busy_port(self, kafka_broker: KafkaBroker, tmp_path: Path) -> None:
        broker = KafkaBroker(kafka_broker.port, free_port(), tmp_path / "kafka")
        with pytest.raises(StackError, match=f"port {kafka_broker.port} .* already in use") as error:
            broker.start(timeout=5)
        assert "\n" not in str(error.value)
        assert not broker.pid_file.exists()

    def test_failed_format_reports_the_jvm_error(self, tmp_path: Path) -> None:
        port, controller_port = free_ports(2)
        broker = KafkaBroker(port, controller_port, tmp_path / "kafka", heap="1k")
        with pytest.raises(StackError, match=r"formatting Kafka storage .* Too small maximum heap") as error:
            broker.start(timeout=30)
        assert "\n" not in str(error.value)
        assert not broker.is_running()

    def test_failed_launch_reports_the_jvm_error_and_cleans_up(self, tmp_path: Path) -> None:
        port, controller_port = free_ports(2)
        broker = KafkaBroker(port, controller_port, tmp_path / "kafka", heap="1k")
        broker.data_dir.mkdir(parents=True)
        (broker.data_dir / "meta.properties").write_text("# pretend the storage is formatted\n")
        with pytest.raises(
            StackError,
            match=r"exited during startup \(exit code 1\).*Too small maximum heap",
        ):
            broker.start(timeout=30)
        assert not broker.is_running()
        assert not broker.pid_file.exists()

    def test_stop_when_nothing_runs_is_harmless(self, tmp_path: Path) -> None:
        broker = KafkaBroker(free_port(), state_dir=tmp_path / "kafka")
        broker.stop()
        assert not broker.is_running()


class TestStackCommands:
    def test_status_mentions_the_running_broker(self, kafka_broker: KafkaBroker, prism_location: str) -> None:
        kafka_line, prism_line = stack.status(state=kafka_broker.state_dir.parent)
        assert kafka_line.startswith("kafka: running on ")
        assert kafka_broker.bootstrap_servers in kafka_line
        assert f"pid {kafka_broker.pid()}" in kafka_line
        assert prism_line.startswith("prism: built")
        assert prism_location in prism_line

    def test_status_says_stopped_when_nothing_runs(self, tmp_path: Path) -> None:
        kafka_line, _ = stack.status(state=tmp_path)
        assert kafka_line.startswith("kafka: stopped")

    def test_up_then_down_really_starts_and_stops_kafka(self, tmp_path: Path, prism_location: str) -> None:
        """Like the CLI: `up` returns while Kafka keeps running; `down` from another process."""
        port = _free_port_pair()
        broker = KafkaBroker(port, state_dir=tmp_path / "kafka")
        try:
            first = _run_stack_call(f"up(kafka_port={port}, state=Path({str(tmp_path)!r}))")
            pid = broker.pid()
            assert pid is not None and is_alive(pid)
            assert accepts_connections(port)
            assert f"running on 127.0.0.1:{port}" in first
            assert prism_location in first
            assert f"running on 127.0.0.1:{port}" in stack.status(state=tmp_path)[0]

            again = _run_stack_call(f"up(kafka_port={port}, state=Path({str(tmp_path)!r}))")
            assert "already running" in again
            assert broker.pid() == pid
        finally:
            _run_stack_call(f"down(state=Path({str(tmp_path)!r}))")

        assert not is_alive(pid)
        assert not broker.pid_file.exists()
        assert not accepts_connections(port)
        assert not port_in_use(port) and not port_in_use(port + 1)
        assert stack.status(state=tmp_path)[0].startswith("kafka: stopped")


class TestToolErrors:
    @pytest.fixture
    def no_tools(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """An empty project home and a PATH without mvn, go or java."""
        monkeypatch.setenv(stack.paths.HOME_ENV_VAR, str(tmp_path / "home"))
        empty_bin = tmp_path / "bin"
        empty_bin.mkdir()
        monkeypatch.setenv("PATH", str(empty_bin))

    @pytest.mark.usefixtures("no_tools")
    def test_missing_maven_is_a_one_line_error(self) -> None:
        with pytest.raises(StackError, match="'mvn'") as error:
            fetch_artifacts(
                "kafka-x",
                ["org.apache.kafka:kafka_2.13:4.1.1"],
                progress=lambda _: None,
            )
        assert "\n" not in str(error.value)

    @pytest.mark.usefixtures("no_tools")
    def test_missing_go_is_a_one_line_error(self) -> None:
        with pytest.raises(StackError, match="'go'") as error:
            stack.prism_binary(progress=lambda _: None)
        assert "\n" not in str(error.value)

    @pytest.mark.usefixtures("no_tools")
    def test_missing_java_is_a_one_line_error(self) -> None:
        with pytest.raises(StackError, match="'java'"):
            KafkaBroker(free_port()).start(timeout=5)

    @pytest.mark.parametrize("coordinate", ["kafka_2.13:4.1.1", "a::1", "a:b:c:d:e:f"])
    def test_malformed_coordinate_is_rejected(self, coordinate: str) -> None:
        with pytest.raises(StackError, match="malformed Maven coordinate"):
            fetch_artifacts("never-fetched", [coordinate], progress=lambda _: None)

    def test_home_env_var_moves_cache_and_state(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv(stack.paths.HOME_ENV_VAR, str(tmp_path))
        assert stack.cache_dir() == tmp_path / "cache"
        assert stack.state_dir() == tmp_path / "state"
        assert stack.prism_path() == tmp_path / "cache" / "prism" / beam_version() / "prism"


class TestPrism:
    def test_binary_is_built_for_the_installed_beam(self, prism_location: str) -> None:
        binary = Path(prism_location)
        assert binary == stack.prism_path()
        assert binary.parent.name == beam_version()
        assert binary.is_file() and os.access(binary, os.X_OK)

    def test_help_lists_the_job_service_flags(self, prism_location: str) -> None:
        result = subprocess.run(
            [prism_location, "--help"],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0
        for flag in ("-job_port", "-serve_http", "-idle_shutdown_timeout"):
            assert flag in result.stderr

    def test_serves_its_job_endpoint(self, prism_location: str) -> None:
        job_port = free_port()
        process = subprocess.Popen(
            [prism_location, f"-job_port={job_port}", "-serve_http=false"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not accepts_connections(job_port) and time.monotonic() < deadline:
                assert process.poll() is None, process.stderr.read()
                time.sleep(0.1)
            assert accepts_connections(job_port)
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=30)
        assert "Serving JobManagement" in stderr


def test_beam_finds_the_built_prism_without_a_download(prism_location):
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.prism_runner import PrismJobServer

    server = PrismJobServer(PipelineOptions())
    # Beam's own lookup: its cache, else a download.
    resolved = server.local_bin(server.path_to_binary(), bin_cache=PrismJobServer.BIN_CACHE)
    assert Path(resolved).name.startswith("apache_beam-v2.77.0-prism-")
    assert Path(resolved).read_bytes() == Path(prism_location).read_bytes()
