"""Background service processes: launch detached, track by pid file, stop for sure."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["is_alive", "launch", "read_pid", "terminate", "write_pid"]

_POLL_SECONDS = 0.1


def launch(
    command: Sequence[str],
    *,
    cwd: Path,
    log_path: Path,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Starts a service in its own session, detached from the terminal.

    The process survives the caller (so ``stack up`` can return) and does not
    receive the terminal's Ctrl-C. Its stdout and stderr are appended to
    ``log_path``.

    Args:
        command: Program and arguments.
        cwd: Working directory of the service.
        log_path: File that receives the service's stdout and stderr.
        env: Environment; defaults to the caller's.

    Returns:
        The process handle. Keep it while the caller lives so the process can
        be reaped when it is stopped from the same Python process.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def read_pid(pid_file: Path) -> int | None:
    """Reads a pid file.

    Args:
        pid_file: File holding a process id as decimal text.

    Returns:
        The pid, or None if the file is missing or does not hold a pid.
    """
    try:
        text = pid_file.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def write_pid(pid_file: Path, pid: int) -> None:
    """Writes ``pid`` to ``pid_file`` atomically (write, then rename)."""
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    partial = pid_file.with_name(pid_file.name + ".partial")
    partial.write_text(f"{pid}\n", encoding="ascii")
    os.replace(partial, pid_file)


def is_alive(pid: int, marker: str | None = None) -> bool:
    """Tells whether ``pid`` is a live (not zombie) process, optionally checking its command line.

    Reaps the process first if it is an exited child of the caller, so a
    stopped child does not linger as a zombie that looks alive.

    Args:
        pid: Process id.
        marker: If given, the process's command line must contain this text
            (guards against pid reuse). Checked only where ``/proc`` exists.

    Returns:
        True if the process runs (and matches ``marker``).
    """
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return marker is None
    proc = Path("/proc") / str(pid)
    if not proc.exists():
        return marker is None or os.uname().sysname != "Linux"
    try:
        stat = (proc / "stat").read_text()
        state = stat.rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
        if marker is not None:
            cmdline = (
                (proc / "cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
            return marker in cmdline
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return True


def terminate(pid: int, timeout: float = 30.0, marker: str | None = None) -> bool:
    """Stops a service: SIGTERM, wait up to ``timeout`` seconds, then SIGKILL.

    Signals the whole process group when ``pid`` leads one (services started
    by `launch` do), so helpers the service spawned go too.

    Args:
        pid: Process id of the service.
        timeout: Seconds to wait for a graceful exit before SIGKILL.
        marker: Passed to `is_alive`; a process that does not match is left alone.

    Returns:
        True if the process had to be killed with SIGKILL, False if it exited
        on SIGTERM or was not running.
    """
    if not is_alive(pid, marker):
        return False
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return False
        time.sleep(_POLL_SECONDS)
    _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10.0
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    return True


def _signal(pid: int, signum: signal.Signals) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass
