"""Sending text to a Kafka topic, paced, keyed and with event timestamps.

`produce_messages` does the sending for the `produce` command
(`pipeline/devtools/produce_command.py`), the tests and the benchmarks; `ensure_topic` creates
a topic that does not exist yet:

    delivered = produce_messages("127.0.0.1:9092", "text-stream",
                                 [ProducerRecord("hello world", key="key-0", timestamp_ms=ts)])
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import BinaryIO, NamedTuple, Self, TypeVar

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

__all__ = [
    "DEFAULT_BOOTSTRAP_SERVERS",
    "DEFAULT_PARTITIONS",
    "DEFAULT_TOPIC",
    "ProducerRecord",
    "ProduceInterrupted",
    "ProduceProgress",
    "ProducerError",
    "ensure_topic",
    "produce_messages",
    "split_records",
]

DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092"
DEFAULT_TOPIC = "text-stream"
DEFAULT_PARTITIONS = 3

_LOG = logging.getLogger(__name__)

# Library defaults under the caller's producer_config. Idempotence stops retries from
# duplicating or reordering messages, so a consumer counts exactly what was sent; the
# delivery timeout fails a dead broker in seconds instead of librdkafka's 5 minutes.
_DEFAULT_PRODUCER_CONFIG: dict[str, object] = {
    "enable.idempotence": True,
    "message.timeout.ms": 30_000,
}
_PROGRESS_INTERVAL_S = 5.0
# Longest single wait, so Ctrl-C and progress lines stay responsive at slow rates.
_WAIT_SLICE_S = 0.2
# A paced run that fell behind (slow stdin, a full queue) may catch up by at most this
# much; more would come out as a burst, which is not what --rate promises.
_MAX_LAG_S = 1.0
_Client = TypeVar("_Client")


class ProducerRecord(NamedTuple):
    """One record to send.

    Attributes:
        value: The payload; a str is sent UTF-8 encoded, bytes unchanged.
        key: The record key, or None for no key (the partitioner then spreads records).
        timestamp_ms: CreateTime in milliseconds since the epoch (> 0), or None for the
            time at which the producer sends it.
    """

    value: bytes | str
    key: bytes | str | None = None
    timestamp_ms: int | None = None


class ProduceProgress(NamedTuple):
    """A snapshot handed to the `progress` callback of `produce_messages`.

    Attributes:
        sent: Messages handed to the client so far.
        delivered: Messages the broker acknowledged so far.
        failed: Messages whose delivery failed so far.
        elapsed_s: Seconds since sending started.
        done: True for the last call, made after the final flush.
    """

    sent: int
    delivered: int
    failed: int
    elapsed_s: float
    done: bool


class ProducerError(Exception):
    """Kafka refused or failed the work; the message is one line fit for a user.

    Attributes:
        delivered: Messages acknowledged before the failure.
    """

    def __init__(self, message: str, delivered: int = 0) -> None:
        super().__init__(message)
        self.delivered = delivered


class ProduceInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped `produce_messages`; what was sent had been flushed first.

    It is a KeyboardInterrupt, so callers that do not care still stop as usual.

    Attributes:
        delivered: Messages acknowledged, all of them in the topic.
        undelivered: Messages given up on (a second Ctrl-C abandons the flush).
    """

    def __init__(self, delivered: int, undelivered: int) -> None:
        super().__init__(f"interrupted after {delivered} delivered messages")
        self.delivered = delivered
        self.undelivered = undelivered


