"""Checks made before a job starts, so that a bad setting, a missing broker or topic is one line, not a worker traceback.

Two kinds of check live here. `check_kafka_source` talks to the broker (`run`
only). The others need no network and run while the config is loaded
(`validate` and `run`): Kafka client settings are checked by librdkafka itself,
Beam pipeline options by Beam's own option parser and validator. Each raises
SettingError naming the setting, which the config layer turns into a
ConfigError naming the file and the dotted key.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from typing import Any, Mapping

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

__all__ = ["SettingError", "check_beam_options", "check_client_settings", "check_kafka_source"]

_TIMEOUT_S = 10.0


class SettingError(ValueError):
    """A setting is refused; `key` names it within its mapping ('' for the mapping as a whole)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def check_kafka_source(config) -> None:
    """Raises ConfigError when the broker cannot be reached or a topic does not exist."""
    from pipeline.config import ConfigError

    source = config.source
    # log_level 0: the client would print every failed reconnect; the error below says it once.
    admin = AdminClient({"bootstrap.servers": source.bootstrap_servers, **source.consumer_config, "log_level": 0})
    try:
        topics = admin.list_topics(timeout=_TIMEOUT_S).topics
    except KafkaException as e:
        hint = (
            " (start one with: python -m pipeline stack up)"
            if source.bootstrap_servers.startswith(("127.0.0.1", "localhost"))
            else ""
        )
        raise ConfigError(
            f"{config.path}: source.bootstrap_servers: cannot reach Kafka at "
            f"{source.bootstrap_servers}: {e.args[0].str()}{hint}"
        ) from None
    missing = [topic for topic in source.topics if topic not in topics]
    if missing:
        raise ConfigError(
            f"{config.path}: source.topics: no such topic on {source.bootstrap_servers}: {', '.join(missing)}"
        )


# --- Kafka client settings -------------------------------------------------------------------

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
        SettingError: a value is not a scalar, or librdkafka refuses a setting
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
            raise SettingError(key, f"expected a string, number or boolean, got {shown}{hint}")
    if kind == "consumer" and settings.get("group.id") == "":
        raise SettingError("group.id", "must not be empty")
    try:
        _build_client(kind, settings)
    except (KafkaException, TypeError, ValueError) as e:
        text = _client_error_text(e)
        raise SettingError(
            _culprit(kind, settings, text), f"refused by the Kafka client (librdkafka): {text}"
        ) from None


# --- Beam pipeline options -------------------------------------------------------------------

# Options of Beam's Java Flink runner (FlinkPipelineOptions) that Beam Python does not declare:
# the Python SDK passes them through to the Flink job server, which reads them.
FLINK_JOB_SERVER_OPTIONS = frozenset(
    """
    allow_non_restored_state auto_balance_write_files_sharding_enabled auto_watermark_interval
    checkpoint_timeout_millis checkpointing_interval checkpointing_mode disable_metrics
    enable_stable_input_drain execution_mode_for_batch execution_retry_delay externalized_checkpoints_enabled
    fail_on_checkpointing_errors faster_copy file_input_split_max_size_m_b finish_bundle_before_checkpointing
    flink_conf_dir force_unaligned_checkpoint_enabled job_check_interval_in_secs latency_tracking_interval
    max_bundle_size max_bundle_time_mills max_parallelism min_pause_between_checkpoints num_concurrent_checkpoints
    number_of_execution_retries object_reuse operator_chaining re_iterable_group_by_key_result
    report_checkpoint_duration retain_externalized_checkpoints_on_cancellation savepoint_path
    shutdown_sources_after_idle_ms state_backend state_backend_factory state_backend_storage_path
    tolerable_checkpoint_failure_number unaligned_checkpoint_enabled use_data_stream_for_batch
""".split()
)
_OPTION_IN_MESSAGE = re.compile(r"option:? ([a-z_]+)|Project ID")


def _beam_parser():
    """Beam's own argument parser, with every registered option; its errors raise ValueError."""
    from apache_beam.options.pipeline_options import PipelineOptions

    parsers = []
    PipelineOptions([]).get_all_options(add_extra_args_fn=parsers.append)
    parser = parsers[0]

    def error(message: str):
        raise ValueError(message)

    parser.error = error
    return parser


