"""Builds the pipeline graph from a RunConfig: Kafka -> decode -> tokens -> windows -> counts -> sinks."""

from __future__ import annotations

import dataclasses
import sys
import uuid
from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.config import RunConfig
from pipeline.runner_check import worker_processes
from transforms.compat import fn_api_runner_with_options
from transforms.counting import CountTokens
from transforms.decode import DecodeMessages
from transforms.kafka.commit import CommitOffsets
from transforms.kafka.read import KafkaRead, ReadFromKafka, consumer_settings
from transforms.lateness import SplitLateMessages
from transforms.sinks import SinkSpec, WriteRows
from transforms.text.tokenize import TokenizeText
from transforms.windowing import WindowSpec, WindowTokens

__all__ = ["JobOutputs", "build_pipeline", "count_tokens", "read_source", "pipeline_options"]


# How long a streaming job may run before the portable runner's client gives up on it.
_STREAM_JOB_TIMEOUT_S = 30 * 24 * 3600


def pipeline_options(config: RunConfig, prism_location: Optional[str] = None, quiet: bool = False) -> PipelineOptions:
    """Beam options from the config's `options`, plus what the config implies."""
    options = dict(config.options)
    options["runner"] = config.runner
    if not config.source.stop.bounded:
        options.setdefault("streaming", True)
        # Beam's portable runners use job_server_timeout (300 s) as the deadline of the job's
        # state stream, which would end a stream after five minutes (apache/beam#35867).
        options.setdefault("job_server_timeout", _STREAM_JOB_TIMEOUT_S)
    if prism_location and config.runner in ("DirectRunner", "PrismRunner"):
        options.setdefault("prism_location", prism_location)
    if quiet and config.runner in ("DirectRunner", "PrismRunner"):
        options.setdefault("prism_log_level", "warn")
    if worker_processes(config) > 1:
        # Threads would share one interpreter lock; the tokenizer needs processes.
        options.setdefault("direct_running_mode", "multi_processing")
        if quiet:
            # The worker processes write to this terminal: start-up chatter at INFO and WARNING.
            options.setdefault("default_sdk_harness_log_level", "ERROR")
    if config.runner == "FlinkRunner":
        from pipeline.stack.flink import flink_job_name, flink_option_defaults

        # A stable name: the next run finds a job of this pipeline still running on the cluster.
        if config.source.commits:
            options.setdefault("job_name", flink_job_name(config.source.group_id, config.source.topics))

        stop = config.source.stop
        options.update(
            flink_option_defaults(
                options,
                unbounded=not stop.bounded,
                drain_after_s=stop.max_read_time_s,
                progress=lambda m: print(m, file=sys.stderr),
            )
        )
    return PipelineOptions.from_dictionary(options)


def read_source(pipeline: beam.Pipeline, config: RunConfig) -> KafkaRead:
    """The Kafka records of the configured topics, stamped with event time, and the offset ledger."""
    # One reader element per worker process unless the config says otherwise (see SourceSpec.shards).
    shards = config.source.shards or worker_processes(config)
    return pipeline | "ReadFromKafka" >> ReadFromKafka(config.source, shards=shards, offsets_ledger=True)


class JobOutputs(NamedTuple):
    """The three outputs of the job: result rows, dead letters and late records."""

    rows: beam.PCollection
    dead_letters: beam.PCollection
    late_records: beam.PCollection


def count_tokens(records, config: RunConfig) -> JobOutputs:
    """KafkaRecords -> result rows, dead-letter rows and late-record rows, as the config describes."""
    decoded = records | "DecodeMessages" >> DecodeMessages(config.format)
    windows = WindowSpec(config.window, config.trigger)  # one spec: the late split and the windows agree
    # With by-key counts a message is counted in two panes per window: the ledger expects both.
    copies = 2 if config.count.by_key else 1
    split = decoded.messages | "SplitLateMessages" >> SplitLateMessages(windows, copies=copies)
    tokenized = split.on_time | "TokenizeText" >> TokenizeText(config.tokenize)
    rows = (
        tokenized.tokens
        | "WindowTokens" >> WindowTokens(windows)
        | "CountTokens"
        >> CountTokens(
            config.count,  # its fanout applies where the windows allow it (validate says so)
            offset_credits=config.source.commits,
            batch_rows=True,  # for the sink: one element per pane, not per token
        )
    )
    dead_letters = (decoded.dead_letter, tokenized.dead_letter) | "CollectDeadLetters" >> beam.Flatten()
    return JobOutputs(rows, dead_letters, split.late)


def _write(sink: SinkSpec, bootstrap_servers: str, run_id: str) -> WriteRows:
    if sink.type == "kafka":  # the sink's producer reaches the source's brokers unless it says otherwise
        producer_config = {"bootstrap.servers": bootstrap_servers, **sink.producer_config}
        sink = dataclasses.replace(sink, producer_config=producer_config)
    return WriteRows(sink, run_id=run_id)


def build_pipeline(config: RunConfig, options: PipelineOptions) -> beam.Pipeline:
    """The whole job as one Beam pipeline, not yet run."""
    runner = fn_api_runner_with_options(options) if worker_processes(config) > 1 else None
    pipeline = beam.Pipeline(runner=runner, options=options)
    read = read_source(pipeline, config)
    outputs = count_tokens(read.records, config)
    bootstrap = config.source.bootstrap_servers
    # Every row this job writes carries the run's id: a restarted run's panes are told apart by it.
    run_id = uuid.uuid4().hex[:12]
    written = (
        outputs.rows | "WriteResults" >> _write(config.sink, bootstrap, run_id),
        outputs.dead_letters | "WriteDeadLetters" >> _write(config.dead_letter, bootstrap, run_id),
        outputs.late_records | "WriteLateRecords" >> _write(config.late_records, bootstrap, run_id),
    )
    if config.source.commits:
        # Offsets are committed behind the output: what the sinks have written, and nothing else.
        source = config.source
        settings = consumer_settings(source.bootstrap_servers, source.group_id, source.consumer_config)
        (read.offsets, *written) | "CommitOffsets" >> CommitOffsets(settings)
    return pipeline
