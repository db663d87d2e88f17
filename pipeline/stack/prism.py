"""Build Beam's Prism runner binary with ``go install``, at the installed apache-beam version."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from pipeline.stack import paths
from pipeline.stack.errors import StackError, summarize_output
from pipeline.stack.locking import exclusive_lock

__all__ = ["PRISM_PACKAGE", "beam_version", "prism_binary", "prism_launcher", "prism_path"]

PRISM_PACKAGE = "github.com/apache/beam/sdks/v2/go/cmd/prism"
"""Go package of the Prism runner in Beam's Go SDK module."""

_GO_TIMEOUT_SECONDS = 30 * 60
_BINARY_NAME = "prism.exe" if os.name == "nt" else "prism"
_RELEASE = re.compile(r"^(\d+\.\d+\.\d+)(?:rc(\d+))?$")


def beam_version() -> str:
    """Returns the installed apache-beam version, e.g. ``"2.77.0"``."""
    from apache_beam.version import __version__

    return __version__


def prism_path(version: str | None = None) -> Path:
    """Returns where the Prism binary for ``version`` lives in the cache (built or not).

    Args:
        version: apache-beam version; defaults to the installed one.
    """
    return paths.cache_dir() / "prism" / (version or beam_version()) / _BINARY_NAME


def prism_binary(progress: Callable[[str], object] = print) -> Path:
    """Returns the Prism binary matching the installed apache-beam, building it on first use.

    Runs ``go install <PRISM_PACKAGE>@v<version>`` with ``GOBIN`` pointing into
    the cache; the Go toolchain fetches the module through its usual proxy.
    Concurrent callers wait for each other. Pass the result to Beam as the
    ``prism_location`` pipeline option.

    Args:
        progress: Receives a one-line message before a (slow) first build.

    Returns:
        Path of the executable ``prism`` binary.

    Raises:
        StackError: ``go`` is missing or the build fails, or the installed
            apache-beam is not a release that has a Go module tag.
    """
    version = beam_version()
    target = prism_path(version)
    with exclusive_lock(target.parent / ".lock"):
        if target.is_file() and os.access(target, os.X_OK):
            _register_with_beam(target, version)
            return target
        go = shutil.which("go")
        if go is None:
            raise StackError(
                f"cannot build Prism {version}: 'go' (the Go toolchain) is not on PATH; "
                "install Go 1.21+ or pass --prism_location pointing to a prism binary"
            )
        progress(f"Building Prism {version} with go install (first run only)...")
        _build(go, _go_tag(version), target)
        _register_with_beam(target, version)
        return target


def prism_launcher(binary: Path) -> Path:
    """A launcher that runs Prism and ends it when the process that started it dies.

    Beam starts Prism as a child of the job's launching process; when that process
    is killed (SIGKILL: no handler runs), Prism would live on with the job. The
    launcher asks the kernel to kill Prism with its parent (setpriv --pdeathsig).
    Without setpriv (not Linux), the binary itself.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return binary
    launcher = binary.with_name(binary.name + "-with-parent")
    text = f'#!/bin/sh\n# Prism, killed when its parent dies.\nexec {setpriv} --pdeathsig KILL -- "{binary}" "$@"\n'
    if not launcher.exists() or launcher.read_text() != text:
        partial = launcher.with_name(launcher.name + ".tmp")
        partial.write_text(text)
        partial.chmod(0o755)
        partial.replace(launcher)
    return launcher


def _go_tag(version: str) -> str:
    match = _RELEASE.match(version)
    if match is None:
        raise StackError(
            f"cannot build Prism for apache-beam {version}: only release versions have a Go "
            "module tag; pass --prism_location pointing to a prism binary"
        )
    base, candidate = match.groups()
    return f"v{base}-RC{candidate}" if candidate else f"v{base}"


def _build(go: str, tag: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    log_path = target.parent / "go-install.log"
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as build_dir:
        env = {**os.environ, "GOBIN": build_dir}
        try:
            result = subprocess.run(
                [go, "install", f"{PRISM_PACKAGE}@{tag}"],
                cwd=build_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=_GO_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(
                f"go install of Prism {tag} did not finish "
                f"within {_GO_TIMEOUT_SECONDS // 60} minutes"
            ) from exc
        output = result.stdout.decode("utf-8", errors="replace")
        log_path.write_text(output, encoding="utf-8")
        built = Path(build_dir) / _BINARY_NAME
        if result.returncode != 0 or not built.is_file():
            raise StackError(
                f"go install of Prism {tag} failed (exit {result.returncode}): "
                f"{summarize_output(output)} (full log: {log_path})"
            )
        os.replace(built, target)


def _beam_release_name(version: str) -> str:
    """The name Beam gives the Prism release asset of this version on this platform."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower())
    return f"apache_beam-v{version.split('rc')[0]}-prism-{platform.system().lower()}-{arch}"


def _register_with_beam(binary: Path, version: str) -> None:
    """Puts the built binary where Beam's PrismRunner looks before it downloads one.

    Beam resolves Prism to a release asset and reuses a cached copy of it; with
    the built binary cached under that name, `TestPipeline()` and a plain
    DirectRunner find Prism without `prism_location` and without a download.
    """
    cache = Path(os.path.expanduser("~/.apache_beam/cache/prism/bin"))
    name = _beam_release_name(version)
    unpacked = cache / name
    if unpacked.is_file() and (cache / f"{name}.zip").is_file():
        return
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache, suffix=".zip", delete=False) as staged:
        with zipfile.ZipFile(staged, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.write(binary, arcname=name)
    shutil.copy2(binary, unpacked)
    os.replace(staged.name, cache / f"{name}.zip")
