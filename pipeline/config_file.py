"""Reading a run-config file: YAML with limits, `extends`, `--set` overrides and `${NAME}` values.

What a run config holds, and its checks, are pipeline.config's; this module turns a file
(and the command line's overrides) into the plain mapping that pipeline.config validates.
Every problem is a one-line ConfigError naming the file and the key.

`${NAME}` inside any string is replaced by the environment variable NAME (`$${` writes a
literal `${`), so secrets never live in the file; every substituted value is remembered
(pipeline.secret_values) and never printed.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from pipeline import secret_values

__all__ = ["ConfigError", "read_config_data", "resolve_values", "substitute_env"]

# `$${` is a literal `${`; `${NAME}` an environment variable; any other `${` is a mistake.
_ENV_REFERENCE = re.compile(r"\$(\$\{)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")
# Limits that keep a hostile or mistaken file from exhausting the stack or the memory.
_MAX_DEPTH = 50  # mappings and lists nested this deep; the run configs use 4
_MAX_VALUES = 100_000  # values after YAML aliases are expanded; the run configs hold about 60


class ConfigError(ValueError):
    """A one-line error naming the config file and the key; values from the environment are redacted."""

    def __init__(self, message: str):
        super().__init__(secret_values.redact(" ".join(str(message).split())))


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


def resolve_values(data: Any, source: str) -> Any:
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


def read_config_data(path: str, overrides: tuple = ()) -> dict:
    """The mapping of a config file, `extends` merged and `--set` overrides applied, `${NAME}` not yet resolved."""
    file = Path(path)
    data = _read_yaml(file.resolve())
    for assignment in overrides:
        _apply_override(data, assignment, str(file))
    return data
