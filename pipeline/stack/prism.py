"""Build Beam's Prism runner binary with ``go install``, at the installed apache-beam version."""

from __future__ import annotations

import filecmp
import json
import os
import platform
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from pipeline.stack import paths
from pipeline.stack.errors import StackError, summarize_output
from pipeline.stack.locking import exclusive_lock
from pipeline.stack.process import run_tool

__all__ = ["PRISM_PACKAGE", "beam_version", "java_launcher", "prism_binary", "prism_launcher", "prism_path"]

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

    Fetches Beam's Go module at ``v<version>`` with ``go mod download`` (the Go
    toolchain fetches it through its usual proxy), patches Prism to listen on
    127.0.0.1 only (`_LISTEN_PATCH`) and builds ``<PRISM_PACKAGE>`` with ``go build``
    into the cache. A binary built by an earlier recipe is rebuilt.
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
        if target.is_file() and os.access(target, os.X_OK) and _is_current_build(target):
            _register_with_beam(target, version)
            return target
        go = shutil.which("go")
        if go is None:
            raise StackError(
                f"cannot build Prism {version}: 'go' (the Go toolchain) is not on PATH; "
                "install Go 1.21+ or pass --prism_location pointing to a prism binary"
            )
        progress(f"Building Prism {version} with go build (first run only, a few minutes)...")
        _build(go, _go_tag(version), target)
        _register_with_beam(target, version)
        return target


def prism_launcher(binary: Path) -> Path:
    """A launcher that runs Prism in its own process group and ends it with the process that started it.

    Beam starts Prism as a child of the job's launching process. In its own process group
    (setsid), Prism does not receive the Ctrl-C a terminal sends to the foreground group:
    the `run` command receives it and cancels the job through Prism; Beam's own stop
    (SIGINT) still ends Prism at once. When the launching process is killed (SIGKILL: no
    handler runs), the kernel kills Prism with it (setpriv --pdeathsig). Without
    setsid/setpriv (not Linux), the binary itself.
    """
    return _launcher(binary, binary.with_name(binary.name + "-with-parent"), "Prism")


def _launcher(program: Path | str, launcher: Path, what: str) -> Path | str:
    setsid, setpriv = shutil.which("setsid"), shutil.which("setpriv")
    if setpriv is None:
        return program
    group = f"{setsid} " if setsid else ""
    text = (
        f"#!/bin/sh\n# {what} in its own process group, killed when its parent dies.\n"
        f'exec {group}{setpriv} --pdeathsig KILL -- "{program}" "$@"\n'
    )
    if not launcher.exists() or launcher.read_text() != text:
        launcher.parent.mkdir(parents=True, exist_ok=True)
        partial = launcher.with_name(launcher.name + f".{os.getpid()}.tmp")
        partial.write_text(text)
        partial.chmod(0o755)
        partial.replace(launcher)
    return launcher


def java_launcher() -> Path | str:
    """``java`` behind the same launcher as Prism (Beam's ``job_server_java_launcher``)."""
    java = shutil.which("java") or "java"
    return _launcher(java, paths.cache_dir() / "launchers" / "java-with-parent", "java")


def _go_tag(version: str) -> str:
    match = _RELEASE.match(version)
    if match is None:
        raise StackError(
            f"cannot build Prism for apache-beam {version}: only release versions have a Go "
            "module tag; pass --prism_location pointing to a prism binary"
        )
    base, candidate = match.groups()
    return f"v{base}-RC{candidate}" if candidate else f"v{base}"


# Prism 2.77 serves its job and worker endpoints on every interface (":port") and has no
# flag to change that; the build replaces the one line. The build stamp names this recipe.
_LISTEN_FILE = "go/pkg/beam/runners/prism/internal/jobservices/server.go"
_LISTEN_PATCH = ('net.Listen("tcp", fmt.Sprintf(":%d", port))', 'net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))')
_BUILD_RECIPE = "go build, jobservices listen on 127.0.0.1\n"


def _stamp(target: Path) -> Path:
    return target.with_name(target.name + ".build")


def _is_current_build(target: Path) -> bool:
    try:
        return _stamp(target).read_text(encoding="utf-8") == _BUILD_RECIPE
    except OSError:
        return False


def _go(go: str, args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    return run_tool(
        [go, *args], cwd=cwd, env=env, timeout_s=_GO_TIMEOUT_SECONDS, what=f"go {args[0]} {args[1]} for Prism"
    )


def _build(go: str, tag: str, target: Path) -> None:
    """Builds Prism from Beam's Go module at `tag`, patched to listen on 127.0.0.1 only."""
    target.parent.mkdir(parents=True, exist_ok=True)
    log_path = target.parent / "go-build.log"
    module = f"{PRISM_PACKAGE.split('/go/cmd/')[0]}@{tag}"
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as build_dir:
        work = Path(build_dir)
        env = {**os.environ, "GOFLAGS": "-mod=mod"}
        code, output = _go(go, ["mod", "download", "-json", module], work, env)
        log = [output]
        try:
            source = Path(json.loads(output)["Dir"])
        except (ValueError, KeyError, TypeError):
            log_path.write_text(output, encoding="utf-8")
            raise StackError(
                f"go mod download of {module} failed (exit {code}): {summarize_output(output)} (full log: {log_path})"
            ) from None
        # The module without its Java, Python and TypeScript parts; the Go sources, writable.
        tree = work / "beam"
        tree.mkdir()
        for name in ("go.mod", "go.sum"):
            shutil.copyfile(source / name, tree / name)
        shutil.copytree(source / "go", tree / "go", copy_function=shutil.copyfile)
        listen = tree / _LISTEN_FILE
        text = listen.read_text(encoding="utf-8")
        if text.count(_LISTEN_PATCH[0]) != 1:
            raise StackError(
                f"cannot build Prism {tag} to listen on 127.0.0.1 only: {_LISTEN_FILE} "
                "no longer holds the line this project patches; update pipeline/stack/prism.py"
            )
        listen.write_text(text.replace(*_LISTEN_PATCH), encoding="utf-8")
        built = work / _BINARY_NAME
        package = "./" + PRISM_PACKAGE.split("/sdks/v2/", 1)[1]
        code, output = _go(go, ["build", "-trimpath", "-o", str(built), package], tree, env)
        log.append(output)
        log_path.write_text("".join(log), encoding="utf-8")
        if code != 0 or not built.is_file():
            raise StackError(
                f"go build of Prism {tag} failed (exit {code}): {summarize_output(output)} (full log: {log_path})"
            )
        _stamp(target).unlink(missing_ok=True)
        os.replace(built, target)
        _stamp(target).write_text(_BUILD_RECIPE, encoding="utf-8")


def _beam_release_name(version: str) -> str:
    """The name Beam gives the Prism release asset of this version on this platform."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
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
    if unpacked.is_file() and (cache / f"{name}.zip").is_file() and filecmp.cmp(unpacked, binary, shallow=True):
        return
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache, suffix=".zip", delete=False) as staged:
        with zipfile.ZipFile(staged, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.write(binary, arcname=name)
    # A running Prism may execute the old copy: write beside it, then rename over it.
    staged_binary = unpacked.with_name(f"{name}.{os.getpid()}.tmp")
    shutil.copy2(binary, staged_binary)
    os.replace(staged_binary, unpacked)
    os.replace(staged.name, cache / f"{name}.zip")
