"""Background service processes: launch detached, track by pid file, wait until ready, fail with the log, stop for sure.

Kafka and the Flink cluster share this lifecycle: `Launches` keeps the processes a
start() launched and where their logs stood, so that waiting notices a process
that died, and a failed start stops what it started and says why in one line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from pipeline.stack.errors import StackError, read_log, summarize_output

__all__ = ["Launches", "file_size", "is_alive", "launch", "read_pid", "run_tool", "terminate", "write_pid"]

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


def run_tool(
    command: Sequence[str], *, timeout_s: float, what: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Runs a build tool (mvn, go, pip) to the end: its exit code and its output, stdout and stderr together.

    Raises:
        StackError: it did not finish within `timeout_s` (`what` names it in the message).
    """
    try:
        result = subprocess.run(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what} did not finish within {int(timeout_s // 60)} minutes") from exc
    return result.returncode, result.stdout.decode("utf-8", errors="replace")


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class Launches:
    """The processes one start() launched, and where their logs stood: to wait for them and to fail well.

    Args:
        log_dir: Where the service's logs are, for the error message.
        stop: Stops the whole service (called before a failed start raises).
    """

    def __init__(self, log_dir: Path, stop: Callable[..., object]):
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._labels: dict[str, str] = {}
        self._log_offsets: dict[Path, int] = {}
        self._log_dir = log_dir
        self._stop = stop

    def launch(
        self,
        name: str,
        command: Sequence[str],
        *,
        label: str,
        cwd: Path,
        log_path: Path,
        pid_file: Path,
        env: dict[str, str] | None = None,
        more_logs: Sequence[Path] = (),
    ) -> subprocess.Popen[bytes]:
        """Launches one process of the service (see `launch`) and records its pid file."""
        for path in (log_path, *more_logs):
            self._log_offsets[path] = file_size(path)
        process = launch(command, cwd=cwd, log_path=log_path, env=env)
        self.processes[name], self._labels[name] = process, label
        write_pid(pid_file, process.pid)
        return process

    def wait_until(self, ready: Callable[[], bool], timeout: float, not_ready: str, poll_s: float = 0.25) -> None:
        """Polls `ready` until it says yes; fails when a process exits first or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                exit_code = process.poll()
                if exit_code is not None:
                    self.fail(f"{self._labels[name]} exited during startup (exit code {exit_code})")
            if ready():
                return
            time.sleep(poll_s)
        self.fail(not_ready)

    def fail(self, what: str) -> NoReturn:
        """Stops the service and raises one line: what happened and the end of this launch's logs."""
        output = "".join(read_log(path, since) for path, since in self._log_offsets.items())
        self._stop(timeout=10)
        raise StackError(f"{what}: {summarize_output(output)} (logs: {self._log_dir})")

    def reap(self, name: str, timeout: float = 5.0) -> None:
        """Waits for a stopped process, so that it leaves no zombie behind in this Python process."""
        process = self.processes.pop(name, None)
        if process is not None:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass


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
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
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
