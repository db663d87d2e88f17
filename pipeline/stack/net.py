"""Small TCP helpers: free ports, busy ports, waiting for a listener."""

from __future__ import annotations

import contextlib
import socket

__all__ = ["LOCALHOST", "accepts_connections", "free_port", "free_ports", "port_in_use"]

LOCALHOST = "127.0.0.1"
"""Every local service binds to the IPv4 loopback address only."""


def free_ports(count: int, host: str = LOCALHOST) -> list[int]:
    """Asks the OS for ``count`` distinct ports that are free right now.

    All sockets stay bound until every port is chosen, so the ports differ.
    Another process may still take one before the caller binds it.

    Args:
        count: How many ports to return.
        host: Address to bind to.

    Returns:
        The port numbers.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


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
