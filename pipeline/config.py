"""The run config: YAML parsed once into frozen, typed objects.

Every error is one line that names the file and the dotted key (ConfigError),
raised before any job starts. Values are checked by the parts that will use them
where that needs no network: Kafka client settings by librdkafka, Beam options by
Beam's parser and validator (see pipeline.preflight), NLTK names by NLTK.

`${NAME}` inside any string is replaced by the environment variable NAME (`$${`
writes a literal `${`), so secrets never live in the file; every substituted value
is remembered (pipeline.secret_values) and never printed, and `redacted()` shows
a config without them.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from pipeline import secret_values
from transforms.kafka.read import TIMESTAMP_POLICIES
from transforms.sinks import SINK_TYPES
from transforms.text.tokenizers import ENGINES, PUNKT_MODES, TOKENIZERS
from transforms.windowing import WINDOW_TYPES

__all__ = [
    "ConfigError",
    "RunConfig",
    "SourceConfig",
    "load_config",
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
            key = sorted(self._mapping, key=str)[0]  # YAML keys may be numbers too
            raise self.error(str(key), "unknown key")


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


def _resolve_values(data: Any, source: str) -> Any:
    """One walk over the whole config: substitutes `${NAME}` in every string, refuses NaN and infinity.

    Returns a copy, so YAML aliases become separate values; their number is
    bounded, so that a few lines of nested aliases cannot expand into billions.
    """
    budget = [_MAX_VALUES]

    def walk(value: Any, key: str) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise ConfigError(f"{source}: {key or '(top level)'}: more than {_MAX_VALUES} values "
                              "(YAML aliases nested in aliases?)")
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


def _client_config(section: _Section, key: str, kind: str) -> dict:
    """Kafka client settings (kind: consumer or producer), checked by librdkafka without connecting."""
    from pipeline.preflight import SettingError, check_client_settings

    values = section.raw(key, {}) or {}
    if not isinstance(values, Mapping):
        raise section.error(key, f"expected a mapping, got {type(values).__name__}")
    settings = {str(k): v for k, v in values.items()}
    try:
        check_client_settings(kind, settings)
    except SettingError as e:
        raise section.error(".".join(p for p in (key, e.key) if p), str(e)) from None
    return settings


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
    max_future_skew_s: float = 3600.0
    consumer_config: Mapping = field(default_factory=dict, repr=False)
    commit_offsets: bool = True
    shards: Optional[int] = None  # None: one per worker process of the DirectRunner, else 1
    partition_discovery_s: float = 30.0  # 0: off; unbounded reads only
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
    engine: str = "fast"  # fast: NLTK's fixed patterns on `re` where proven identical | guarded: stock NLTK
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
        """The keyword arguments of transforms.text.tokenizers.make_tokenizer."""
        return {"language": self.language, "punkt": self.punkt, "preserve_line": self.preserve_line,
                "pattern": self.pattern, "gaps": self.gaps, "strip_handles": self.strip_handles,
                "reduce_len": self.reduce_len, "engine": self.engine}

    def transform_options(self) -> dict:
        """The keyword arguments of transforms.text.tokenize.TokenizeText after the tokenizer name."""
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


def _bootstrap_servers(section: _Section) -> str:
    """`host:port[,host:port...]`: librdkafka would take an empty list and wait forever for a broker."""
    servers = section.take("bootstrap_servers", str, "127.0.0.1:9092")
    if not servers.strip():
        raise section.error("bootstrap_servers", "must not be empty: give host:port[,host:port...]")
    for server in servers.split(","):
        host, colon, port = server.strip().rpartition(":")
        if not server.strip() or any(c.isspace() for c in server.strip()):
            raise section.error("bootstrap_servers", "expected host:port[,host:port...] without spaces or empty entries")
        if colon and not (port.isdigit() and 0 < int(port) < 65536) and not host.endswith(":"):
            raise section.error("bootstrap_servers", f"{server.strip()!r}: the port must be a number from 1 to 65535")
    return servers


def _topics(section: _Section) -> tuple:
    topics = section.raw("topics", ["text-stream"])
    if isinstance(topics, str):
        topics = [topics]
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) and t for t in topics):
        raise section.error("topics", f"expected a non-empty list of topic names, got {topics!r}")
    for topic in topics:
        if not _TOPIC_NAME.match(topic) or topic in (".", ".."):
            raise section.error("topics", f"{topic!r} is not a Kafka topic name (letters, digits, '.', '_', '-'; "
                                          "at most 249)")
    return tuple(topics)


def _parse_source(section: _Section) -> SourceConfig:
    topics = _topics(section)
    timestamp = section.take("timestamp", str, "create_time")
    is_field = timestamp.startswith("field:") and len(timestamp) > len("field:")
    if timestamp not in TIMESTAMP_POLICIES and not is_field:
        raise section.error("timestamp", f"must be one of {', '.join(TIMESTAMP_POLICIES)}, got {timestamp!r}")
    start, start_ms = _parse_start(section)
    source = SourceConfig(
        bootstrap_servers=_bootstrap_servers(section),
        topics=topics,
        group_id=section.take("group_id", str, "token-counts"),
        start=start,
        start_timestamp_ms=start_ms,
        stop=_parse_stop(section),
        timestamp=timestamp,
        max_out_of_orderness_s=section.duration("max_out_of_orderness", "5s"),
        max_future_skew_s=section.duration("max_future_skew", "1h"),
        consumer_config=_client_config(section, "consumer_config", "consumer"),
        commit_offsets=section.take("commit_offsets", bool, True),
        shards=section.take("shards", int, None),
        partition_discovery_s=section.duration("partition_discovery", "30s"),
        implementation=section.take("implementation", str, "python", choices=("python",)),
    )
    section.finish()
    if source.group_id == "":
        raise section.error("group_id", "must not be empty: give a name, or null for no consumer group")
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
    from transforms.text.nltk_resources import NLTK_DATA_MODES
    from transforms.text.normalize import LEMMA_POS, LEMMATIZERS, STEMMERS
    from transforms.text.tokenizers import validate_pattern

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
        engine=section.take("engine", str, "fast", choices=ENGINES),
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


def _check_language(section: _Section, language: str) -> None:
    """The language must be one NLTK knows: a Snowball stemmer language or an installed Punkt model.

    Nothing is hard-coded: NLTK's Snowball stemmer lists its languages, and the
    Punkt models are those of the punkt_tab package installed where NLTK looks.
    """
    from nltk.stem import SnowballStemmer

    snowball = [name for name in SnowballStemmer.languages if name != "porter"]
    punkt = _installed_punkt_languages()
    if language in snowball or language in punkt:
        return
    installed = ", ".join(punkt) if punkt else (
        "none (python -m pipeline nltk-data download punkt_tab installs czech, greek, polish, ...)")
    raise section.error("language", f"NLTK knows no language {language!r}: NLTK's Snowball stemmer has "
                                    f"{', '.join(snowball)}; installed Punkt models: {installed}")


def _check_stopwords_name(section: _Section, name: str) -> None:
    """A stopwords list given by name must be in NLTK's installed stopwords corpus."""
    from transforms.text.nltk_resources import MissingNltkData, load_stopwords

    try:
        load_stopwords(name)
    except MissingNltkData as e:
        accepted = "accepted: an installed NLTK list name, file:PATH (one word per line) or a list of words [a, the]"
        if str(e).startswith("NLTK's stopwords corpus has no list"):
            installed = str(e).split("; it has ", 1)[-1]
            raise section.error("stopwords", f"no NLTK stopwords list {name!r}; installed lists: {installed}; "
                                             f"{accepted}") from None
        raise section.error("stopwords", f"{e}; {accepted}") from None


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
    with _nltk_search_path(tokenize.nltk_data_path):
        _check_language(section, tokenize.language)
        if isinstance(tokenize.stopwords, str) and not tokenize.stopwords.startswith("file:"):
            _check_stopwords_name(section, tokenize.stopwords)


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
        windows = math.ceil(window.size_s / window.period_s)
        if windows > MAX_WINDOWS_PER_ELEMENT:
            raise section.error("period", f"size {window.size_s:g}s / period {window.period_s:g}s puts each element "
                                          f"into {windows} windows; at most {MAX_WINDOWS_PER_ELEMENT} are allowed")
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


