"""The run config: a YAML file read once into frozen, typed objects, with a published JSON Schema.

Every error is one line that names the file and the dotted key (ConfigError),
raised before any job starts. Values are checked by the parts that will use them
where that needs no network: Kafka client settings by librdkafka, Beam options by
Beam's parser and validator (see pipeline.preflight), NLTK names by NLTK.

`${NAME}` inside any string is replaced by the environment variable NAME (`$${`
writes a literal `${`), so secrets never live in the file; every substituted value
is remembered (pipeline.secret_values) and never printed, and `redacted()` shows
a config without them.

The sections are pydantic dataclasses (extra keys forbidden, frozen). Attributes
keep the names the code reads (`window.size_s`); the keys of a file are their
aliases (`window.size`), and a file is validated by alias only, so `size_s` is no
key of a file. Dataclasses rather than BaseModels, so that `dataclasses.replace`
derives a config (`run --duration`); it validates again, so every validator takes
its own output. `RunConfig.model_json_schema()` is what `python -m pipeline schema`
prints and run_configs/run-config.schema.json holds.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import tempfile
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Mapping, Optional, Union

import yaml
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic.json_schema import SkipJsonSchema

from pipeline import secret_values
from pipeline.preflight import SettingError, check_beam_options, check_client_settings
from transforms.kafka.read import TIMESTAMP_POLICIES
from transforms.sinks import SINK_TYPES
from transforms.text.nltk_resources import NLTK_DATA_MODES
from transforms.text.normalize import LEMMA_POS, LEMMATIZERS, STEMMERS
from transforms.text.tokenizers import ENGINES, PUNKT_MODES, TOKENIZERS
from transforms.windowing import WINDOW_TYPES

__all__ = [
    "ConfigError",
    "RunConfig",
    "SourceConfig",
    "StopConfig",
    "load_config",
    "parse_config",
    "parse_duration",
    "substitute_env",
    "RUNNERS",
]

RUNNERS = ("DirectRunner", "PrismRunner", "FlinkRunner", "DataflowRunner")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
# `$${` is a literal `${`; `${NAME}` an environment variable; any other `${` is a mistake.
_ENV_REFERENCE = re.compile(r"\$(\$\{)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")
# Limits that keep a hostile or mistaken file from exhausting the stack or the memory.
_MAX_DEPTH = 50  # mappings and lists nested this deep; the run configs use 4
_MAX_VALUES = 100_000  # values after YAML aliases are expanded; the run configs hold about 60
# Windows one element may fall into (sliding size / period): each costs a copy of every token count.
MAX_WINDOWS_PER_ELEMENT = 1000
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")  # what Kafka accepts as a topic name
_LANGUAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
# Client settings that hold secrets: sasl.password, ssl.key.password, sasl.oauthbearer.client.secret, ...
_SECRET_KEY = re.compile(r"password|secret|(^|[._])token($|[._])|credential|private|key\.pem|ssl\.key", re.I)


class ConfigError(ValueError):
    """A one-line error naming the config file and the key; values from the environment are redacted."""

    def __init__(self, message: str):
        super().__init__(secret_values.redact(" ".join(str(message).split())))


def parse_duration(value: Any) -> float:
    """Seconds from `500ms`, `30s`, `5m`, `1h`, `1d` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"expected a duration like 500ms, 30s, 5m, 1h or 1d, got {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


def substitute_env(text: str, source: str, key: str) -> str:
    """`text` with each `${NAME}` replaced by the environment variable NAME (remembered as a secret)."""

    def replace(match: re.Match) -> str:
        if match.group(1):
            return "${"
        name = match.group(2)
        if name is None:
            raise ConfigError(f"{source}: {key}: '${{' starts no ${{NAME}} reference (write $${{ for a literal ${{)")
        if name not in os.environ:
            raise ConfigError(f"{source}: {key}: environment variable {name} is not set")
        secret_values.remember(name, os.environ[name])
        return os.environ[name]

    return _ENV_REFERENCE.sub(replace, text) if "$" in text else text


# ---------------------------------------------------------------------------------------------
# Value types. A check that refuses a value raises ValueError with the message of the one-line
# error, or SettingError when the message belongs to a key below the one being checked.

# Strict: YAML says what a value is; `1` is no bool and `"5"` no number, as the files always had it.
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Duration = Annotated[
    float,
    PlainValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": _DURATION.pattern}],
            "description": "a duration: 500ms, 30s, 5m, 1h, 1d or a number of seconds",
        }
    ),
]


def _must(ok: Callable[[Any], bool], message: str) -> AfterValidator:
    """Refuses a value for which `ok` is false, with `message` ({v}: the value)."""

    def check(value):
        if not ok(value):
            raise ValueError(message.format(v=value))
        return value

    return AfterValidator(check)


