"""Fetch Java artifacts and their runtime dependencies with Maven, into the project cache."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from pipeline.stack import paths
from pipeline.stack.errors import StackError, summarize_output
from pipeline.stack.locking import exclusive_lock
from pipeline.stack.process import run_tool

__all__ = ["artifacts_dir", "fetch_artifacts"]

_MVN_TIMEOUT_SECONDS = 30 * 60
_COMPLETE_MARKER = "complete"


def artifacts_dir(name: str) -> Path:
    """Returns the directory that holds (or will hold) the jars of artifact set ``name``."""
    return paths.cache_dir() / name / "jars"


def fetch_artifacts(
    name: str,
    coordinates: Sequence[str],
    progress: Callable[[str], object] = print,
    *,
    label: str | None = None,
) -> Path:
    """Downloads artifacts and their runtime dependencies once; later calls return the cache.

    Writes a small ``pom.xml`` (packaging ``pom``) into ``cache/<name>/`` and runs
    ``mvn dependency:copy-dependencies`` into ``cache/<name>/jars``. A marker
    remembers which coordinates a completed fetch used, so changing them (a
    version bump) fetches again. Concurrent callers wait for each other.

    Args:
        name: Cache entry name, e.g. ``"kafka-4.1.1"``; a plain directory name.
        coordinates: Maven coordinates, ``group:artifact:version``,
            ``group:artifact:type:version`` or ``group:artifact:type:classifier:version``.
        progress: Receives a one-line message before a (slow) first fetch.
        label: Human name for the message, e.g. ``"Kafka 4.1.1"``; defaults to ``name``.

    Returns:
        The directory holding the jars (for a ``-cp "DIR/*"`` class path).

    Raises:
        StackError: ``mvn`` is missing or fails, or a coordinate is malformed.
    """
    if not name or "/" in name or name.startswith("."):
        raise StackError(f"invalid artifact cache name {name!r}: use a plain directory name")
    pom = _render_pom(name, coordinates)
    jars = artifacts_dir(name)
    entry = jars.parent
    marker = entry / _COMPLETE_MARKER
    with exclusive_lock(entry / ".lock"):
        if jars.is_dir() and marker.is_file() and marker.read_text(encoding="utf-8") == pom:
            return jars
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(
                f"cannot fetch {label or name} jars: 'mvn' (Apache Maven) is not on PATH; "
                "install Maven 3.6+ (e.g. apt-get install maven)"
            )
        progress(f"Fetching {label or name} jars with Maven (first run only)...")
        _run_maven(mvn, entry, pom, label or name)
        return jars


def _run_maven(mvn: str, entry: Path, pom: str, label: str) -> None:
    jars = entry / "jars"
    partial = entry / "jars.partial"
    marker = entry / _COMPLETE_MARKER
    log_path = entry / "mvn.log"
    marker.unlink(missing_ok=True)
    shutil.rmtree(partial, ignore_errors=True)
    (entry / "pom.xml").write_text(pom, encoding="utf-8")
    command = [
        mvn,
        "-q",
        "-B",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={partial}",
        "-DincludeScope=runtime",
        "-f",
        str(entry / "pom.xml"),
    ]
    returncode, output = run_tool(
        command, cwd=entry, timeout_s=_MVN_TIMEOUT_SECONDS, what=f"Maven fetching {label} jars"
    )
    log_path.write_text(output, encoding="utf-8")
    if returncode != 0 or not any(partial.glob("*.jar")):
        shutil.rmtree(partial, ignore_errors=True)
        raise StackError(
            f"Maven could not fetch {label} jars (exit {returncode}): {summarize_output(output)} (full log: {log_path})"
        )
    shutil.rmtree(jars, ignore_errors=True)
    partial.rename(jars)
    marker.write_text(pom, encoding="utf-8")


def _render_pom(name: str, coordinates: Sequence[str]) -> str:
    if not coordinates:
        raise StackError(f"no Maven coordinates given for {name!r}")
    dependencies = "\n".join(_render_dependency(coordinate) for coordinate in coordinates)
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>local.beam-token-counts</groupId>\n"
        f"  <artifactId>{escape(name)}</artifactId>\n"
        "  <version>1</version>\n"
        "  <packaging>pom</packaging>\n"
        "  <dependencies>\n"
        f"{dependencies}\n"
        "  </dependencies>\n"
        "</project>\n"
    )


def _render_dependency(coordinate: str) -> str:
    parts = coordinate.strip().split(":")
    if len(parts) not in (3, 4, 5) or not all(parts):
        raise StackError(
            f"malformed Maven coordinate {coordinate!r}: expected group:artifact:version "
            "(or group:artifact:type[:classifier]:version)"
        )
    group, artifact, *middle, version = parts
    fields = [("groupId", group), ("artifactId", artifact), ("version", version)]
    if middle:
        fields.append(("type", middle[0]))
    if len(middle) == 2:
        fields.append(("classifier", middle[1]))
    body = "".join(f"<{tag}>{escape(value)}</{tag}>" for tag, value in fields)
    return f"    <dependency>{body}</dependency>"
