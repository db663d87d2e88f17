"""Small TCP helpers: free ports, busy ports, waiting for a listener."""

from __future__ import annotations

import contextlib
import random
import socket

__all__ = ["LOCALHOST", "accepts_connections", "free_port", "free_ports", "port_in_use"]

LOCALHOST = "127.0.0.1"
"""Every local service binds to the IPv4 loopback address only."""


def free_ports(count: int, host: str = LOCALHOST) -> list[int]:
    """Returns ``count`` distinct ports that are free right now, below the OS's ephemeral range.

    A port the OS hands out for binding port 0 lies in the ephemeral range, where
    it may become the local end of some outgoing connection the moment a service
    lets it go, and a service that restarts on it (a worker pool after a crash)
    then cannot bind it. So ports are drawn at random below that range, each
    checked by binding it; all stay bound until every port is chosen.
    Another process may still take one before the caller binds it.

    Args:
        count: How many ports to return.
        host: Address to bind to.

    Returns:
        The port numbers.
    """
    low, high = _SERVICE_PORTS
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count * 200):
            port = random.randint(low, high)
            if port in ports:
                continue
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((host, port))
            except OSError:
                continue
            ports.append(port)
            if len(ports) == count:
                return ports
        raise OSError(f"no {count} free ports between {low} and {high} on {host}")


def _ephemeral_low() -> int:
    try:
        return int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Where free_ports draws from: above the well-known and registered services most machines run.
_SERVICE_PORTS = (20000, max(20100, _ephemeral_low() - 1))


def free_port(host: str = LOCALHOST) -> int:
    """Returns one port that is free right now (see `free_ports`)."""
    return free_ports(1, host)[0]


def port_in_use(port: int, host: str = LOCALHOST) -> bool:
    """Tells whether something already listens on (or holds) ``host:port``.

    Binds with ``SO_REUSEADDR`` like the JVM does, so sockets lingering in
    ``TIME_WAIT`` after a service stopped do not count as busy.

    Args:
        port: TCP port to check.
        host: Address to check.

    Returns:
        True if binding the port fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def accepts_connections(port: int, host: str = LOCALHOST, timeout: float = 1.0) -> bool:
    """Tells whether a TCP connection to ``host:port`` succeeds now.

    Args:
        port: TCP port to connect to.
        host: Address to connect to.
        timeout: Seconds to wait for the connection.

    Returns:
        True if the connection was accepted.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