def _one_of(*choices: str):
    return Annotated[
        str,
        Strict(),
        _must(lambda v: v in choices, f"must be one of {', '.join(choices)}, got {{v!r}}"),
        WithJsonSchema({"type": "string", "enum": list(choices)}),
    ]


def _int_range(low: int, high: Optional[int] = None):
    if high is None:
        return Annotated[
            int,
            Strict(),
            _must(lambda v: v >= low, f"must be at least {low}, got {{v}}"),
            WithJsonSchema({"type": "integer", "minimum": low}),
        ]
    return Annotated[
        int,
        Strict(),
        _must(lambda v: low <= v <= high, f"must be between {low} and {high}, got {{v}}"),
        WithJsonSchema({"type": "integer", "minimum": low, "maximum": high}),
    ]


def _plain(check: Callable, schema_type: Any):
    """A value of the file's own forms, made into its runtime form by `check` (which takes that form too)."""
    return PlainValidator(check, json_schema_input_type=schema_type)


def _settings(kind: str):
    """A mapping of Kafka client settings (kind: consumer or producer), checked by librdkafka without connecting."""

    def check(values: Any) -> dict:
        values = values or {}
        if not isinstance(values, Mapping):
            raise ValueError(f"expected a mapping, got {type(values).__name__}")
        settings = {str(k): v for k, v in values.items()}
        check_client_settings(kind, settings)  # SettingError names the setting
        return settings

    return Annotated[dict, _plain(check, Optional[dict[str, Any]])]


def _beam_options(values: Any, info: ValidationInfo) -> dict:
    """`options`: Beam pipeline options, checked by Beam's parser and validator for the runner."""
    options = values or {}
    if not isinstance(options, Mapping):
        raise ValueError(f"expected a mapping of Beam pipeline options, got {options!r}")
    options = {str(k): v for k, v in options.items()}
    if "runner" in info.data:  # else the runner is refused already
        check_beam_options(options, info.data["runner"])
    return options


