"""The run config: YAML parsed once into frozen, typed objects.

Every error is one line that names the file and the dotted key. Values of the
form `${NAME}` are read from the environment, so secrets never live in the file,
and `redacted()` shows a config without them.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from transforms.kafka_read import TIMESTAMP_POLICIES
from transforms.sinks import SINK_TYPES
from transforms.tokenizers import PUNKT_MODES, TOKENIZERS
from transforms.windowing import WINDOW_TYPES

__all__ = [
    "ConfigError",
    "RunConfig",
    "SourceConfig",
    "load_config",
    "parse_duration",
    "RUNNERS",
]

RUNNERS = ("DirectRunner", "PrismRunner", "FlinkRunner", "DataflowRunner")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
# Client settings that hold secrets: sasl.password, ssl.key.password, sasl.oauthbearer.client.secret, ...
_SECRET_KEY = re.compile(r"password|secret|(^|[._])token($|[._])|credential|private|key\.pem|ssl\.key", re.I)


class ConfigError(ValueError):
    """A one-line error naming the config file and the key."""


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
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


class _Section:
    """Takes typed keys out of one mapping; leftover keys are errors."""

    def __init__(self, source: str, prefix: str, mapping: Any):
        self.source = source
        self.prefix = prefix
        if mapping is None:
            mapping = {}
        if not isinstance(mapping, Mapping):
            raise self.error("", f"expected a mapping, got {type(mapping).__name__}")
        self._mapping = dict(mapping)

    def error(self, key: str, message: str) -> ConfigError:
        dotted = ".".join(p for p in (self.prefix, key) if p)
        return ConfigError(f"{self.source}: {dotted or '(top level)'}: {message}")

    def take(self, key: str, kinds, default=None, choices=None):
        value = self._mapping.pop(key, default)
        if value is None:
            return None
        if kinds is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds) or (isinstance(value, bool) and kinds in (int, float)):
            names = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
            raise self.error(key, f"expected {names}, got {type(value).__name__} {value!r}")
        if choices is not None and value not in choices:
            raise self.error(key, f"must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value

    def duration(self, key: str, default=None) -> Optional[float]:
        value = self._mapping.pop(key, default)
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as e:
            raise self.error(key, str(e)) from None

    def section(self, key: str) -> "_Section":
        return _Section(self.source, ".".join(p for p in (self.prefix, key) if p), self._mapping.pop(key, None))

    def raw(self, key: str, default=None):
        return self._mapping.pop(key, default)

    def finish(self) -> None:
        if self._mapping:
            key = sorted(self._mapping)[0]
            raise self.error(key, "unknown key")


def _resolve_env(section: _Section, key: str, value: Any) -> Any:
    """Replaces a `${NAME}` string with the environment variable NAME."""
    if isinstance(value, str):
        match = _ENV_REFERENCE.match(value)
        if match:
            name = match.group(1)
            if name not in os.environ:
                raise section.error(key, f"environment variable {name} is not set")
            return os.environ[name]
    return value


def _client_config(section: _Section, key: str) -> dict:
    values = section.raw(key, {}) or {}
    if not isinstance(values, Mapping):
        raise section.error(key, f"expected a mapping, got {type(values).__name__}")
    return {str(k): _resolve_env(section, f"{key}.{k}", v) for k, v in values.items()}


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class SourceConfig:
    bootstrap_servers: str = "127.0.0.1:9092"
    topics: tuple = ("text-stream",)
    group_id: Optional[str] = "token-counts"
    start: str = "earliest"
    start_timestamp_ms: Optional[int] = None
    stop: StopConfig = StopConfig()
    timestamp: str = "create_time"
    max_out_of_orderness_s: float = 5.0
    consumer_config: Mapping = field(default_factory=dict, repr=False)
    commit_offsets: bool = True
    shards: Optional[int] = None  # None: one per worker process of the DirectRunner, else 1
    implementation: str = "python"


@dataclass(frozen=True)
class FormatConfig:
    type: str = "text"
    text_field: str = "text"
    encoding: str = "utf-8"


@dataclass(frozen=True)
class TokenizeConfig:
    tokenizer: str = "word"
    lowercase: bool = True
    drop_punctuation: bool = True
    language: str = "english"
    punkt: str = "auto"
    preserve_line: bool = False
    pattern: Optional[str] = None
    gaps: bool = False
    strip_handles: bool = False
    reduce_len: bool = False
    casefold: bool = False
    nfkc: bool = False
    drop_numbers: bool = False
    min_length: int = 1
    stopwords: Any = None  # None, an NLTK stopwords list name, "file:PATH" or a tuple of words
    stem: Optional[str] = None
    stem_language: Optional[str] = None  # None: language
    lemmatize: Optional[str] = None
    lemma_pos: str = "n"
    ngrams: int = 1
    nltk_data: str = "ship"
    nltk_data_path: tuple = ()

    def tokenizer_options(self) -> dict:
        """The keyword arguments of transforms.tokenizers.make_tokenizer."""
        return {"language": self.language, "punkt": self.punkt, "preserve_line": self.preserve_line,
                "pattern": self.pattern, "gaps": self.gaps, "strip_handles": self.strip_handles,
                "reduce_len": self.reduce_len}

    def transform_options(self) -> dict:
        """The keyword arguments of transforms.tokenize.TokenizeText after the tokenizer name."""
        return {**self.tokenizer_options(), "lowercase": self.lowercase, "casefold": self.casefold,
                "nfkc": self.nfkc, "drop_punctuation": self.drop_punctuation, "drop_numbers": self.drop_numbers,
                "min_length": self.min_length, "stopwords": self.stopwords, "stem": self.stem,
                "stem_language": self.stem_language, "lemmatize": self.lemmatize, "lemma_pos": self.lemma_pos,
                "ngrams": self.ngrams, "nltk_data": self.nltk_data, "nltk_data_path": self.nltk_data_path}


@dataclass(frozen=True)
class WindowConfig:
    type: str = "fixed"
    size_s: float = 60.0
    period_s: Optional[float] = None
    gap_s: Optional[float] = None
    offset_s: float = 0.0


@dataclass(frozen=True)
class TriggerConfig:
    allowed_lateness_s: float = 0.0
    accumulation: str = "discarding"
    early: Any = None  # seconds of processing time, or ("every_n", N)
    late: Any = None
    repeat: Any = None


@dataclass(frozen=True)
class CountConfig:
    top_k: int = 10
    emit_counts: bool = True
    by_key: bool = False


@dataclass(frozen=True)
class SinkConfig:
    type: str = "stdout"
    path: Optional[str] = None
    topic: Optional[str] = None
    producer_config: Mapping = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class RunConfig:
    path: str
    runner: str = "DirectRunner"
    options: Mapping = field(default_factory=dict)
    source: SourceConfig = SourceConfig()
    format: FormatConfig = FormatConfig()
    tokenize: TokenizeConfig = TokenizeConfig()
    window: WindowConfig = WindowConfig()
    trigger: TriggerConfig = TriggerConfig()
    count: CountConfig = CountConfig()
    sink: SinkConfig = SinkConfig()
    dead_letter: SinkConfig = SinkConfig(type="log")
    late_records: SinkConfig = SinkConfig(type="log")

    def redacted(self) -> dict:
        """The config as a dict with secret values replaced, safe to print."""
        def scrub(value, key=""):
            if isinstance(value, Mapping):
                return {k: scrub(v, str(k)) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [scrub(v) for v in value]
            return "***" if _SECRET_KEY.search(key) and value not in (None, "") else value
        return scrub(dataclasses.asdict(self))


def _parse_start(section: _Section) -> tuple[str, Optional[int]]:
    value = section.raw("start", "earliest")
    if isinstance(value, (datetime, date)):  # YAML reads an unquoted time or date as one
        value = value.isoformat()
    if not isinstance(value, str):
        raise section.error("start", f"expected earliest, latest, committed or an ISO-8601 time, got {value!r}")
    if value in ("earliest", "latest", "committed"):
        return value, None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise section.error("start", f"expected earliest, latest, committed or an ISO-8601 time, got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return "timestamp", int(moment.timestamp() * 1000)


def _parse_stop(section: _Section) -> StopConfig:
    value = section.raw("stop", None)
    if value is None:
        return StopConfig()
    if value == "latest":
        return StopConfig(latest=True)
    if not isinstance(value, Mapping):
        raise section.error("stop", f"expected null, latest, {{max_records: N}} or {{max_read_time: 30s}}, got {value!r}")
    stop = _Section(section.source, f"{section.prefix}.stop", value)
    max_records = stop.take("max_records", int)
    max_read_time_s = stop.duration("max_read_time")
    stop.finish()
    if max_records is not None and max_records < 1:
        raise stop.error("max_records", f"must be at least 1, got {max_records}")
    if max_records is None and max_read_time_s is None:
        raise section.error("stop", "give max_records or max_read_time")
    return StopConfig(max_records=max_records, max_read_time_s=max_read_time_s)


def _parse_source(section: _Section) -> SourceConfig:
    topics = section.raw("topics", ["text-stream"])
    if isinstance(topics, str):
        topics = [topics]
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) and t for t in topics):
        raise section.error("topics", f"expected a non-empty list of topic names, got {topics!r}")
    timestamp = section.take("timestamp", str, "create_time")
    is_field = timestamp.startswith("field:") and len(timestamp) > len("field:")
    if timestamp not in TIMESTAMP_POLICIES and not is_field:
        raise section.error("timestamp", f"must be one of {', '.join(TIMESTAMP_POLICIES)}, got {timestamp!r}")
    start, start_ms = _parse_start(section)
    source = SourceConfig(
        bootstrap_servers=str(_resolve_env(section, "bootstrap_servers",
                                           section.take("bootstrap_servers", str, "127.0.0.1:9092"))),
        topics=tuple(topics),
        group_id=section.take("group_id", str, "token-counts"),
        start=start,
        start_timestamp_ms=start_ms,
        stop=_parse_stop(section),
        timestamp=timestamp,
        max_out_of_orderness_s=section.duration("max_out_of_orderness", "5s"),
        consumer_config=_client_config(section, "consumer_config"),
        commit_offsets=section.take("commit_offsets", bool, True),
        shards=section.take("shards", int, None),
        implementation=section.take("implementation", str, "python", choices=("python",)),
    )
    section.finish()
    if source.start == "committed" and not source.group_id:
        raise section.error("start", "committed needs source.group_id")
    if source.shards is not None and source.shards < 1:
        raise section.error("shards", f"must be at least 1, got {source.shards}")
    return source


def _parse_format(section: _Section) -> FormatConfig:
    fmt = FormatConfig(
        type=section.take("type", str, "text", choices=("text", "json")),
        text_field=section.take("text_field", str, "text"),
        encoding=section.take("encoding", str, "utf-8"),
    )
    section.finish()
    try:
        "".encode(fmt.encoding)
    except LookupError:
        raise section.error("encoding", f"unknown encoding {fmt.encoding!r}") from None
    return fmt


def _parse_tokenize(section: _Section) -> TokenizeConfig:
    from transforms.nltk_resources import NLTK_DATA_MODES
    from transforms.normalize import LEMMA_POS, LEMMATIZERS, STEMMERS
    from transforms.tokenizers import validate_pattern

    tokenize = TokenizeConfig(
        tokenizer=section.take("tokenizer", str, "word", choices=TOKENIZERS),
        lowercase=section.take("lowercase", bool, True),
        drop_punctuation=section.take("drop_punctuation", bool, True),
        language=section.take("language", str, "english"),
        punkt=section.take("punkt", str, "auto", choices=PUNKT_MODES),
        preserve_line=section.take("preserve_line", bool, False),
        pattern=section.take("pattern", str),
        gaps=section.take("gaps", bool, False),
        strip_handles=section.take("strip_handles", bool, False),
        reduce_len=section.take("reduce_len", bool, False),
        casefold=section.take("casefold", bool, False),
        nfkc=section.take("nfkc", bool, False),
        drop_numbers=section.take("drop_numbers", bool, False),
        min_length=section.take("min_length", int, 1),
        stopwords=_tokenize_stopwords(section),
        stem=section.take("stem", str, choices=STEMMERS),
        stem_language=section.take("stem_language", str),
        lemmatize=section.take("lemmatize", str, choices=LEMMATIZERS),
        lemma_pos=section.take("lemma_pos", str, "n", choices=LEMMA_POS),
        ngrams=section.take("ngrams", int, 1),
        nltk_data=section.take("nltk_data", str, "ship", choices=NLTK_DATA_MODES),
        nltk_data_path=_tokenize_paths(section, "nltk_data_path"),
    )
    section.finish()
    _check_tokenize(section, tokenize, validate_pattern)
    return tokenize


def _tokenize_stopwords(section: _Section):
    value = section.raw("stopwords", None)
    if value is None or (isinstance(value, str) and value and not value.startswith("file:")):
        return value
    if isinstance(value, str):
        path = Path(value[len("file:"):]).expanduser()
        if not value or not path.is_file():
            raise section.error("stopwords", f"no such file: {str(path)!r}" if value else "must not be empty")
        return value
    if not isinstance(value, list) or not all(isinstance(word, str) and word for word in value):
        raise section.error("stopwords", f"expected an NLTK list name (english), file:PATH or a list of words, got {value!r}")
    return tuple(value)


def _tokenize_paths(section: _Section, key: str) -> tuple:
    value = section.raw(key, None)
    if value is None:
        return ()
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise section.error(key, f"expected a directory or a list of directories, got {value!r}")
    return tuple(paths)


_LANGUAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def _check_tokenize(section: _Section, tokenize: TokenizeConfig, validate_pattern) -> None:
    """Checks the combinations of tokenize keys."""
    from nltk.stem import SnowballStemmer

    only_for = {"pattern": ("regexp", tokenize.pattern), "gaps": ("regexp", tokenize.gaps),
                "strip_handles": ("tweet", tokenize.strip_handles), "reduce_len": ("tweet", tokenize.reduce_len),
                "preserve_line": ("word", tokenize.preserve_line)}
    for key, (tokenizer, value) in only_for.items():
        if value and tokenize.tokenizer != tokenizer:
            raise section.error(key, f"only the {tokenizer} tokenizer takes {key} (tokenizer is {tokenize.tokenizer})")
    if tokenize.tokenizer == "regexp":
        if not tokenize.pattern:
            raise section.error("pattern", "the regexp tokenizer needs a pattern")
        try:
            validate_pattern(tokenize.pattern)
        except ValueError as e:
            raise section.error("pattern", str(e)) from None
    if not _LANGUAGE_NAME.match(tokenize.language):
        raise section.error("language", f"expected a language name such as english, got {tokenize.language!r}")
    if tokenize.min_length < 1:
        raise section.error("min_length", f"must be at least 1, got {tokenize.min_length}")
    if not 1 <= tokenize.ngrams <= 10:
        raise section.error("ngrams", f"must be between 1 and 10, got {tokenize.ngrams}")
    if tokenize.stem and tokenize.lemmatize:
        raise section.error("lemmatize", "choose stem or lemmatize, not both")
    stem_language = tokenize.stem_language or tokenize.language
    if tokenize.stem == "snowball" and stem_language not in SnowballStemmer.languages:
        key = "stem_language" if tokenize.stem_language else "language"
        raise section.error(key, f"the snowball stemmer has no language {stem_language!r}; "
                                 f"choose one of {', '.join(SnowballStemmer.languages)}")


def _parse_window(section: _Section) -> WindowConfig:
    kind = section.take("type", str, "fixed", choices=WINDOW_TYPES)
    window = WindowConfig(
        type=kind,
        size_s=section.duration("size", "60s"),
        period_s=section.duration("period"),
        gap_s=section.duration("gap"),
        offset_s=section.duration("offset", 0),
    )
    section.finish()
    if kind in ("fixed", "sliding") and window.size_s <= 0:
        raise section.error("size", "must be greater than 0")
    if kind == "sliding":
        if not window.period_s:
            raise section.error("period", "a sliding window needs a period greater than 0")
        if window.period_s > window.size_s:
            raise section.error("period", f"must not exceed size ({window.size_s:g}s)")
    if kind == "session" and not window.gap_s:
        raise section.error("gap", "a session window needs a gap greater than 0")
    return window


def _parse_firing(section: _Section, key: str):
    value = section.raw(key, None)
    if value is None:
        return None
    if isinstance(value, Mapping):
        firing = _Section(section.source, f"{section.prefix}.{key}", value)
        every_n = firing.take("every_n", int)
        firing.finish()
        if every_n is None or every_n < 1:
            raise firing.error("every_n", "must be an integer of at least 1")
        return ("every_n", every_n)
    try:
        seconds = parse_duration(value)
    except ValueError as e:
        raise section.error(key, f"{e}, or {{every_n: N}}") from None
    if seconds <= 0:
        raise section.error(key, "must be greater than 0")
    return seconds


def _parse_trigger(section: _Section, window: WindowConfig) -> TriggerConfig:
    trigger = TriggerConfig(
        allowed_lateness_s=section.duration("allowed_lateness", 0),
        accumulation=section.take("accumulation", str, "discarding", choices=("discarding", "accumulating")),
        early=_parse_firing(section, "early"),
        late=_parse_firing(section, "late"),
        repeat=_parse_firing(section, "repeat"),
    )
    section.finish()
    if trigger.late is not None and trigger.allowed_lateness_s == 0:
        raise section.error("late", "late firings need trigger.allowed_lateness greater than 0")
    if window.type == "global":
        if trigger.repeat is None:
            raise section.error("repeat", "a global window never closes: give a repeated firing such as 10s or {every_n: 100}")
        if trigger.early is not None or trigger.late is not None:
            raise section.error("early" if trigger.early is not None else "late",
                                "a global window has no watermark firings: use trigger.repeat")
    elif trigger.repeat is not None:
        raise section.error("repeat", "only global windows take a repeated firing: use early / late")
    return trigger


def _parse_count(section: _Section) -> CountConfig:
    count = CountConfig(top_k=section.take("top_k", int, 10), emit_counts=section.take("emit_counts", bool, True),
                        by_key=section.take("by_key", bool, False))
    section.finish()
    if count.top_k < 1:
        raise section.error("top_k", f"must be at least 1, got {count.top_k}")
    return count


def _parse_sink(section: _Section, default_type: str) -> SinkConfig:
    sink = SinkConfig(
        type=section.take("type", str, default_type, choices=SINK_TYPES),
        path=section.take("path", str),
        topic=section.take("topic", str),
        producer_config=_client_config(section, "producer_config"),
    )
    section.finish()
    if sink.type == "jsonl" and not sink.path:
        raise section.error("path", "the jsonl sink needs a path")
    if sink.type == "kafka" and not sink.topic:
        raise section.error("topic", "the kafka sink needs a topic")
    return sink


def _merge(base: dict, override: Mapping) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path, seen: tuple = ()) -> dict:
    """Reads a config file, resolving `extends: other.yaml` (relative to the file)."""
    if path in seen:
        raise ConfigError(f"{path}: extends: circular ({' -> '.join(map(str, seen + (path,)))})")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of settings")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: extends: expected a file name, got {parent!r}")
    return _merge(_read_yaml((path.parent / parent).resolve(), seen + (path,)), data)


def _apply_override(data: dict, assignment: str, source: str) -> None:
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{source}: --set {assignment!r}: expected dotted.key=value")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: --set {key}: {part} is not a mapping")
        node = child
    node[parts[-1]] = value


def parse_config(data: Mapping, source: str) -> RunConfig:
    """Validates a config mapping; raises ConfigError naming `source` and the key."""
    top = _Section(source, "", data)
    runner = top.take("runner", str, "DirectRunner", choices=RUNNERS)
    options = top.raw("options", {}) or {}
    if not isinstance(options, Mapping):
        raise top.error("options", f"expected a mapping of Beam pipeline options, got {options!r}")
    options = {str(k): _resolve_env(top, f"options.{k}", v) for k, v in options.items()}
    window = _parse_window(top.section("window"))
    config = RunConfig(
        path=source,
        runner=runner,
        options=options,
        source=_parse_source(top.section("source")),
        format=_parse_format(top.section("format")),
        tokenize=_parse_tokenize(top.section("tokenize")),
        window=window,
        trigger=_parse_trigger(top.section("trigger"), window),
        count=_parse_count(top.section("count")),
        sink=_parse_sink(top.section("sink"), "stdout"),
        dead_letter=_parse_sink(top.section("dead_letter"), "log"),
        late_records=_parse_sink(top.section("late_records"), "log"),
    )
    top.finish()
    if config.source.timestamp.startswith("field:") and config.format.type != "json":
        raise top.error("source.timestamp", f"{config.source.timestamp} reads a JSON field: set format.type: json")
    return config


def load_config(path: str, overrides: tuple = ()) -> RunConfig:
    """Loads, merges (extends, --set) and validates a run config file."""
    file = Path(path)
    data = _read_yaml(file.resolve())
    for assignment in overrides:
        _apply_override(data, assignment, str(file))
    return parse_config(data, str(file))