def _flags(key: str, value: Any) -> list:
    """Command-line flags for one option, by the rules of PipelineOptions.from_dictionary."""
    from apache_beam.options.pipeline_options import _FLAG_THAT_SETS_FALSE_VALUE

    if isinstance(value, bool):
        if value:
            return [f"--{key}"]
        return [f"--{_FLAG_THAT_SETS_FALSE_VALUE[key]}"] if key in _FLAG_THAT_SETS_FALSE_VALUE else []
    if isinstance(value, list):
        return [f"--{key}={item}" for item in value]
    if isinstance(value, dict):
        return [f"--{key}={json.dumps(value)}"]
    return [f"--{key}={value}"]


def _argparse_message(key: str, message: str) -> str:
    """Beam's argparse message in this project's words (without repeating the flag)."""
    message = message.removeprefix(f"argument --{key}: ")
    invalid = re.match(r"invalid (\w+) value: (.*)$", message)
    if invalid:
        kind = {"int": "a whole number", "float": "a number"}.get(invalid.group(1), invalid.group(1))
        return f"expected {kind}, got {invalid.group(2)}"
    if message.startswith("ignored explicit argument"):
        return "a flag: give true or false"
    return message


def _check_option_names_and_values(options: Mapping[str, Any], runner: str) -> None:
    parser = _beam_parser()
    known = sorted(parser.parse_known_args([])[0].__dict__)
    for key, value in options.items():
        if runner == "FlinkRunner" and key in FLINK_JOB_SERVER_OPTIONS:
            continue
        if value is None:
            raise SettingError(key, "no value: give one, or leave the option out")
        try:
            _, unknown = parser.parse_known_args(_flags(key, value))
        except ValueError as e:
            raise SettingError(key, _argparse_message(key, str(e))) from None
        if unknown:
            names = known + (sorted(FLINK_JOB_SERVER_OPTIONS) if runner == "FlinkRunner" else [])
            close = difflib.get_close_matches(key, names, n=1)
            hint = f": did you mean {close[0]}?" if close else ""
            # The value is not repeated: it may be a secret.
            raise SettingError(key, f"unknown Beam pipeline option{hint}")


class _Collect(logging.Handler):
    """Keeps the messages logged to it."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _check_with_beam_validator(options: Mapping[str, Any], runner: str) -> None:
    """Beam's PipelineOptionsValidator, which beam.Pipeline() would run (and raise from) later."""
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator
    from apache_beam.runners.runner import create_runner

    passed = {key: value for key, value in options.items() if key not in FLINK_JOB_SERVER_OPTIONS}
    # Beam logs some refusals only as warnings (an invalid bucket name once staging_location is
    # set) and lets the job fail at submission: those count as errors here, and are not printed.
    beam_logger = logging.getLogger("apache_beam.options.pipeline_options")
    warnings = _Collect()
    saved = beam_logger.propagate
    beam_logger.addHandler(warnings)
    beam_logger.propagate = False
    try:
        errors = PipelineOptionsValidator(
            PipelineOptions.from_dictionary({**passed, "runner": runner}), create_runner(runner)
        ).validate()
    finally:
        beam_logger.removeHandler(warnings)
        beam_logger.propagate = saved
    errors = list(errors) + [w for w in warnings.messages if w.startswith("Invalid") and w not in errors]
    if errors:
        first = " ".join(errors[0].split())
        match = _OPTION_IN_MESSAGE.search(first)
        key = (match.group(1) or "project") if match else ""
        more = (
            f" (and {len(errors) - 1} more: {'; '.join(' '.join(e.split()) for e in errors[1:])})"
            if len(errors) > 1
            else ""
        )
        raise SettingError(key, f"refused by Beam: {first}{more}")


def check_beam_options(options: Mapping[str, Any], runner: str) -> None:
    """Checks pipeline options as Beam will: names, values, then Beam's validator for the runner.

    Raises:
        SettingError: an unknown option (with the closest known name), a value
            Beam's parser refuses, or an error of Beam's validator.
    """
    _check_option_names_and_values(options, runner)
    _check_with_beam_validator(options, runner)