def _strings(value: Any, what: str, original: Any = None) -> tuple:
    """A list of non-empty strings as a tuple, else ValueError: expected `what`."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"expected {what}, got {value if original is None else original!r}")
    return tuple(value)


def _topics(value: Any) -> tuple:
    topics = _strings([value] if isinstance(value, str) else value, "a non-empty list of topic names")
    if not topics:
        raise ValueError("expected a non-empty list of topic names, got []")
    for topic in topics:
        if not _TOPIC_NAME.match(topic) or topic in (".", ".."):
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


def _known_encoding(name: str) -> bool:
    try:
        return "".encode(name) == b""
    except LookupError:
        return False


def _stopwords(value: Any):
    """None, an NLTK list name (NLTK is asked later), `file:PATH` of an existing file, or a list of words."""
    if value is None or (isinstance(value, str) and value and not value.startswith("file:")):
        return value
    if isinstance(value, str):
        path = Path(value[len("file:") :]).expanduser()
        if not value or not path.is_file():
            raise ValueError(f"no such file: {str(path)!r}" if value else "must not be empty")
        return value
    return _strings(value, "an NLTK list name (english), file:PATH or a list of words", value)


def _directories(value: Any) -> tuple:
    if value is None:
        return ()
    return _strings([value] if isinstance(value, str) else value, "a directory or a list of directories", value)


# ---------------------------------------------------------------------------------------------
# The sections of a run config. A field's docstring is its description in the JSON Schema.

_SECTION = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True, use_attribute_docstrings=True)
section = functools.partial(pydantic_dataclass, frozen=True, config=_SECTION)


@section
class _Section:
    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: Any) -> Any:
        """`window:` with nothing after it is the section with its defaults, as an empty mapping is."""
        return {} if data is None else data


@dataclasses.dataclass(frozen=True)
class StopConfig:
    """When a read stops: never (None), at the latest offsets, after N records or a time."""

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


@section
class StopAfter(_Section):
    """`source.stop` as a mapping: whichever comes first."""

    max_records: Optional[_int_range(1)] = None
    """Records in total: those present first, then the rest spread over the partitions (a batch read)."""
    max_read_time: Optional[Duration] = None
    """A stream that drains after this long."""


_STOP_AFTER = TypeAdapter(StopAfter)


def _stop(value: Any) -> StopConfig:
    if isinstance(value, StopConfig):
        return value
    if value is None:
        return StopConfig()
    if value == "latest":
        return StopConfig(latest=True)
    if not isinstance(value, Mapping):
        raise ValueError(f"expected null, latest, {{max_records: N}} or {{max_read_time: 30s}}, got {value!r}")
    after = _STOP_AFTER.validate_python(value)  # its errors come out under source.stop
    if after.max_records is None and after.max_read_time is None:
        raise ValueError("give max_records or max_read_time")
    return StopConfig(max_records=after.max_records, max_read_time_s=after.max_read_time)


@section
class SourceConfig(_Section):
    """The Kafka topics to read, from where to where, and the event time of their records."""

    bootstrap_servers: Annotated[Str, AfterValidator(_bootstrap_servers)] = "127.0.0.1:9092"
    """Kafka bootstrap servers, host:port[,host:port...]."""
    topics: Annotated[tuple, _plain(_topics, Union[str, list[str]])] = ("text-stream",)
    """Topics to read; every partition of each."""
    group_id: Optional[Annotated[Str, _must(bool, "must not be empty: give a name, or null for no consumer group")]] = (
        "token-counts"
    )
    """Consumer group: offsets are committed to it once the output is written; null: none."""
    start_at: Annotated[Union[str, datetime], _plain(_start, str)] = Field("earliest", alias="start")
    """earliest, latest, committed (the group's offsets) or an ISO-8601 time."""
    stop: Annotated[StopConfig, _plain(_stop, Optional[Union[Literal["latest"], StopAfter]])] = Field(
        StopConfig(), json_schema_extra={"default": None}
    )
    """null: unbounded (a stream); latest: the end offsets seen when the job starts (a batch read); or a mapping."""
    timestamp: Annotated[
        Str,
        _must(
            lambda v: v in TIMESTAMP_POLICIES or (v.startswith("field:") and v != "field:"),
            f"must be one of {', '.join(TIMESTAMP_POLICIES)}, got {{v!r}}",
        ),
    ] = Field(
        "create_time", json_schema_extra={"anyOf": [{"enum": list(TIMESTAMP_POLICIES[:-1])}, {"pattern": "^field:."}]}
    )
    """Event time: create_time, log_append_time, processing_time or field:<name> of a JSON payload."""
    max_out_of_orderness_s: Duration = Field(5.0, alias="max_out_of_orderness")
    """The watermark trails the largest event time seen by this much."""
    max_future_skew_s: Duration = Field(3600.0, alias="max_future_skew")
    """A record whose event time is further ahead of the wall clock is a dead letter."""
    consumer_config: _settings("consumer") = Field(default_factory=dict, repr=False)
    """confluent-kafka consumer settings, passed as they are (checked by librdkafka)."""
    commit_offsets: Bool = True
    """Commit offsets to the group behind the written output."""
    shards: Optional[_int_range(1)] = None
    """Reader elements the partitions are dealt into; null: 1, or one per worker process of the DirectRunner."""
    partition_discovery_s: Duration = Field(30.0, alias="partition_discovery")
    """How often an unbounded read looks for partitions added to its topics; 0: never."""
    implementation: _one_of("python") = "python"

    @property
    def start(self) -> str:
        """earliest, latest, committed or timestamp (start_timestamp_ms)."""
        return "timestamp" if isinstance(self.start_at, datetime) else self.start_at

    @property
    def start_timestamp_ms(self) -> Optional[int]:
        return int(self.start_at.timestamp() * 1000) if isinstance(self.start_at, datetime) else None

    @model_validator(mode="after")
    def _check(self):
        if self.start == "committed" and not self.group_id:
            raise SettingError("start", "committed needs source.group_id")
        return self


@section
class FormatConfig(_Section):
    """How the value of a record becomes text."""

    type: _one_of("text", "json") = "text"
    """text: the value is the text; json: an object that holds the text in text_field."""
    text_field: Str = "text"
    encoding: Annotated[Str, _must(_known_encoding, "unknown encoding {v!r}")] = "utf-8"


@section
class TokenizeConfig(_Section):
    """The NLTK tokenizer and the normalisation of its tokens: transforms.text.tokenize.TokenizeText's parameters."""

    tokenizer: _one_of(*TOKENIZERS) = "word"
    """Gives exactly what the NLTK function of that name gives (word: nltk.word_tokenize)."""
    lowercase: Bool = True
    drop_punctuation: Bool = True
    """Drop tokens made only of punctuation."""
    language: Str = Field("english", json_schema_extra={"pattern": _LANGUAGE_NAME.pattern})
    """The Punkt model and the default stem_language: a Snowball language or an installed Punkt model."""
    punkt: _one_of(*PUNKT_MODES) = "auto"
    """word and sentences: installed (punkt_tab), untrained (no data), auto (installed when present)."""
    preserve_line: Bool = False
    """word only: no sentence splitting."""
    pattern: Optional[Str] = None
    """regexp only, required: what a token looks like (NLTK's regex engine, under its ReDoS guard)."""
    gaps: Bool = False
    """regexp only: the pattern matches the gaps between tokens."""
    strip_handles: Bool = False
    """tweet only: drop @handles."""
    reduce_len: Bool = False
    """tweet only: shorten runs of a character repeated more than 3 times to 3."""
    engine: _one_of(*ENGINES) = "fast"
    """fast: NLTK's fixed patterns on `re` where proven identical; guarded: stock NLTK."""
    max_chars: _int_range(1) = 20_000
    """The CPU budget of one message: a longer message is a dead letter (message too long to tokenize)."""
    casefold: Bool = False
    """Full Unicode case folding instead of lowercase."""
    nfkc: Bool = False
    """Unicode NFKC of each token."""
    drop_numbers: Bool = False
    """Drop tokens made only of digits and punctuation."""
    min_length: _int_range(1) = 1
    """Drop tokens shorter than this many characters."""
    stopwords: Annotated[Any, _plain(_stopwords, Optional[Union[str, list[str]]])] = None
    """Drop these words: an NLTK stopwords list name, file:PATH (one word per line) or a list of words."""
    stem: Optional[_one_of(*STEMMERS)] = None
    stem_language: Optional[Str] = None
    """The snowball stemmer's language; null: language."""
    lemmatize: Optional[_one_of(*LEMMATIZERS)] = None
    """wordnet: NLTK's WordNetLemmatizer; not together with stem."""
    lemma_pos: _one_of(*LEMMA_POS) = "n"
    ngrams: _int_range(1, 10) = 1
    """2 counts bigrams, 3 trigrams, ...: joined by a space."""
    nltk_data: _one_of(*NLTK_DATA_MODES) = "ship"
    """ship: NLTK data is read where the job is built and travels inside it; workers: each worker reads its own."""
    nltk_data_path: Annotated[tuple, _plain(_directories, Optional[Union[str, list[str]]])] = ()
    """Directories (one or a list) NLTK searches first."""

    def transform_options(self) -> dict:
        """The keyword arguments of transforms.text.tokenize.TokenizeText after the tokenizer name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "tokenizer"}

    @model_validator(mode="after")
    def _check(self):
        _check_tokenize(self)
        return self


@section
class WindowConfig(_Section):
    """How tokens are grouped in event time: fixed(size), sliding(size, period), session(gap), global."""

    type: _one_of(*WINDOW_TYPES) = "fixed"
    size_s: Duration = Field(60.0, alias="size")
    """Window length (fixed, sliding)."""
    period_s: Optional[Duration] = Field(None, alias="period")
    """How often a sliding window starts: at most size, at least size / 1000."""
    gap_s: Optional[Duration] = Field(None, alias="gap")
    """The inactivity gap that closes a session."""
    offset_s: Duration = Field(0.0, alias="offset")
    """Shifts fixed and sliding window boundaries."""

    @model_validator(mode="after")
    def _check(self):
        if self.type in ("fixed", "sliding") and self.size_s <= 0:
            raise SettingError("size", "must be greater than 0")
        if self.type == "sliding":
            if not self.period_s:
                raise SettingError("period", "a sliding window needs a period greater than 0")
            if self.period_s > self.size_s:
                raise SettingError("period", f"must not exceed size ({self.size_s:g}s)")
            windows = math.ceil(self.size_s / self.period_s)
            if windows > MAX_WINDOWS_PER_ELEMENT:
                raise SettingError(
                    "period",
                    f"size {self.size_s:g}s / period {self.period_s:g}s puts each element "
                    f"into {windows} windows; at most {MAX_WINDOWS_PER_ELEMENT} are allowed",
                )
        if self.type == "session" and not self.gap_s:
            raise SettingError("gap", "a session window needs a gap greater than 0")
        return self


@pydantic_dataclass(frozen=True, config={**_SECTION, "json_schema_extra": {"required": ["every_n"]}})
class EveryN(_Section):
    """A firing after every N elements."""

    every_n: Annotated[Optional[Int], WithJsonSchema({"type": "integer", "minimum": 1})] = None

    @model_validator(mode="after")
    def _check(self):
        if self.every_n is None or self.every_n < 1:
            raise SettingError("every_n", "must be an integer of at least 1")
        return self


_EVERY_N = TypeAdapter(EveryN)


def _firing(value: Any) -> Union[float, tuple]:
    """Seconds of processing time from a duration, or ("every_n", N) from {every_n: N}."""
    if isinstance(value, tuple):
        return value
    if isinstance(value, Mapping):
        return ("every_n", _EVERY_N.validate_python(value).every_n)
    try:
        seconds = parse_duration(value)
    except ValueError as e:
        raise ValueError(f"{e}, or {{every_n: N}}") from None
    if seconds <= 0:
        raise ValueError("must be greater than 0")
    return seconds


Firing = Annotated[Union[float, tuple], _plain(_firing, Union[Duration, EveryN])]


@section
class TriggerConfig(_Section):
    """When panes fire, how late records may come, and what a pane holds."""

    allowed_lateness_s: Duration = Field(0.0, alias="allowed_lateness")
    """How long after the watermark passes a window's end late records still count."""
    accumulation: _one_of("discarding", "accumulating") = "discarding"
    """discarding: a pane holds what arrived since the last one; accumulating: everything so far."""
    early: Optional[Firing] = None
    """Early firings: a processing-time delay after the pane's first record (5s) or {every_n: N}."""
    late: Optional[Firing] = None
    """Late firings, same forms; needs allowed_lateness > 0."""
    repeat: Optional[Firing] = None
    """global windows only, required there: the repeated firing."""

    @model_validator(mode="after")
    def _check(self):
        if self.late is not None and self.allowed_lateness_s == 0:
            raise SettingError("late", "late firings need trigger.allowed_lateness greater than 0")
        return self


@section
class CountConfig(_Section):
    """What each pane counts."""

    top_k: _int_range(1) = 10
    """Tokens in each top row (ties broken by token)."""
    emit_counts: Bool = True
    """One count row per token per pane."""
    by_key: Bool = False
    """Also key_count rows: token counts per Kafka message key."""
    fanout: _int_range(1) = 1
    """Merge each window's counts on this many keys first, on as many workers (Beam's hot-key fanout); fixed and sliding windows with the default trigger only, else 1."""


@section
class SinkConfig(_Section):
    """Where rows go: stdout, log, a JSON-lines file or a Kafka topic."""

    # Descriptions as Field arguments: LogSinkConfig inherits them (docstrings are read per class).
    type: _one_of(*SINK_TYPES) = "stdout"
    path: Optional[Str] = Field(None, description="jsonl: the file; its directory must be writable.")
    topic: Optional[Str] = Field(None, description="kafka: the topic.")
    producer_config: _settings("producer") = Field(
        default_factory=dict,
        repr=False,
        description="kafka: confluent-kafka producer settings (checked by librdkafka).",
    )

    @model_validator(mode="after")
    def _check(self):
        if self.type == "jsonl" and not self.path:
            raise SettingError("path", "the jsonl sink needs a path")
        if self.type == "kafka" and not self.topic:
            raise SettingError("topic", "the kafka sink needs a topic")
        return self


@section
class LogSinkConfig(SinkConfig):
    """Where dead letters or late records go: the log unless said otherwise."""

    type: _one_of(*SINK_TYPES) = "log"


@section
class RunConfig(_Section):
    """A run config: the runner and every setting of the job (run_configs/*.yaml)."""

    path: SkipJsonSchema[Str]  # the file the config came from, not a key of it
    runner: _one_of(*RUNNERS) = "DirectRunner"
    options: Annotated[dict, _plain(_beam_options, Optional[dict[str, Any]])] = Field(default_factory=dict)
    """Beam pipeline options, passed through (streaming, flink_master, project, ...); checked by Beam."""
    source: SourceConfig = Field(default_factory=SourceConfig)
    format: FormatConfig = Field(default_factory=FormatConfig)
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig)
    window: WindowConfig = Field(default_factory=WindowConfig)
    trigger: TriggerConfig = Field(default_factory=TriggerConfig)
    count: CountConfig = Field(default_factory=CountConfig)
    sink: SinkConfig = Field(default_factory=SinkConfig)
    """Where result rows go."""
    dead_letter: LogSinkConfig = Field(default_factory=LogSinkConfig)
    """Where dead letters go."""
    late_records: LogSinkConfig = Field(default_factory=LogSinkConfig)
    """Where late records go."""

    @model_validator(mode="after")
    def _check(self):
        _check_firings(self.window, self.trigger)
        if _local_files(self.runner, self.options):
            for key in ("sink", "dead_letter", "late_records"):
                if getattr(self, key).type == "jsonl":
                    _check_output_path(key, getattr(self, key).path)
        if self.source.timestamp.startswith("field:") and self.format.type != "json":
            raise SettingError("source.timestamp", f"{self.source.timestamp} reads a JSON field: set format.type: json")
        return self

    def redacted(self) -> dict:
        """The config as a dict with secret values replaced, safe to print."""

        def scrub(value, key=""):
            if isinstance(value, Mapping):
                return {k: scrub(v, str(k)) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [scrub(v) for v in value]
            return "***" if _SECRET_KEY.search(key) and value not in (None, "") else value

        return scrub(dataclasses.asdict(self))

    @classmethod
    def model_json_schema(cls) -> dict:
        """The JSON Schema of a run-config file (`python -m pipeline schema`): the keys, and `extends`."""
        schema = TypeAdapter(cls).json_schema()
        schema["properties"] = {
            "extends": {
                "type": "string",
                "title": "Extends",
                "description": ("A run-config file, relative to this one, whose settings this file overrides."),
            },
            **schema["properties"],
        }
        return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


_RUN_CONFIG = TypeAdapter(RunConfig)


# ---------------------------------------------------------------------------------------------
# Checks across keys, and those that ask NLTK or the file system.


def _check_firings(window: WindowConfig, trigger: TriggerConfig) -> None:
    """A global window closes only by a repeated firing; other windows fire by the watermark."""
    if window.type == "global":
        if trigger.repeat is None:
            raise SettingError(
                "trigger.repeat", "a global window never closes: give a repeated firing such as 10s or {every_n: 100}"
            )
        if trigger.early is not None or trigger.late is not None:
            raise SettingError(
                "trigger.early" if trigger.early is not None else "trigger.late",
                "a global window has no watermark firings: use trigger.repeat",
            )
    elif trigger.repeat is not None:
        raise SettingError("trigger.repeat", "only global windows take a repeated firing: use early / late")


def _local_files(runner: str, options: Mapping) -> bool:
    """Whether the job's sinks write files on this machine (so their paths can be checked here)."""
    if runner in ("DirectRunner", "PrismRunner"):
        return True
    master = str(options.get("flink_master", "[auto]"))
    return runner == "FlinkRunner" and (master in ("[local]", "[auto]") or master.startswith(("127.", "localhost")))


def _check_output_path(sink: str, path: str) -> None:
    """A jsonl sink's file: not a directory, and writable (its missing directories are created)."""
    key = f"{sink}.path"
    target = Path(os.path.abspath(path))
    if target.is_dir():
        raise SettingError(key, f"{path} is a directory: give a file, such as {os.path.join(path, 'out.jsonl')}")
    if target.exists() and not os.access(target, os.W_OK):
        raise SettingError(key, f"{path} is not writable")
    directory = target.parent
    while not directory.exists():
        directory = directory.parent
    if not directory.is_dir():
        raise SettingError(key, f"{directory} is not a directory")
    try:  # a real write: access() says yes to root on a read-only file system
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as e:
        raise SettingError(key, f"cannot write in {directory}: {e.strerror}") from None


@contextmanager
def _nltk_search_path(dirs: tuple):
    """NLTK's search path with `tokenize.nltk_data_path` in front, as the job will have it; restored after."""
    import nltk

    saved = list(nltk.data.path)
    nltk.data.path[:0] = [os.path.abspath(os.path.expanduser(d)) for d in dirs]
    try:
        yield
    finally:
        nltk.data.path[:] = saved


def _installed_punkt_languages() -> list:
    """The languages of the punkt_tab models installed where NLTK looks (none when punkt_tab is missing)."""
    import nltk

    languages = set()
    for root in nltk.data.path:
        models = Path(root) / "tokenizers" / "punkt_tab"
        if models.is_dir():
            languages.update(entry.name for entry in models.iterdir() if entry.is_dir())
    return sorted(languages)


def _check_language(language: str) -> None:
    """The language must be one NLTK knows: a Snowball stemmer language or an installed Punkt model.

    Nothing is hard-coded: NLTK's Snowball stemmer lists its languages, and the
    Punkt models are those of the punkt_tab package installed where NLTK looks.
    """
    from nltk.stem import SnowballStemmer

    snowball = [name for name in SnowballStemmer.languages if name != "porter"]
    punkt = _installed_punkt_languages()
    if language in snowball or language in punkt:
        return
    installed = (
        ", ".join(punkt)
        if punkt
        else ("none (python -m pipeline nltk-data download punkt_tab installs czech, greek, polish, ...)")
    )
    raise SettingError(
        "language",
        f"NLTK knows no language {language!r}: NLTK's Snowball stemmer has "
        f"{', '.join(snowball)}; installed Punkt models: {installed}",
    )


def _check_stopwords_name(name: str) -> None:
    """A stopwords list given by name must be in NLTK's installed stopwords corpus."""
    from transforms.text.nltk_resources import MissingNltkData, load_stopwords

    try:
        load_stopwords(name)
    except MissingNltkData as e:
        accepted = "accepted: an installed NLTK list name, file:PATH (one word per line) or a list of words [a, the]"
        if str(e).startswith("NLTK's stopwords corpus has no list"):
            installed = str(e).split("; it has ", 1)[-1]
            raise SettingError(
                "stopwords", f"no NLTK stopwords list {name!r}; installed lists: {installed}; {accepted}"
            ) from None
        raise SettingError("stopwords", f"{e}; {accepted}") from None


def _check_tokenize(tokenize: TokenizeConfig) -> None:
    """The combinations of tokenize keys, and the names that NLTK must know."""
    from nltk.stem import SnowballStemmer

    from transforms.text.tokenizers import refuse_catastrophic_backtracking, validate_pattern

    only_for = {
        "pattern": ("regexp", tokenize.pattern),
        "gaps": ("regexp", tokenize.gaps),
        "strip_handles": ("tweet", tokenize.strip_handles),
        "reduce_len": ("tweet", tokenize.reduce_len),
        "preserve_line": ("word", tokenize.preserve_line),
    }
    for key, (tokenizer, value) in only_for.items():
        if value and tokenize.tokenizer != tokenizer:
            raise SettingError(key, f"only the {tokenizer} tokenizer takes {key} (tokenizer is {tokenize.tokenizer})")
    if tokenize.tokenizer == "regexp":
        if not tokenize.pattern:
            raise SettingError("pattern", "the regexp tokenizer needs a pattern")
        try:
            validate_pattern(tokenize.pattern)
            refuse_catastrophic_backtracking(tokenize.pattern)
        except ValueError as e:
            raise SettingError("pattern", str(e)) from None
    if not _LANGUAGE_NAME.match(tokenize.language):
        raise SettingError("language", f"expected a language name such as english, got {tokenize.language!r}")
    if tokenize.stem and tokenize.lemmatize:
        raise SettingError("lemmatize", "choose stem or lemmatize, not both")
    stem_language = tokenize.stem_language or tokenize.language
    if tokenize.stem == "snowball" and stem_language not in SnowballStemmer.languages:
        key = "stem_language" if tokenize.stem_language else "language"
        raise SettingError(
            key,
            f"the snowball stemmer has no language {stem_language!r}; "
            f"choose one of {', '.join(SnowballStemmer.languages)}",
        )
    with _nltk_search_path(tokenize.nltk_data_path):
        _check_language(tokenize.language)
        if isinstance(tokenize.stopwords, str) and not tokenize.stopwords.startswith("file:"):
            _check_stopwords_name(tokenize.stopwords)


# ---------------------------------------------------------------------------------------------
# pydantic's errors as the one-line errors of the contract.

_TYPE_NAMES = {"int_type": "int", "bool_type": "bool", "string_type": "str"}


def _config_error(error: ValidationError, source: str) -> ConfigError:
    """The first of pydantic's errors as `FILE: dotted.key: message`."""
    first = error.errors(include_url=False)[0]
    kind, value, cause = first["type"], first.get("input"), first.get("ctx", {}).get("error")
    # No list is validated by pydantic here (topics and the like are checked whole), so every
    # part of `loc` is a key, numbers too (`window: {1: x}`).
    dotted = ".".join(str(part) for part in [*first["loc"], getattr(cause, "key", "")] if part != "")
    if isinstance(cause, ValueError):  # our own checks', Beam's or librdkafka's message
        message = str(cause)
    elif kind in ("unexpected_keyword_argument", "extra_forbidden", "invalid_key"):
        message = "unknown key"
    elif kind in _TYPE_NAMES:
        message = f"expected {_TYPE_NAMES[kind]}, got " + (
            "null" if value is None else f"{type(value).__name__} {value!r}"
        )
    elif kind in ("dataclass_type", "dict_type"):
        message = f"expected a mapping, got {type(value).__name__}"
    else:
        message = first["msg"]
    return ConfigError(f"{source}: {dotted or '(top level)'}: {message}")


def parse_config(data: Mapping, source: str) -> RunConfig:
    """Validates a config mapping; raises ConfigError naming `source` and the key."""
    data = _resolve_values(data, source)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: (top level): expected a mapping, got {type(data).__name__}")
    if "path" in data:  # the attribute that holds the file's name, not a key of the file
        raise ConfigError(f"{source}: path: unknown key")
    try:
        return _RUN_CONFIG.validate_python({**data, "path": source}, by_alias=True, by_name=False)
    except ValidationError as e:
        raise _config_error(e, source) from None


# ---------------------------------------------------------------------------------------------
# Reading a file: YAML with limits, `extends`, `--set` overrides, `${NAME}` values.


def _resolve_values(data: Any, source: str) -> Any:
    """One walk over the whole config: substitutes `${NAME}` in every string, refuses NaN and infinity.

    Returns a copy, so YAML aliases become separate values; their number is
    bounded, so that a few lines of nested aliases cannot expand into billions.
    """
    budget = [_MAX_VALUES]

    def walk(value: Any, key: str) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise ConfigError(
                f"{source}: {key or '(top level)'}: more than {_MAX_VALUES} values (YAML aliases nested in aliases?)"
            )
        if isinstance(value, Mapping):
            return {k: walk(v, ".".join(p for p in (key, str(k)) if p)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{source}: {key}: expected a finite number, got {value}")
        if isinstance(value, str):
            return substitute_env(value, source, key)
        return value

    return walk(data, "")


def _merge(base: dict, override: Mapping) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class _KeyProblem(yaml.YAMLError):
    """A YAML document that parses but is refused at a key (duplicate, nested too deep)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


class _ConfigLoader(yaml.SafeLoader):
    """yaml.safe_load's loader (same types, same tags) that refuses duplicate keys and deep nesting.

    Plain YAML keeps the last of two equal keys without a word, and PyYAML builds
    nested values recursively, so a 5000-deep file would end in a RecursionError.
    Both are checked while the document is composed, where the path of keys is known.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._path: list = []  # the key nodes (or list indexes) above the node being composed

    def _dotted(self, extra=None) -> str:
        parts = ""
        for index in self._path + ([extra] if extra is not None else []):
            if isinstance(index, int):
                parts += f"[{index}]"
            elif isinstance(index, yaml.ScalarNode):
                parts += ("." if parts else "") + index.value
        return parts or "(top level)"

    def compose_node(self, parent, index):
        if len(self._path) >= _MAX_DEPTH:
            line = self.peek_event().start_mark.line + 1
            key = self._dotted()
            raise _KeyProblem(
                key if len(key) < 60 else key[:40] + "...", f"nested deeper than {_MAX_DEPTH} levels at line {line}"
            )
        self._path.append(index)
        try:
            return super().compose_node(parent, index)
        finally:
            self._path.pop()

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        first_line = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` merges keys that the mapping's own keys may override
            if (key.tag, key.value) in first_line:
                raise _KeyProblem(
                    self._dotted(key),
                    f"duplicate key at line {key.start_mark.line + 1} (first at "
                    f"line {first_line[key.tag, key.value]}): remove one of them",
                )
            first_line[key.tag, key.value] = key.start_mark.line + 1
        return node


_NOT_YAML = object()


def _load_yaml(text: str, source: str, what: str = "", not_yaml: Any = _NOT_YAML) -> Any:
    """Parses YAML with _ConfigLoader; every error is a one-line ConfigError.

    `not_yaml`: returned instead of the error when the text is no YAML at all.
    """
    loader = None
    try:
        loader = _ConfigLoader(text)  # its reader refuses control characters here already
        return loader.get_single_data()
    except _KeyProblem as e:
        raise ConfigError(f"{source}: {what}{e.key}: {e.message}") from None
    except yaml.reader.ReaderError as e:
        if not_yaml is not _NOT_YAML:
            return not_yaml
        line = text.count("\n", 0, e.position) + 1
        char = f"#x{e.character:04x}" if isinstance(e.character, int) else repr(e.character)
        raise ConfigError(
            f"{source}: {what}not valid YAML at line {line}: character {char} is not allowed "
            "(control characters must be escaped in a double-quoted string)"
        ) from None
    except yaml.YAMLError as e:
        if not_yaml is not _NOT_YAML:
            return not_yaml
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{source}: {what}not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _read_text(path: Path) -> str:
    """The file's text: UTF-8 (a byte-order mark is allowed), else a one-line error."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file: {e.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"{path}: (file): not UTF-8 text: byte 0x{data[e.start]:02x} at line {line} "
            f"({e.reason}); save the file as UTF-8"
        ) from None


def _read_yaml(path: Path, seen: tuple = ()) -> dict:
    """Reads a config file, resolving `extends: other.yaml` (relative to the file)."""
    if path in seen:
        raise ConfigError(f"{path}: extends: circular ({' -> '.join(map(str, seen + (path,)))})")
    data = _load_yaml(_read_text(path), str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of settings")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends: expected a file name, got {parent!r}")
    base = (path.parent / parent).resolve()
    if not base.is_file():
        raise ConfigError(f"{path}: extends: {base} is not a file")
    return _merge(_read_yaml(base, seen + (path,)), data)


# A --set key: dotted parts, a part in double quotes may hold dots (`source.consumer_config."client.id"`);
# the first `=` outside quotes ends the key.
_ASSIGNMENT = re.compile(r'((?:"[^"]+"|[^."=]+)(?:\.(?:"[^"]+"|[^."=]+))*)=(.*)', re.S)


def _split_assignment(assignment: str, source: str) -> tuple[list, str]:
    """`a.b."c.d"=value` -> (["a", "b", "c.d"], "value")."""
    match = _ASSIGNMENT.fullmatch(assignment)
    if not match:
        raise ConfigError(
            f"{source}: --set {assignment!r}: expected dotted.key=value "
            '(quote a part that holds dots: source.consumer_config."client.id"=x)'
        )
    return [quoted or plain for quoted, plain in re.findall(r'"([^"]+)"|([^."]+)', match.group(1))], match.group(2)


def _apply_override(data: dict, assignment: str, source: str) -> None:
    parts, text = _split_assignment(assignment, source)
    key = ".".join(parts)
    # A value that is not YAML is taken as the text it is.
    value = _load_yaml(text, source, f"--set {key}: ", not_yaml=text) if text.strip() else None
    node = data
    for part in [p.strip() for p in parts[:-1]]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: --set {key}: {part} is not a mapping")
        node = child
    node[parts[-1].strip()] = value


def load_config(path: str, overrides: tuple = ()) -> RunConfig:
    """Loads, merges (extends, --set) and validates a run config file."""
    file = Path(path)
    data = _read_yaml(file.resolve())
    for assignment in overrides:
        _apply_override(data, assignment, str(file))
    return parse_config(data, str(file))
