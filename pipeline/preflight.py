"""Checks made before a job starts, so that a bad setting, a missing broker or topic is one line, not a worker traceback.

Two kinds of check live here. `check_kafka_source` talks to the broker (`run`
only). The others need no network and run while the config is loaded
(`validate` and `run`): Beam pipeline options by Beam's own option parser and
validator, NLTK names by the NLTK installed where the job is built. Each raises
SpecError naming the setting, which the config layer turns into a ConfigError
naming the file and the dotted key. (Kafka client settings are checked by the
specs that hold them: transforms/kafka/client_settings.py.)
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Mapping

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from transforms.spec import SpecError

__all__ = ["check_beam_options", "check_kafka_source", "check_nltk_names"]

_TIMEOUT_S = 10.0


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
            raise SpecError(key, "no value: give one, or leave the option out")
        try:
            _, unknown = parser.parse_known_args(_flags(key, value))
        except ValueError as e:
            raise SpecError(key, _argparse_message(key, str(e))) from None
        if unknown:
            names = known + (sorted(FLINK_JOB_SERVER_OPTIONS) if runner == "FlinkRunner" else [])
            close = difflib.get_close_matches(key, names, n=1)
            hint = f": did you mean {close[0]}?" if close else ""
            # The value is not repeated: it may be a secret.
            raise SpecError(key, f"unknown Beam pipeline option{hint}")


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
        raise SpecError(key, f"refused by Beam: {first}{more}")


def check_beam_options(options: Mapping[str, Any], runner: str) -> None:
    """Checks pipeline options as Beam will: names, values, then Beam's validator for the runner.

    Raises:
        SpecError: an unknown option (with the closest known name), a value
            Beam's parser refuses, or an error of Beam's validator.
    """
    _check_option_names_and_values(options, runner)
    _check_with_beam_validator(options, runner)


# --- NLTK names ------------------------------------------------------------------------------


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
    raise SpecError(
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
            raise SpecError(
                "stopwords", f"no NLTK stopwords list {name!r}; installed lists: {installed}; {accepted}"
            ) from None
        raise SpecError("stopwords", f"{e}; {accepted}") from None


def check_nltk_names(tokenize) -> None:
    """The names of a TokenizeSpec that NLTK must know where the job is built: the language, a stopwords list."""
    with _nltk_search_path(tokenize.nltk_data_path):
        _check_language(tokenize.language)
        if isinstance(tokenize.stopwords, str) and not tokenize.stopwords.startswith("file:"):
            _check_stopwords_name(tokenize.stopwords)
