"""GroupLease: one run at a time commits to a consumer group.

The reader assigns its partitions itself, so the consumer group that offsets are
committed to has no members, and Kafka cannot tell that two runs use it: both
would read and count everything, and both would commit. So while a run commits to
group G, `run` keeps a member in a second group, `G.lease` (subscribed to the
source topics, every partition paused: it fetches nothing). A run that finds a
member there refuses to start with one line that names the other run.

A run killed with SIGKILL leaves its member behind until the broker's session
timeout (6 s here) expires it: a run on the same machine sees that the process
is gone and goes on at once; elsewhere the next run waits that long before it
decides.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from typing import Mapping, Optional, Sequence

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient

__all__ = ["GroupInUse", "GroupLease", "lease_group"]

_SESSION_TIMEOUT_MS = 6000
# How long a run waits for a member left by a killed run to expire before it refuses.
_EXPIRY_WAIT_S = _SESSION_TIMEOUT_MS / 1000 + 4
_ASK_TIMEOUT_S = 10.0
# The client id a run's member carries: the pid and host name say whether it still runs.
_HOLDER = re.compile(r"token-counts run pid (\d+) on (.+)")


def _died_here(client_id: str) -> bool:
    """Whether a holder is a run of this machine whose process is gone (killed): its member only lingers."""
    match = _HOLDER.fullmatch(client_id)
    if match is None or match.group(2) != socket.gethostname():
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


class GroupInUse(RuntimeError):
    """Another run holds the lease of the consumer group: the message is the one line to show."""


def lease_group(group_id: str) -> str:
    return f"{group_id}.lease"


def _client_settings(consumer_config: Mapping[str, object]) -> dict:
    """The user's connection settings (security, ...), without what only a reading consumer uses."""
    keep = {k: v for k, v in consumer_config.items() if not k.startswith(("group.", "auto.", "enable.", "fetch."))}
    return {**keep, "log_level": 0}


class GroupLease:
    """Held while a run commits to `group_id`; `acquire()` refuses when another run holds it."""

    def __init__(self, bootstrap_servers: str, group_id: str, topics: Sequence[str], consumer_config: Mapping = None):
        self._bootstrap = bootstrap_servers
        self._group = lease_group(group_id)
        self._group_id = group_id
        self._topics = list(topics)
        self._settings = {"bootstrap.servers": bootstrap_servers, **_client_settings(consumer_config or {})}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._me = f"token-counts run pid {os.getpid()} on {socket.gethostname()}"

    def holders(self) -> list[str]:
        """The other runs holding the lease now, as 'client (host)'."""
        admin = AdminClient(self._settings)
        try:
            description = admin.describe_consumer_groups([self._group], request_timeout=_ASK_TIMEOUT_S)[
                self._group
            ].result(timeout=_ASK_TIMEOUT_S)
        except KafkaException:
            return []  # the broker cannot say (or has no such group): the run's own checks follow
        return [
            f"{m.client_id} ({m.host.lstrip('/')})"
            for m in description.members
            if m.client_id != self._me and not _died_here(m.client_id)
        ]

    def acquire(self) -> None:
        """Refuses (GroupInUse) while another run holds the lease; then holds it until release()."""
        holders = self.holders()
        deadline = time.monotonic() + _EXPIRY_WAIT_S
        while holders and time.monotonic() < deadline:
            time.sleep(1.0)  # a killed run's member expires after the session timeout
            holders = self.holders()
        if holders:
            raise GroupInUse(
                f"consumer group {self._group_id!r} is in use by another run: {', '.join(holders)}; "
                "two runs on one group would both count every record. Stop the other run, "
                "or give this one another source.group_id"
            )
        self._thread = threading.Thread(target=self._hold, name="group-lease", daemon=True)
        self._thread.start()

    def _hold(self) -> None:
        consumer = Consumer(
            {
                **self._settings,
                "group.id": self._group,
                "client.id": self._me,
                "session.timeout.ms": _SESSION_TIMEOUT_MS,
                "heartbeat.interval.ms": 1000,
                "enable.auto.commit": False,
            }
        )
        try:
            consumer.subscribe(self._topics, on_assign=lambda c, partitions: c.pause(partitions))
            while not self._stop.is_set():
                consumer.poll(0.5)  # keeps the membership; every partition is paused
        except Exception:  # noqa: BLE001 - a lost lease must never fail the run it guards
            pass
        finally:
            consumer.close()  # leaves the group at once: the next run need not wait

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
