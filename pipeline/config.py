"""The run config: the runner, its Beam options and the specs of the job's transforms.

A run config composes the specs the transforms define (transforms.kafka.spec.SourceSpec,
transforms.decode.FormatSpec, transforms.text.spec.TokenizeSpec, transforms.windowing's
Windows and Triggering, transforms.counting.CountSpec, transforms.sinks.SinkSpec): each
section of a file is one spec, validated by the spec itself. This module adds what only a
whole job can check: keys that depend on each other across sections, the runner and
its Beam options, and what the machine that builds the job must have (NLTK data,
writable output files). pipeline.config_file reads the file.

Every error is one line, `FILE: dotted.key: message` (ConfigError), raised before any job
starts. Attributes keep the names the code reads (`window.size_s`); the keys of a file are
their aliases (`window.size`), and a file is validated by alias only, so `size_s` is no
key of a file. `RunConfig.model_json_schema()` is what `python -m pipeline schema` prints
and run_configs/run-config.schema.json holds.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Mapping, Optional

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError, ValidationInfo, model_validator
from pydantic.json_schema import SkipJsonSchema

from pipeline.config_file import ConfigError, read_config_data, resolve_values, substitute_env
from pipeline.preflight import check_beam_options, check_nltk_names
from transforms.counting import CountSpec
from transforms.decode import FormatSpec
from transforms.kafka.spec import ReadStop, SourceSpec
from transforms.sinks import LogSinkSpec, SinkSpec
from transforms.spec import Spec, SpecError, Str, first_problem, one_of, parse_duration, plain, spec
from transforms.text.spec import TokenizeSpec
from transforms.text.tokenizers import refuse_catastrophic_backtracking
from transforms.windowing import Triggering, Windows

__all__ = [
    "ConfigError",
    "ReadStop",
    "RunConfig",
    "load_config",
    "parse_config",
    "parse_duration",
    "substitute_env",
    "RUNNERS",
]

RUNNERS = ("DirectRunner", "PrismRunner", "FlinkRunner", "DataflowRunner")
# Client settings that hold secrets: sasl.password, ssl.key.password, sasl.oauthbearer.client.secret, ...
_SECRET_KEY = re.compile(r"password|secret|(^|[._])token($|[._])|credential|private|key\.pem|ssl\.key", re.I)


def _beam_options(values: Any, info: ValidationInfo) -> dict:
    """`options`: Beam pipeline options, checked by Beam's parser and validator for the runner."""
    options = values or {}
    if not isinstance(options, Mapping):
        raise ValueError(f"expected a mapping of Beam pipeline options, got {options!r}")
    options = {str(k): v for k, v in options.items()}
    if "runner" in info.data:  # else the runner is refused already
        check_beam_options(options, info.data["runner"])
    return options


def _tokenize_here(tokenize: TokenizeSpec) -> TokenizeSpec:
    """What the job's machine must have for `tokenize`, and a regexp pattern's worst case, before the job starts."""
    if tokenize.pattern:
        try:
            refuse_catastrophic_backtracking(tokenize.pattern)
        except ValueError as e:
            raise SpecError("pattern", str(e)) from None
    check_nltk_names(tokenize)
    return tokenize


@spec
class RunConfig(Spec):
    """A run config: the runner and every setting of the job (run_configs/*.yaml)."""

    path: SkipJsonSchema[Str]  # the file the config came from, not a key of it
    runner: one_of(*RUNNERS) = "DirectRunner"
    options: Annotated[dict, plain(_beam_options, Optional[dict[str, Any]])] = Field(default_factory=dict)
    """Beam pipeline options, passed through (streaming, flink_master, project, ...); checked by Beam."""
    source: SourceSpec = Field(default_factory=SourceSpec)
    format: FormatSpec = Field(default_factory=FormatSpec)
    tokenize: Annotated[TokenizeSpec, AfterValidator(_tokenize_here)] = Field(default_factory=TokenizeSpec)
    window: Windows = Field(default_factory=Windows)
    trigger: Triggering = Field(default_factory=Triggering)
    count: CountSpec = Field(default_factory=CountSpec)
    sink: SinkSpec = Field(default_factory=SinkSpec)
    """Where result rows go."""
    dead_letter: LogSinkSpec = Field(default_factory=LogSinkSpec)
    """Where dead letters go."""
    late_records: LogSinkSpec = Field(default_factory=LogSinkSpec)
    """Where late records go."""

    @model_validator(mode="after")
    def _check(self):
        _check_firings(self.window, self.trigger)
        if _local_files(self.runner, self.options):
            for key in ("sink", "dead_letter", "late_records"):
                if getattr(self, key).type == "jsonl":
                    _check_output_path(key, getattr(self, key).path)
        if self.source.timestamp.startswith("field:") and self.format.type != "json":
            raise SpecError("source.timestamp", f"{self.source.timestamp} reads a JSON field: set format.type: json")
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
# Checks across keys, and those that ask the file system.


def _check_firings(window: Windows, trigger: Triggering) -> None:
    """A global window closes only by a repeated firing; other windows fire by the watermark."""
    if window.type == "global":
        if trigger.repeat is None:
            raise SpecError(
                "trigger.repeat", "a global window never closes: give a repeated firing such as 10s or {every_n: 100}"
            )
        if trigger.early is not None or trigger.late is not None:
            raise SpecError(
                "trigger.early" if trigger.early is not None else "trigger.late",
                "a global window has no watermark firings: use trigger.repeat",
            )
    elif trigger.repeat is not None:
        raise SpecError("trigger.repeat", "only global windows take a repeated firing: use early / late")


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
        raise SpecError(key, f"{path} is a directory: give a file, such as {os.path.join(path, 'out.jsonl')}")
    if target.exists() and not os.access(target, os.W_OK):
        raise SpecError(key, f"{path} is not writable")
    directory = target.parent
    while not directory.exists():
        directory = directory.parent
    if not directory.is_dir():
        raise SpecError(key, f"{directory} is not a directory")
    try:  # a real write: access() says yes to root on a read-only file system
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as e:
        raise SpecError(key, f"cannot write in {directory}: {e.strerror}") from None


def parse_config(data: Mapping, source: str) -> RunConfig:
    """Validates a config mapping; raises ConfigError naming `source` and the key."""
    data = resolve_values(data, source)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: (top level): expected a mapping, got {type(data).__name__}")
    if "path" in data:  # the attribute that holds the file's name, not a key of the file
        raise ConfigError(f"{source}: path: unknown key")
    try:
        return _RUN_CONFIG.validate_python({**data, "path": source}, by_alias=True, by_name=False)
    except ValidationError as e:
        key, message = first_problem(e)
        raise ConfigError(f"{source}: {key or '(top level)'}: {message}") from None


def load_config(path: str, overrides: tuple = ()) -> RunConfig:
    """Loads, merges (extends, --set) and validates a run config file."""
    return parse_config(read_config_data(path, overrides), str(Path(path)))
