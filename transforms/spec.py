"""What a transform's spec is made of: a frozen, typed, validated dataclass on pydantic v2.

Each transform defines the one spec it takes (TokenizeSpec, Windows and Triggering,
CountSpec, SinkSpec, SourceSpec) with `@spec`: unknown keys are refused, scalars are
strict (`1` is no bool and `"5"` no number, as YAML tells them apart), and a field's
docstring is its description in the run config's JSON Schema. A field whose key in a
file differs from its attribute (`size` for `size_s`) has the key as its alias; both
are accepted when a spec is built in code, only the key when a file is validated.

A check that refuses a value raises ValueError with the message a user sees, or
SpecError when the message belongs to another key than the one being checked; the run
config turns either into its one-line `FILE: dotted.key: message` error.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Annotated, Any, Callable, Optional

from pydantic import (
    AfterValidator,
    ConfigDict,
    PlainValidator,
    Strict,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass

__all__ = [
    "Bool",
    "Duration",
    "Int",
    "Spec",
    "SpecError",
    "Str",
    "build",
    "first_problem",
    "int_range",
    "must",
    "named_choice",
    "one_of",
    "parse_duration",
    "plain",
    "spec",
    "strings",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class SpecError(ValueError):
    """A value is refused; `key` names the setting it belongs to, relative to the one being checked."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


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


def must(ok: Callable[[Any], bool], message: str) -> AfterValidator:
    """Refuses a value for which `ok` is false, with `message` ({v}: the value)."""

    def check(value):
        if not ok(value):
            raise ValueError(message.format(v=value))
        return value

    return AfterValidator(check)


def one_of(*choices: str):
    """A string that is one of `choices`."""
    return Annotated[
        str,
        Strict(),
        must(lambda v: v in choices, f"must be one of {', '.join(choices)}, got {{v!r}}"),
        WithJsonSchema({"type": "string", "enum": list(choices)}),
    ]


def named_choice(what: str, choices: tuple):
    """Like one_of, with a message that names what is chosen: "unknown tokenizer 'spacy'; choose one of ..."."""
    return Annotated[
        str,
        Strict(),
        must(lambda v: v in choices, f"unknown {what} {{v!r}}; choose one of {', '.join(choices)}"),
        WithJsonSchema({"type": "string", "enum": list(choices)}),
    ]


def int_range(low: int, high: Optional[int] = None):
    """An integer of at least `low` (and at most `high`)."""
    if high is None:
        return Annotated[
            int,
            Strict(),
            must(lambda v: v >= low, f"must be at least {low}, got {{v}}"),
            WithJsonSchema({"type": "integer", "minimum": low}),
        ]
    return Annotated[
        int,
        Strict(),
        must(lambda v: low <= v <= high, f"must be between {low} and {high}, got {{v}}"),
        WithJsonSchema({"type": "integer", "minimum": low, "maximum": high}),
    ]


def plain(check: Callable, schema_type: Any) -> PlainValidator:
    """A value of a file's own forms (`schema_type`), made into its runtime form by `check`.

    `check` takes its own output too: a spec derived with dataclasses.replace is validated again.
    """
    return PlainValidator(check, json_schema_input_type=schema_type)


def strings(value: Any, what: str) -> tuple:
    """A list of non-empty strings as a tuple, else ValueError: expected `what`."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"expected {what}, got {value!r}")
    return tuple(value)


_SPEC_CONFIG = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True, use_attribute_docstrings=True)


def spec(cls=None, **config):
    """Makes a class a frozen pydantic dataclass with the specs' settings (`config`: more of pydantic's)."""
    make = functools.partial(pydantic_dataclass, frozen=True, config={**_SPEC_CONFIG, **config})
    return make(cls) if cls is not None else make


@spec
class Spec:
    """The base of every spec."""

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: Any) -> Any:
        """`window:` with nothing after it is the spec with its defaults, as an empty mapping is."""
        return {} if data is None else data


_TYPE_NAMES = {"int_type": "int", "bool_type": "bool", "string_type": "str"}


def first_problem(error: ValidationError) -> tuple[str, str]:
    """The first of pydantic's errors as (dotted key, message); the key is '' for the whole value."""
    first = error.errors(include_url=False)[0]
    kind, value, cause = first["type"], first.get("input"), first.get("ctx", {}).get("error")
    # No list is validated item by item (topics and the like are checked whole), so every
    # part of `loc` is a key, numbers too (`window: {1: x}`).
    dotted = ".".join(str(part) for part in [*first["loc"], getattr(cause, "key", "")] if part != "")
    if isinstance(cause, ValueError):  # a check's own message, or Beam's or librdkafka's
        return dotted, str(cause)
    if kind in ("unexpected_keyword_argument", "extra_forbidden", "invalid_key"):
        return dotted, "unknown key"
    if kind in _TYPE_NAMES:
        got = "null" if value is None else f"{type(value).__name__} {value!r}"
        return dotted, f"expected {_TYPE_NAMES[kind]}, got {got}"
    if kind in ("dataclass_type", "dict_type"):
        return dotted, f"expected a mapping, got {type(value).__name__}"
    return dotted, first["msg"]


def build(cls, /, *args, **fields):
    """`cls(*args, **fields)` for a spec built in code: a refusal is a one-line ValueError.

    "top_k must be at least 1, got 0": the key leads a message that starts with must or expected.
    """
    try:
        return cls(*args, **fields)
    except ValidationError as e:
        key, message = first_problem(e)
        leads = key and message.startswith(("must", "expected", "unknown key"))
        raise ValueError(f"{key} {message}" if leads else message) from None
