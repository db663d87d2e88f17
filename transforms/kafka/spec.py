"""SourceSpec: the Kafka topics ReadFromKafka reads, from where to where, and their event time."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timezone
from typing import Annotated, Any, Literal, Mapping, Optional, Union

from pydantic import AfterValidator, Field, TypeAdapter, model_validator

from transforms.kafka.client_settings import client_settings
from transforms.spec import Bool, Duration, Spec, SpecError, Str, int_range, must, plain, spec, strings

__all__ = ["ReadStop", "SourceSpec", "TIMESTAMP_POLICIES", "TOPIC_NAME"]

TIMESTAMP_POLICIES = ("create_time", "log_append_time", "processing_time", "field:<name>")
TOPIC_NAME = r"^[A-Za-z0-9._-]{1,249}$"  # what Kafka accepts as a topic name


@dataclasses.dataclass(frozen=True)
class ReadStop:
    """When a read stops: never, at the latest offsets, after N records or a time (whichever comes first)."""

    latest: bool = False
    max_records: Optional[int] = None
    max_read_time_s: Optional[float] = None

    @property
    def bounded(self) -> bool:
        return self.latest or self.max_records is not None

    def __str__(self) -> str:
        parts = []
        if self.latest:
            parts.append("latest")
        if self.max_records is not None:
            parts.append(f"max_records {self.max_records}")
        if self.max_read_time_s is not None:
            parts.append(f"max_read_time {self.max_read_time_s:g}s")
        return ", ".join(parts) or "unbounded"


@spec
class StopAfter(Spec):
    """`source.stop` as a mapping: whichever comes first."""

    max_records: Optional[int_range(1)] = None
    """Records in total: those present first, then the rest spread over the partitions (a batch read)."""
    max_read_time: Optional[Duration] = None
    """A stream that drains after this long."""


_STOP_AFTER = TypeAdapter(StopAfter)


def _stop(value: Any) -> ReadStop:
    if isinstance(value, ReadStop):
        return value
    if value is None:
        return ReadStop()
    if value == "latest":
        return ReadStop(latest=True)
    if not isinstance(value, Mapping):
        raise ValueError(f"expected null, latest, {{max_records: N}} or {{max_read_time: 30s}}, got {value!r}")
    after = _STOP_AFTER.validate_python(value)  # its errors come out under source.stop
    if after.max_records is None and after.max_read_time is None:
        raise ValueError("give max_records or max_read_time")
    return ReadStop(max_records=after.max_records, max_read_time_s=after.max_read_time)


def _topics(value: Any) -> tuple:
    topics = strings([value] if isinstance(value, str) else value, "a non-empty list of topic names")
    if not topics:
        raise ValueError("expected a non-empty list of topic names, got []")
    for topic in topics:
        if not re.match(TOPIC_NAME, topic) or topic in (".", ".."):
            raise ValueError(f"{topic!r} is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)")
    return topics


def _bootstrap_servers(servers: str) -> str:
    """`host:port[,host:port...]`: librdkafka would take an empty list and wait forever for a broker."""
    if not servers.strip():
        raise ValueError("must not be empty: give host:port[,host:port...]")
    for server in servers.split(","):
        host, colon, port = server.strip().rpartition(":")
        if not server.strip() or any(c.isspace() for c in server.strip()):
            raise ValueError("expected host:port[,host:port...] without spaces or empty entries")
        if colon and not (port.isdigit() and 0 < int(port) < 65536) and not host.endswith(":"):
            raise ValueError(f"{server.strip()!r}: the port must be a number from 1 to 65535")
    return servers


def _start(value: Any) -> Union[str, datetime]:
    """earliest, latest, committed, or an ISO-8601 time as an aware datetime (UTC when it names no zone)."""
    if isinstance(value, date) and not isinstance(value, datetime):  # YAML reads an unquoted date as one
        value = value.isoformat()
    if value in ("earliest", "latest", "committed"):
        return value
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise ValueError(f"expected earliest, latest, committed or an ISO-8601 time, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _timestamp_policy(value: str) -> bool:
    return value in TIMESTAMP_POLICIES[:-1] or (value.startswith("field:") and value != "field:")


@spec
class SourceSpec(Spec):
    """The Kafka topics to read, from where to where, and the event time of their records."""

    bootstrap_servers: Annotated[Str, AfterValidator(_bootstrap_servers)] = "127.0.0.1:9092"
    """Kafka bootstrap servers, host:port[,host:port...]."""
    topics: Annotated[tuple, plain(_topics, Union[str, list[str]])] = ("text-stream",)
    """Topics to read; every partition of each."""
    group_id: Optional[Annotated[Str, must(bool, "must not be empty: give a name, or null for no consumer group")]] = (
        "token-counts"
    )
    """Consumer group: offsets are committed to it once the output is written; null: none."""
    start_at: Annotated[Union[str, datetime], plain(_start, str)] = Field("earliest", alias="start")
    """earliest, latest, committed (the group's offsets) or an ISO-8601 time."""
    stop: Annotated[ReadStop, plain(_stop, Optional[Union[Literal["latest"], StopAfter]])] = Field(
        ReadStop(), json_schema_extra={"default": None}
    )
    """null: unbounded (a stream); latest: the end offsets seen when the job starts (a batch read); or a mapping."""
    timestamp: Annotated[
        Str, must(_timestamp_policy, f"must be one of {', '.join(TIMESTAMP_POLICIES)}, got {{v!r}}")
    ] = Field(
        "create_time", json_schema_extra={"anyOf": [{"enum": list(TIMESTAMP_POLICIES[:-1])}, {"pattern": "^field:."}]}
    )
    """Event time: create_time, log_append_time, processing_time or field:<name> of a JSON payload."""
    max_out_of_orderness_s: Duration = Field(5.0, alias="max_out_of_orderness")
    """The watermark trails the largest event time seen by this much."""
    max_future_skew_s: Duration = Field(3600.0, alias="max_future_skew")
    """A record whose event time is further ahead of the wall clock is a dead letter."""
    consumer_config: Annotated[dict, plain(client_settings("consumer"), Optional[dict[str, Any]])] = Field(
        default_factory=dict, repr=False
    )
    """confluent-kafka consumer settings, passed as they are (checked by librdkafka)."""
    commit_offsets: Bool = True
    """Commit offsets to the group behind the written output."""
    shards: Optional[int_range(1)] = None
    """Reader elements the partitions are dealt into; null: 1, or one per worker process of the DirectRunner."""
    partition_discovery_s: Duration = Field(30.0, alias="partition_discovery")
    """How often an unbounded read looks for partitions added to its topics; 0: never."""

    @property
    def start(self) -> str:
        """earliest, latest, committed or timestamp (start_timestamp_ms)."""
        return "timestamp" if isinstance(self.start_at, datetime) else self.start_at

    @property
    def start_timestamp_ms(self) -> Optional[int]:
        return int(self.start_at.timestamp() * 1000) if isinstance(self.start_at, datetime) else None

    @property
    def commits(self) -> bool:
        """Whether offsets are committed: commit_offsets and a consumer group to commit them to."""
        return self.commit_offsets and bool(self.group_id)

    @model_validator(mode="after")
    def _check(self):
        if self.start == "committed" and not self.group_id:
            raise SpecError("start", "committed needs source.group_id")
        return self
