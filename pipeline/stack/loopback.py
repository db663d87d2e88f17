"""Beam's Python gRPC servers on the loopback interface only.

Beam 2.77 binds every server it starts in Python to all interfaces (``[::]:port``):
the LOOPBACK worker pool that Prism and Flink call back (portable_runner), the
FnApiRunner's control, data, state and logging servers, the logging server of its
worker processes, and ``worker_pool_main`` (the Flink cluster's worker pool). Their
clients are always on this machine and dial ``localhost:port``. `bind_grpc_servers_to_loopback`
rewrites a wildcard host in this process's gRPC server addresses to ``localhost``,
which gRPC binds on 127.0.0.1 and ::1 with one port (a private grpc API: checked
by tests/test_signals_sockets.py, which lists the listening sockets of a run).
"""

from __future__ import annotations

import re

__all__ = ["bind_grpc_servers_to_loopback", "loopback_address"]

_WILDCARD = re.compile(r"^(?:\[::\]|0\.0\.0\.0|\[::0\]|\[0:0:0:0:0:0:0:0\]|):(\d+)$")


def loopback_address(address: str) -> str:
    """``[::]:0`` -> ``localhost:0``; any other address as it is."""
    match = _WILDCARD.match(address.strip())
    return f"localhost:{match.group(1)}" if match else address


def bind_grpc_servers_to_loopback() -> None:
    """Makes every gRPC server this process starts from now on listen on loopback only."""
    from transforms.compat import grpc_server_class

    server_class = grpc_server_class()
    if getattr(server_class, "_loopback_only", False):
        return
    insecure, secure = server_class.add_insecure_port, server_class.add_secure_port

    def add_insecure_port(self, address):
        return insecure(self, loopback_address(address))

    def add_secure_port(self, address, server_credentials):
        return secure(self, loopback_address(address), server_credentials)

    server_class.add_insecure_port = add_insecure_port
    server_class.add_secure_port = add_secure_port
    server_class._loopback_only = True
