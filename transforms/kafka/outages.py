"""How the Kafka reader rides out outages: fatal or transient errors, confirmed end offsets.

A broker that is frozen, restarting or moving a leader makes the client fail
requests for a while; none of that may fail the job (docs/design.md, decision 8). The
reader retries and says so now and then. Only errors that waiting cannot fix
(authentication, authorization, a deleted topic) end the job, with one line.

While the broker cannot be asked, the reader cannot tell a quiet partition from
an unreachable one. So a quiet partition's watermark follows the wall clock only
up to the moment of the broker's last answer that showed it caught up: during an
outage it stands still, and records sent meanwhile are not late.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

__all__ = ["EndOffsets", "FatalKafkaError", "OutageLog", "is_fatal", "retry_transient"]

_LOG = logging.getLogger(__name__)

_FATAL_CODES = frozenset(
    getattr(KafkaError, name)
    for name in (
        "_AUTHENTICATION",
        "SASL_AUTHENTICATION_FAILED",
        "TOPIC_AUTHORIZATION_FAILED",
        "GROUP_AUTHORIZATION_FAILED",
        "CLUSTER_AUTHORIZATION_FAILED",
        "_INVALID_ARG",
    )
    if hasattr(KafkaError, name)
)
# Ask the broker for an end offset at most this often per partition, and wait this long.
_CONFIRM_EVERY_S = 1.0
_CONFIRM_TIMEOUT_S = 1.0


_T = TypeVar("_T")
_RETRY_PAUSE_S = 1.0


class FatalKafkaError(RuntimeError):
    """An error that waiting cannot fix: the job ends with this one line."""


def is_fatal(error: KafkaError) -> bool:
    return error.fatal() or error.code() in _FATAL_CODES


class OutageLog:
    """Warns about transient Kafka trouble once in a while, not once per poll."""

    def __init__(self, every_s: float = 30.0):
        self._every_s = every_s
        self._last = float("-inf")
        self._suppressed = 0

    def transient(self, what: str, error) -> None:
        now = time.monotonic()
        if now - self._last < self._every_s:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more since the last warning)" if self._suppressed else ""
        _LOG.warning("Kafka %s failed, retrying: %s%s", what, _describe(error), more)
        self._last, self._suppressed = now, 0


def retry_transient(call: Callable[[], _T], what: str, outages: "OutageLog", give_up_after_s: float = 600.0) -> _T:
    """Calls until it succeeds; transient Kafka errors are retried (and reported now and then)."""
    deadline = time.monotonic() + give_up_after_s
    while True:
        try:
            return call()
        except KafkaException as e:
            error = e.args[0] if e.args else None
            if isinstance(error, KafkaError) and is_fatal(error):
                raise FatalKafkaError(f"Kafka: {error.str()}") from None
            if time.monotonic() >= deadline:
                raise FatalKafkaError(f"Kafka: {what} kept failing for {give_up_after_s:g}s: {_describe(e)}") from None
            outages.transient(what, e)
            time.sleep(_RETRY_PAUSE_S)


def _describe(error) -> str:
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0], KafkaError):
        return error.args[0].str()
    if isinstance(error, KafkaError):
        return error.str()
    return str(error)


class EndOffsets:
    """The end offsets of a reader's partitions, as recently confirmed by the broker."""

    def __init__(self, outages: OutageLog, consumer: Consumer):
        self._outages = outages
        self._consumer = consumer  # one that does not fetch: a Fetch would hold up the answers
        # key -> (end offset, wall-clock seconds when it was asked for)
        self._confirmed: dict[tuple[str, int], tuple[int, float]] = {}
        self._asked: dict[tuple[str, int], float] = {}

    def refresh(self, keys) -> None:
        """Asks the broker for the end offsets not asked for lately; stops at the first failure."""
        for key in keys:
            asked_at = time.time()  # before the request: the answer holds at least from here
            if asked_at - self._asked.get(key, float("-inf")) < _CONFIRM_EVERY_S:
                continue
            self._asked[key] = asked_at
            try:
                _, high = self._consumer.get_watermark_offsets(
                    TopicPartition(*key), timeout=_CONFIRM_TIMEOUT_S, cached=False
                )
            except KafkaException as e:
                error = e.args[0] if e.args else None
                if isinstance(error, KafkaError) and is_fatal(error):
                    raise FatalKafkaError(f"Kafka: {error.str()}") from None
                self._outages.transient("asking for the end offset", e)
                return  # the broker is likely away: do not wait once per partition
            if high >= 0:
                self._confirmed[key] = (high, asked_at)

    def high(self, key) -> Optional[int]:
        """The last end offset the broker confirmed, or None."""
        return self._confirmed.get(key, (None, 0.0))[0]

    def caught_up_at(self, key, next_offset: int) -> Optional[float]:
        """When (wall-clock seconds) the broker last showed nothing after next_offset; None if it has not."""
        high, asked_at = self._confirmed.get(key, (None, 0.0))
        return asked_at if high is not None and next_offset >= high else None
