"""Running a program and measuring it: wall time, CPU seconds of its process tree, RSS over time.

CPU seconds are `resource.getrusage(RUSAGE_CHILDREN)` before and after the
program (user + system of the program and every descendant that was waited
for), or, when larger, the sum of each process's own CPU time last seen by
sampling the live tree (which covers descendants nobody waited for). RSS is the sum
over the live process tree (the program and all its descendants: the pipeline's
launcher, Prism and SDK workers), sampled every `interval_s`; the peak is the
largest sum seen.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import psutil

__all__ = ["Measurement", "TreeSampler", "run_measured", "tree_rss", "terminate_tree"]


@dataclass
class Measurement:
    """What one run of a program cost."""

    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    returncode: int
    rss_samples: list = field(default_factory=list)  # (seconds since start, tree RSS bytes)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(pid: int) -> int:
    """The summed resident set size of a process and all its descendants, in bytes."""
    total = 0
    for process in _tree(pid):
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


class TreeSampler(threading.Thread):
    """Samples a process tree's RSS and CPU seconds in the background."""

    def __init__(self, pid: int, interval_s: float = 0.2, extra_pids: Sequence[int] = ()):
        super().__init__(daemon=True)
        self._pid = pid
        self._extra_pids = tuple(extra_pids)
        self._interval_s = interval_s
        self._extra_cpu_first: dict[int, float] = {}
        self._extra_cpu_last: dict[int, float] = {}
        self._first_sample = True
        self._stop_event = threading.Event()
        self._t0 = time.monotonic()
        self._cpu_by_pid: dict[int, float] = {}
        self.samples: list[tuple[float, int]] = []
        self.peak_rss = 0

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self._interval_s)

    def sample(self) -> int:
        rss = 0
        extra = [process for pid in self._extra_pids for process in _tree(pid)]
        for process in _tree(self._pid) + extra:
            try:
                with process.oneshot():
                    rss += process.memory_info().rss
                    times = process.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            # Own time only: a reaped child's time shows up in its parent's children_* as well.
            own = times.user + times.system
            if process in extra:
                # Services that outlive the run (a Flink cluster): only what they spent during it.
                self._extra_cpu_first.setdefault(process.pid, own if self._first_sample else 0.0)
                self._extra_cpu_last[process.pid] = own
            else:
                self._cpu_by_pid[process.pid] = own
        self._first_sample = False
        if rss:
            self.samples.append((time.monotonic() - self._t0, rss))
            self.peak_rss = max(self.peak_rss, rss)
        return rss

    @property
    def cpu_s(self) -> float:
        return sum(self._cpu_by_pid.values())

    @property
    def extra_cpu_s(self) -> float:
        return sum(last - self._extra_cpu_first.get(pid, 0.0) for pid, last in self._extra_cpu_last.items())

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.sample()  # the services' CPU time up to the end of the run


def terminate_tree(pid: int, timeout_s: float = 10.0) -> None:
    """Stops a process and its descendants: SIGTERM, then SIGKILL after timeout_s."""
    processes = _tree(pid)
    for process in processes:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=timeout_s)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def run_measured(
    command: Sequence[str],
    *,
    log_path: Path,
    env: Optional[dict] = None,
    cwd: Optional[Path] = None,
    stdout_path: Optional[Path] = None,
    timeout_s: float = 1800.0,
    interval_s: float = 0.2,
    while_running: Optional[Callable[[subprocess.Popen], None]] = None,
    extra_pids: Sequence[int] = (),
) -> Measurement:
    """Runs a command to completion and measures its process tree.

    Args:
        stdout_path: where the program's stdout goes (default: the log, with stderr).
        while_running: called once the program has started (it may block until the
            program ends, e.g. to tail a file); sampling goes on meanwhile.
        extra_pids: services the program uses that run apart from it (a Flink
            cluster): their trees count in the RSS and their CPU time during the run.

    Raises:
        TimeoutError: the program ran longer than timeout_s (it is stopped first).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cpu_before = _children_cpu()
    with open(log_path, "wb") as log, open(stdout_path or os.devnull, "wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(
            list(command), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out if stdout_path else log, stderr=log
        )
        sampler = TreeSampler(process.pid, interval_s, extra_pids)
        sampler.start()
        try:
            if while_running is not None:
                while_running(process)
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            terminate_tree(process.pid)
            process.wait()
            raise TimeoutError(f"{command[0]} ... ran longer than {timeout_s:.0f}s (log: {log_path})") from None
        finally:
            wall = time.monotonic() - started
            sampler.stop()
    cpu = max(_children_cpu() - cpu_before, sampler.cpu_s) + sampler.extra_cpu_s
    return Measurement(wall, cpu, sampler.peak_rss, process.returncode, sampler.samples)