def _check_output_path(section: _Section, path: str) -> None:
    """A jsonl sink's file: not a directory, and writable (its missing directories are created)."""
    target = Path(os.path.abspath(path))
    if target.is_dir():
        raise section.error("path", f"{path} is a directory: give a file, such as {os.path.join(path, 'out.jsonl')}")
    if target.exists() and not os.access(target, os.W_OK):
        raise section.error("path", f"{path} is not writable")
    directory = target.parent
    while not directory.exists():
        directory = directory.parent
    if not directory.is_dir():
        raise section.error("path", f"{directory} is not a directory")
    try:  # a real write: access() says yes to root on a read-only file system
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as e:
        raise section.error("path", f"cannot write in {directory}: {e.strerror}") from None


def _parse_sink(section: _Section, default_type: str, local_files: bool) -> SinkConfig:
    """A sink; `local_files`: the job writes files on this machine, so a path can be checked here."""
    sink = SinkConfig(
        type=section.take("type", str, default_type, choices=SINK_TYPES),
        path=section.take("path", str),
        topic=section.take("topic", str),
        producer_config=_client_config(section, "producer_config", "producer"),
    )
    section.finish()
    if sink.type == "jsonl" and not sink.path:
        raise section.error("path", "the jsonl sink needs a path")
    if sink.type == "jsonl" and local_files:
        _check_output_path(section, sink.path)
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
            raise _KeyProblem(key if len(key) < 60 else key[:40] + "...", f"nested deeper than {_MAX_DEPTH} levels "
                                                                          f"at line {line}")
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
                raise _KeyProblem(self._dotted(key), f"duplicate key at line {key.start_mark.line + 1} (first at "
                                                     f"line {first_line[key.tag, key.value]}): remove one of them")
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
        raise ConfigError(f"{source}: {what}not valid YAML at line {line}: character {char} is not allowed "
                          "(control characters must be escaped in a double-quoted string)") from None
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
        raise ConfigError(f"{path}: (file): not UTF-8 text: byte 0x{data[e.start]:02x} at line {line} "
                          f"({e.reason}); save the file as UTF-8") from None


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


