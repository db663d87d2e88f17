"""Beam's Flink job server: what FlinkRunner starts with ``java -jar`` to run a portable pipeline on Flink.

The job server is assembled from its parts: ``mvn`` fetches ``beam-runners-flink-1.19``
(which holds ``FlinkJobServerDriver``) with its runtime dependencies, and a small launcher
jar names them in its manifest ``Class-Path``; ``java -jar launcher.jar`` is then exactly
the job server. `flink_option_defaults` passes it as ``flink_job_server_jar`` when a
config does not name one.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

from pipeline.stack import paths
from pipeline.stack.flink.versions import BEAM_JOB_SERVER_VERSION, FLINK_MINOR_VERSION, FLINK_VERSION
from pipeline.stack.locking import exclusive_lock
from pipeline.stack.maven import fetch_artifacts
from pipeline.stack.prism import java_launcher

__all__ = ["JOB_SERVER_ARTIFACTS", "flink_option_defaults", "job_server_jar", "job_server_jar_path"]

_FLINK_MODULES = (
    "flink-clients",
    "flink-streaming-java",
    "flink-core",
    "flink-java",
    "flink-runtime",
    "flink-metrics-core",
)
JOB_SERVER_ARTIFACTS = [
    # Listed first so that Maven's nearest-wins picks them over the 1.19.0 the runner was built with.
    *(f"org.apache.flink:{module}:{FLINK_VERSION}" for module in _FLINK_MODULES),
    f"org.apache.beam:beam-runners-flink-{FLINK_MINOR_VERSION}:{BEAM_JOB_SERVER_VERSION}",
    "org.slf4j:slf4j-simple:1.7.30",
]
"""Maven coordinates whose runtime class path is the Beam Flink job server."""

_JOB_SERVER_MAIN = "org.apache.beam.runners.flink.FlinkJobServerDriver"
_JOB_SERVER_NAME = f"beam-flink-{FLINK_MINOR_VERSION}-job-server-{BEAM_JOB_SERVER_VERSION}"
# The Impulse source starts a little before the reader sets its deadline.
_DRAIN_MARGIN_S = 10


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
    jars = fetch_artifacts(
        _JOB_SERVER_NAME,
        JOB_SERVER_ARTIFACTS,
        progress,
        label=f"Beam {BEAM_JOB_SERVER_VERSION} Flink {FLINK_VERSION} job server",
    )
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
        chunks = [data[:72]] + [b" " + data[i : i + 71] for i in range(72, len(data), 71)]
        return b"\r\n".join(chunks) + b"\r\n"

    class_path = " ".join(f"jars/{name}" for name in jar_names)
    return (
        line("Manifest-Version: 1.0")
        + line(f"Main-Class: {_JOB_SERVER_MAIN}")
        + line(f"Class-Path: {class_path}")
        + b"\r\n"
    )


def _read_manifest(jar: Path) -> bytes | None:
    try:
        with zipfile.ZipFile(jar) as archive:
            return archive.read("META-INF/MANIFEST.MF")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


def flink_option_defaults(
    options: Mapping[str, object],
    *,
    unbounded: bool,
    drain_after_s: float | None = None,
    progress: Callable[[str], object] = print,
) -> dict[str, object]:
    """The pipeline options FlinkRunner needs on this project's stack, for those ``options`` lacks.

    * ``flink_job_server_jar``: the cached job server (`job_server_jar`), so
      Beam never downloads one at run time; ``flink_version``: its Flink.
    * ``streaming``: portable Flink's batch mode rejects the reader, a splittable
      DoFn (apache/beam#19526), so a bounded read runs as a streaming job that
      ends when the read does.
    * For an unbounded read, ``checkpointing_interval`` (10 s): a failed task
      restarts from the last checkpoint (the reader's positions, the windows and
      the offset ledger) rather than from the start. Offsets are committed by
      CommitOffsets behind the sinks either way (transforms/kafka/commit.py).
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