def produce_messages(
    bootstrap_servers: str,
    topic: str,
    messages: Iterable[ProducerRecord],
    *,
    rate: float | None = None,
    producer_config: Mapping[str, object] | None = None,
    progress: Callable[[ProduceProgress], object] | None = None,
) -> int:
    """Sends messages to a topic, waits until all are delivered, returns how many were.

    Messages are pulled from `messages` lazily, one per send, so an endless iterator
    works and "now" timestamps are taken at send time. Ctrl-C (in the main thread)
    stops sending, flushes what is queued and raises ProduceInterrupted; a second
    Ctrl-C abandons the flush.

    Args:
        bootstrap_servers: Kafka bootstrap servers, "host:port[,host:port...]".
        topic: The topic to write to.
        messages: The records to send, in order.
        rate: Messages per second, paced steadily; None sends as fast as possible.
        producer_config: Extra confluent-kafka settings (SASL, TLS, linger.ms...).
            `bootstrap.servers`, `on_delivery` and `error_cb` are set by this function.
        progress: Called with a ProduceProgress every few seconds and once at the end.

    Returns:
        The number of messages the broker acknowledged (counted by delivery reports).

    Raises:
        ProducerError: A delivery failed, or the client config is invalid. Sending stops
            at the first failure; the message says how many failed and why.
        ProduceInterrupted: Ctrl-C.
        ValueError: `rate` is not positive, or a message timestamp is not positive.
    """
    if rate is not None and not rate > 0:
        raise ValueError(f"rate must be a positive number of messages per second, not {rate}")
    deliveries = _Deliveries()
    config = {
        **_DEFAULT_PRODUCER_CONFIG,
        **(producer_config or {}),
        "bootstrap.servers": bootstrap_servers,
        "on_delivery": deliveries.on_delivery,
        "error_cb": deliveries.on_error,
    }
    producer = _new_client(Producer, config)
    reporter = _Reporter(progress, deliveries)
    with _StopOnInterrupt() as stop:
        try:
            _send(producer, topic, messages, rate, deliveries, stop, reporter)
        except KeyboardInterrupt:
            stop.requests = max(stop.requests, 1)
        except KafkaException as exc:
            # produce() itself refused (message too large, fatal idempotence state...).
            deliveries.sent += 1
            deliveries.record_failure(exc.args[0])
        finally:
            _flush(producer, deliveries, stop)
            reporter.report(done=True)
    if stop.requests:
        raise ProduceInterrupted(deliveries.delivered, deliveries.sent - deliveries.delivered)
    error = deliveries.fatal or deliveries.first_error
    if error is not None:
        raise ProducerError(
            f"sending to topic {topic} failed: {_describe(error)} "
            f"({deliveries.delivered} delivered, {deliveries.sent - deliveries.delivered} not)",
            delivered=deliveries.delivered,
        )
    return deliveries.delivered


def ensure_topic(
    bootstrap_servers: str,
    topic: str,
    partitions: int = DEFAULT_PARTITIONS,
    *,
    client_config: Mapping[str, object] | None = None,
    topic_config: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
) -> tuple[bool, int]:
    """Creates `topic` with `partitions` partitions unless it exists; a new one has leaders when this returns.

    The project's one topic admin (the producer, the local stack and the tests use it).
    The replication factor is the broker's default, so this works on one node and on
    a cluster alike.

    Args:
        bootstrap_servers: Kafka bootstrap servers.
        topic: The topic name.
        partitions: The partition count for a new topic.
        client_config: Extra confluent-kafka settings (SASL, TLS...).
        topic_config: Topic-level settings of a new topic, e.g. ``{"retention.ms": "-1"}``.
        timeout_s: How long to wait for the broker, per request.

    Returns:
        (created, partition count): whether this call created the topic, and how many
        partitions the topic has.

    Raises:
        ProducerError: The broker cannot be reached, or the topic cannot be created.
    """
    errors: list[KafkaError] = []
    config = {**(client_config or {}), "bootstrap.servers": bootstrap_servers, "error_cb": errors.append}
    admin = _new_client(AdminClient, config)
    try:
        # All topics, not just this one: a metadata request naming a missing topic lets
        # a broker with auto.create.topics.enable create it with default partitions.
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        admin.poll(0)  # serves error_cb, whose reason ("Connection refused") is the useful one
        reason = _describe(errors[-1] if errors else exc.args[0])
        raise ProducerError(f"cannot reach Kafka at {bootstrap_servers} within {timeout_s:g}s: {reason}") from None
    existing = metadata.topics.get(topic)
    if existing is not None and existing.error is None:
        return False, len(existing.partitions)
    new_topic = NewTopic(topic, num_partitions=partitions, replication_factor=-1, config=dict(topic_config or {}))
    future = admin.create_topics([new_topic], request_timeout=timeout_s)[topic]
    try:
        future.result(timeout=timeout_s + 5)
    except KafkaException as exc:
        error = exc.args[0]
        if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:  # else another producer won a race
            raise ProducerError(f"cannot create topic {topic!r}: {_describe(error)}") from None
        topic_metadata = admin.list_topics(timeout=timeout_s).topics[topic]
        return False, len(topic_metadata.partitions)
    _wait_for_leaders(admin, topic, partitions, timeout_s)
    return True, partitions


