"""Helpers of the integration tests: run the CLI, read its JSON-lines output."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DIRECT_CONFIG = str(REPO / "run_configs" / "direct.yaml")
_RECORDS_LINE = re.compile(r"records read (\d+) = decoded (\d+) \+ dead letters (\d+): (\w+)")


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs `python -m pipeline ...` from the repository, as a user would."""
    return subprocess.run(
        cli_command(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
    )


def start_cli(*args: str, log_path: Path, new_session: bool = False, env: dict | None = None) -> subprocess.Popen:
    """Starts `python -m pipeline ...`; with `new_session`, as the leader of its own process group
    (so that the group can be sent a terminal's Ctrl-C with os.killpg)."""
    log = open(log_path, "w")
    return subprocess.Popen(
        cli_command(*args),
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(env if env is not None else os.environ),
        start_new_session=new_session,
    )


def config_overrides(**settings) -> list[str]:
    """--set arguments from keyword settings: source__topics=['t'] -> source.topics=['t']."""
    pairs = []
    for key, value in settings.items():
        pairs += ["--set", f"{key.replace('__', '.')}={json.dumps(value)}"]
    return pairs


def read_rows(path: Path, kind: str | None = None) -> list[dict]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row for row in rows if kind is None or row["kind"] == kind]


def records_accounting(output: str) -> tuple[int, int, int, str]:
    """(read, decoded, dead letters, verdict) from the run's closing lines."""
    match = _RECORDS_LINE.search(output)
    assert match, f"no records line in the CLI output:\n{output[-3000:]}"
    read, decoded, dead, verdict = match.groups()
    return int(read), int(decoded), int(dead), verdict


def committed_offsets(bootstrap: str, topic: str, group: str, partitions: int) -> list[int]:
    """The group's committed offset of each partition of the topic (negative: none)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return [tp.offset for tp in found]
    finally:
        consumer.close()


def descendants(pid: int) -> set[int]:
    """The pids of a process's children, grandchildren, ... (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` that still run (zombies do not)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            running.add(pid)
    return running


def wait_gone(pids: set[int], timeout_s: float) -> set[int]:
    """Waits until none of `pids` runs; returns those still running after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(pids)


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def _address(hex_address: str, ipv6: bool) -> str:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # /proc/net/tcp* print the address as 32-bit words in host byte order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    return f"{socket.inet_ntop(family, words)}:{int(port, 16)}"


def listening_sockets(pids: set[int]) -> list[tuple[int, str, str]]:
    """(pid, address:port, command) of every TCP socket in LISTEN state that `pids` hold (Linux /proc)."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    found = []
    for table, ipv6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            inode = int(fields[9])
            if inode in owner:
                pid = owner[inode]
                try:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
                except OSError:
                    command = "?"
                found.append((pid, _address(fields[1], ipv6), command))
    return found


def is_loopback(address: str) -> bool:
    """127.0.0.0/8, ::1 and IPv4-mapped 127.x (address:port as `listening_sockets` gives it)."""
    host = address.rsplit(":", 1)[0]
    ip = ipaddress.ip_address(host)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback
