"""The Flink helpers that need no services: FlinkRunner option defaults, the launcher jar's manifest."""

from __future__ import annotations

import zipfile

from pipeline.stack.flink import job_server as flink

JAR = {"flink_job_server_jar": "/opt/job-server.jar"}


def test_a_bounded_read_runs_as_a_streaming_job_without_checkpoints():
    defaults = flink.flink_option_defaults(JAR, unbounded=False)
    launcher = defaults.pop("job_server_java_launcher")  # the job server dies with the process that started it
    assert defaults == {"flink_version": flink.FLINK_MINOR_VERSION, "streaming": True}
    assert launcher.endswith("java-with-parent")


def test_a_stream_is_checkpointed_and_a_drained_one_lets_the_sources_end_after_the_drain():
    assert flink.flink_option_defaults(JAR, unbounded=True)["checkpointing_interval"] == 10_000
    assert "shutdown_sources_after_idle_ms" not in flink.flink_option_defaults(JAR, unbounded=True)
    drained = flink.flink_option_defaults(JAR, unbounded=True, drain_after_s=60)
    assert drained["shutdown_sources_after_idle_ms"] == (60 + flink._DRAIN_MARGIN_S) * 1000


def test_options_a_config_sets_win_over_the_defaults():
    given = {
        **JAR,
        "streaming": False,
        "checkpointing_interval": 500,
        "flink_version": "1.19",
        "job_server_java_launcher": "java",
    }
    assert flink.flink_option_defaults(given, unbounded=True) == {}


def test_the_launcher_manifest_names_every_jar_in_lines_of_at_most_72_bytes(tmp_path):
    names = [f"some-long-artifact-name-{i}-1.2.3.jar" for i in range(40)]
    manifest = flink._launcher_manifest(names)
    lines = manifest.split(b"\r\n")
    assert all(len(line) <= 72 for line in lines)
    jar = tmp_path / "launcher.jar"
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", manifest)
    assert flink._read_manifest(jar) == manifest
    unfolded = manifest.replace(b"\r\n ", b"").decode()
    class_path = next(line for line in unfolded.split("\r\n") if line.startswith("Class-Path: "))
    assert class_path.split()[1:] == [f"jars/{name}" for name in names]
    assert "Main-Class: org.apache.beam.runners.flink.FlinkJobServerDriver" in unfolded