def _wait_for_leaders(admin: AdminClient, topic: str, partitions: int, timeout_s: float) -> None:
    """A new topic's partitions get leaders a moment after creation; producing before that fails."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            found = admin.list_topics(topic=topic, timeout=5).topics.get(topic)
        except KafkaException:
            found = None
        if (
            found is not None
            and found.error is None
            and len(found.partitions) == partitions
            and all(p.leader >= 0 for p in found.partitions.values())
        ):
            return
        time.sleep(0.25)
    raise ProducerError(f"topic {topic!r} has no leader for every partition after {timeout_s:g}s")


def split_records(stream: BinaryIO, split: str = "line") -> Iterator[bytes]:
    """Splits a binary stream into message values, skipping blank ones.

    Bytes are not decoded, so a file with invalid UTF-8 reaches Kafka unchanged (which
    is how to exercise the pipeline's dead letters).

    Args:
        stream: A binary file object; it is read lazily, line by line.
        split: "line" for one message per non-blank line (without its line ending), or
            "paragraph" for one message per run of non-blank lines, joined with "\\n".

    Yields:
        The message values, in order.
    """
    if split not in ("line", "paragraph"):
        raise ValueError(f"split must be 'line' or 'paragraph', not {split!r}")
    paragraph: list[bytes] = []
    for raw in stream:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            if paragraph:
                yield b"\n".join(paragraph)
                paragraph = []
        elif split == "line":
            yield line
        else:
            paragraph.append(line)
    if paragraph:
        yield b"\n".join(paragraph)


# --- sending -------------------------------------------------------------------------


class _Deliveries:
    """Counts delivery reports and remembers the first failure."""

    def __init__(self) -> None:
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self.first_error: KafkaError | None = None
        self.fatal: KafkaError | None = None
        self._warned: set[str] = set()

    def on_delivery(self, error: KafkaError | None, _message: object) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.record_failure(error)

    def record_failure(self, error: KafkaError) -> None:
        self.failed += 1
        self.first_error = self.first_error or error

    def on_error(self, error: KafkaError) -> None:
        # Bad credentials never fix themselves, so stop rather than retry until timeout.
        if error.fatal() or error.code() == KafkaError._AUTHENTICATION:
            self.fatal = self.fatal or error
        elif error.str() not in self._warned:  # the client repeats transient errors
            self._warned.add(error.str())
            _LOG.warning("kafka: %s", error.str())

    @property
    def failing(self) -> bool:
        return self.first_error is not None or self.fatal is not None


class _StopOnInterrupt:
    """Turns Ctrl-C into a request to stop, so sending ends between two messages.

    A KeyboardInterrupt raised inside a delivery callback would lose that report and
    make the delivered count wrong; so the first Ctrl-C only sets a flag, except while
    the source is being read (a blocked stdin read must be interruptible). A second
    Ctrl-C raises, which abandons the flush. Installed only in the main thread and only
    over Python's default handler, so an application's own handler is left alone.
    """

    def __init__(self) -> None:
        self.requests = 0
        self.reading_source = False
        self._previous: object = None

    def __enter__(self) -> Self:
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, _signum: int, _frame: object) -> None:
        self.requests += 1
        if self.reading_source or self.requests > 1:
            raise KeyboardInterrupt


class _Reporter:
    """Calls the progress callback at most every few seconds, and once at the end."""

    def __init__(self, progress: Callable[[ProduceProgress], object] | None, deliveries: _Deliveries) -> None:
        self._progress = progress
        self._deliveries = deliveries
        self._start = time.monotonic()
        self._next = self._start + _PROGRESS_INTERVAL_S

    def maybe_report(self) -> None:
        if self._progress is not None and time.monotonic() >= self._next:
            self._next = time.monotonic() + _PROGRESS_INTERVAL_S
            self.report(done=False)

    def report(self, done: bool) -> None:
        if self._progress is not None:
            d = self._deliveries
            self._progress(ProduceProgress(d.sent, d.delivered, d.failed, time.monotonic() - self._start, done))


def _send(
    producer: Producer,
    topic: str,
    messages: Iterable[ProducerRecord],
    rate: float | None,
    deliveries: _Deliveries,
    stop: _StopOnInterrupt,
    reporter: _Reporter,
) -> None:
    """Produces messages until the source ends, a delivery fails or Ctrl-C."""
    source = iter(messages)
    interval = 1.0 / rate if rate else 0.0
    due = time.monotonic()
    while not stop.requests and not deliveries.failing:
        if interval:
            _wait_until(producer, due, stop, reporter)
            due = max(due + interval, time.monotonic() - _MAX_LAG_S)
            if stop.requests:
                break
        stop.reading_source = True
        try:
            message = next(source, None)
        except KeyboardInterrupt:
            break
        finally:
            stop.reading_source = False
        if message is None:
            break
        _produce(producer, topic, message)
        deliveries.sent += 1
        producer.poll(0)  # serves delivery reports as they arrive
        reporter.maybe_report()


def _wait_until(producer: Producer, due: float, stop: _StopOnInterrupt, reporter: _Reporter) -> None:
    """Sleeps until `due` inside poll(), which serves delivery reports meanwhile."""
    # poll() counts whole milliseconds, so a shorter wait would spin; sending up to 1 ms
    # early instead keeps the average rate (the schedule, not the clock, sets `due`).
    while not stop.requests and (remaining := due - time.monotonic()) >= 0.001:
        producer.poll(min(remaining, _WAIT_SLICE_S))
        reporter.maybe_report()


def _produce(producer: Producer, topic: str, message: ProducerRecord) -> None:
    """Hands one message to the client, waiting while its local queue is full."""
    value, key, timestamp_ms = message
    extra = {}
    if timestamp_ms is not None:
        # confluent-kafka reads a timestamp of 0 as "now", so 0 cannot mean 1970.
        if not isinstance(timestamp_ms, int) or timestamp_ms <= 0:
            raise ValueError(f"timestamp_ms must be a positive int (ms since the epoch), not {timestamp_ms!r}")
        extra["timestamp"] = timestamp_ms
    while True:
        try:
            producer.produce(topic, value=value, key=key, **extra)
            return
        except BufferError:
            producer.poll(_WAIT_SLICE_S)


def _flush(producer: Producer, deliveries: _Deliveries, stop: _StopOnInterrupt) -> None:
    """Waits for every queued message; a second Ctrl-C gives up on the rest."""
    try:
        # Short flushes rather than one long one, so a second Ctrl-C is seen at once.
        while producer.flush(_WAIT_SLICE_S) > 0:
            if stop.requests > 1:
                raise KeyboardInterrupt
            if deliveries.fatal is not None:
                # The queue would only time out; fail it now.
                producer.purge()
    except KeyboardInterrupt:
        stop.requests = max(stop.requests, 2)
        producer.purge()
        producer.flush(1.0)  # serves the purged messages' (failed) delivery reports


def _new_client(client_type: Callable[[dict], _Client], config: dict) -> _Client:
    """Creates a Kafka client; a config error becomes a ProducerError without values."""
    try:
        return client_type(config)
    except (KafkaException, ValueError, TypeError) as exc:
        message = _describe(exc.args[0]) if exc.args else str(exc)
        raise ProducerError(f"invalid Kafka client config: {_redact(message, config)}") from None


def _describe(error: object) -> str:
    """One line for a KafkaError, with a hint for the errors that puzzle people."""
    if not isinstance(error, KafkaError):
        return str(error)
    hint = ""
    if error.code() in (KafkaError.INVALID_TIMESTAMP, KafkaError.INVALID_RECORD):
        # Kafka 4 rejects a CreateTime over an hour ahead of its clock as an invalid record.
        hint = (
            " (is a timestamp too far from the broker's clock? see log.message.timestamp.before.max.ms / after.max.ms)"
        )
    elif error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
        hint = " (split the input into smaller messages, or raise message.max.bytes)"
    return f"{error.str()}{hint}"


def _redact(text: str, config: Mapping[str, object]) -> str:
    """Removes config values from a client error message: they may be secrets."""
    text = re.sub(r'Invalid value "[^"]*"', "Invalid value", text)
    for value in config.values():
        if isinstance(value, str) and len(value) >= 3:
            text = text.replace(value, "***")
    return text