def _split_assignment(assignment: str, source: str) -> tuple[list, str]:
    """`a.b."c.d"=value` -> (["a", "b", "c.d"], "value").

    A part of the key in double quotes may hold dots (Kafka client settings:
    `source.consumer_config."client.id"=x`); the first `=` outside quotes ends the key.
    """
    parts, current, quoted, i = [], "", False, 0
    was_quoted = False
    while i < len(assignment):
        char = assignment[i]
        if char == '"':
            if not quoted and current:
                break  # a quote inside a part: malformed
            quoted, was_quoted = not quoted, True
        elif quoted:
            current += char
        elif char in ".=":
            if not current:
                break
            parts.append(current)
            current, was_quoted = "", False
            if char == "=":
                return parts, assignment[i + 1:]
        elif was_quoted:
            break  # text after a closing quote
        else:
            current += char
        i += 1
    raise ConfigError(f"{source}: --set {assignment!r}: expected dotted.key=value "
                      '(quote a part that holds dots: source.consumer_config."client.id"=x)')


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


def _local_files(runner: str, options: Mapping) -> bool:
    """Whether the job's sinks write files on this machine (so their paths can be checked here)."""
    if runner in ("DirectRunner", "PrismRunner"):
        return True
    master = str(options.get("flink_master", "[auto]"))
    return runner == "FlinkRunner" and (master in ("[local]", "[auto]") or master.startswith(("127.", "localhost")))


def _beam_options(top: _Section, runner: str) -> dict:
    """`options`: Beam pipeline options, checked by Beam's parser and validator for the runner."""
    from pipeline.preflight import SettingError, check_beam_options

    options = top.raw("options", {}) or {}
    if not isinstance(options, Mapping):
        raise top.error("options", f"expected a mapping of Beam pipeline options, got {options!r}")
    options = {str(k): v for k, v in options.items()}
    try:
        check_beam_options(options, runner)
    except SettingError as e:
        raise top.error(".".join(p for p in ("options", e.key) if p), str(e)) from None
    return options


def parse_config(data: Mapping, source: str) -> RunConfig:
    """Validates a config mapping; raises ConfigError naming `source` and the key."""
    top = _Section(source, "", _resolve_values(data, source))
    runner = top.take("runner", str, "DirectRunner", choices=RUNNERS)
    options = _beam_options(top, runner)
    window = _parse_window(top.section("window"))
    local_files = _local_files(runner, options)
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
        sink=_parse_sink(top.section("sink"), "stdout", local_files),
        dead_letter=_parse_sink(top.section("dead_letter"), "log", local_files),
        late_records=_parse_sink(top.section("late_records"), "log", local_files),
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
