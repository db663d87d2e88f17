"""Kafka client settings checked by librdkafka itself, without connecting anywhere.

A consumer_config or producer_config is refused where it is read (the run config's
one-line error), not by a worker that builds the client after the job has started.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from confluent_kafka import KafkaException

from transforms.spec import SpecError

__all__ = ["check_client_settings", "client_settings"]

# librdkafka starts connecting to the bootstrap servers as soon as a client is built, so the
# check builds it without them: it then reads and checks every other setting and connects nowhere.
_CONNECTING_KEYS = ("bootstrap.servers", "metadata.broker.list")
_PROPERTY_IN_MESSAGE = re.compile(r'property:? "([^"]+)"|for "([^"]+)"|^`?([a-z][a-z0-9._]+)`? ')


class _DropLogs:
    """A logger for librdkafka that drops its lines (a missing CA file logs twice before the error says it)."""

    def log(self, *args, **kwargs) -> None:
        pass


def _build_client(kind: str, settings: Mapping[str, Any]) -> None:
    """Builds (and closes) a Consumer or Producer with `settings`; raises what librdkafka raises."""
    from confluent_kafka import Consumer, Producer

    settings = {key: value for key, value in settings.items() if key not in _CONNECTING_KEYS}
    settings["logger"] = _DropLogs()
    if kind == "consumer":
        # A consumer needs a group; an empty one aborts the process inside confluent-kafka (refused earlier).
        settings.setdefault("group.id", "validate")
        Consumer(settings).close()
    else:
        Producer(settings).flush(0)


def _client_error_text(error: Exception) -> str:
    if isinstance(error, KafkaException) and error.args and hasattr(error.args[0], "str"):
        text = error.args[0].str()
    else:
        text = str(error)
    return (
        " ".join(text.split()).removeprefix("Failed to create consumer: ").removeprefix("Failed to create producer: ")
    )


def _culprit(kind: str, settings: Mapping[str, Any], text: str) -> str:
    """The setting librdkafka refused: named in its message, else found by leaving settings out."""
    for match in _PROPERTY_IN_MESSAGE.finditer(text):
        name = next(group for group in match.groups() if group)
        if name in settings:
            return name
    # Aliases (acks is request.required.acks) and combinations (an SSL file under SSL)
    # name no key: the culprit is the last key without which the client builds.
    for key in reversed(list(settings)):
        try:
            _build_client(kind, {k: v for k, v in settings.items() if k != key})
        except (KafkaException, TypeError, ValueError):
            continue
        return key
    return ""


def check_client_settings(kind: str, settings: Mapping[str, Any]) -> None:
    """Has librdkafka check Kafka client settings (kind: consumer or producer) without connecting.

    Raises:
        SpecError: a value is not a scalar, or librdkafka refuses a setting
            (unknown property, bad value, a combination it cannot build).
    """
    for key, value in settings.items():
        if value is None or isinstance(value, (list, tuple, dict)) or not isinstance(value, (str, int, float)):
            shown = (
                "a list"
                if isinstance(value, (list, tuple))
                else "a mapping"
                if isinstance(value, dict)
                else ("null" if value is None else type(value).__name__)
            )
            hint = (
                ' (a key with dots is quoted in --set: source.consumer_config."client.id"=x)'
                if isinstance(value, dict)
                else ""
            )
            raise SpecError(key, f"expected a string, number or boolean, got {shown}{hint}")
    if kind == "consumer" and settings.get("group.id") == "":
        raise SpecError("group.id", "must not be empty")
    try:
        _build_client(kind, settings)
    except (KafkaException, TypeError, ValueError) as e:
        text = _client_error_text(e)
        raise SpecError(_culprit(kind, settings, text), f"refused by the Kafka client (librdkafka): {text}") from None


def client_settings(kind: str) -> Callable[[Any], dict]:
    """A spec field's check: a mapping of Kafka client settings (kind: consumer or producer), checked here."""

    def check(values: Any) -> dict:
        values = values or {}
        if not isinstance(values, Mapping):
            raise ValueError(f"expected a mapping, got {type(values).__name__}")
        settings = {str(k): v for k, v in values.items()}
        if settings:
            check_client_settings(kind, settings)  # SpecError names the setting
        return settings

    return check
