"""Builds the pipeline graph from a RunConfig: Kafka -> decode -> tokens -> windows -> counts -> sinks."""

from __future__ import annotations

from typing import Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.config import RunConfig, SinkConfig
from transforms.counting import CountTokens
from transforms.decode import DecodeMessages
from transforms.kafka_read import ReadFromKafka, StartPosition
from transforms.sinks import WriteRows
from transforms.tokenize import TokenizeText
from transforms.windowing import WindowTokens

__all__ = ["build_pipeline", "count_tokens", "read_source", "pipeline_options"]


def pipeline_options(config: RunConfig, prism_location: Optional[str] = None, quiet: bool = False) -> PipelineOptions:
    """Beam options from the config's `options`, plus what the config implies."""
    options = dict(config.options)
    options["runner"] = config.runner
    if not config.source.stop.bounded:
        options.setdefault("streaming", True)
    if prism_location and config.runner in ("DirectRunner", "PrismRunner"):
        options.setdefault("prism_location", prism_location)
    if quiet and config.runner in ("DirectRunner", "PrismRunner"):
        options.setdefault("prism_log_level", "warn")
    return PipelineOptions.from_dictionary(options)


def read_source(pipeline: beam.Pipeline, config: RunConfig):
    """The Kafka records of the configured topics, stamped with event time."""
    source = config.source
    return pipeline | "ReadFromKafka" >> ReadFromKafka(
        source.bootstrap_servers,
        source.topics,
        group_id=source.group_id,
        start=StartPosition(source.start, source.start_timestamp_ms),
        stop_at_latest=source.stop.latest,
        max_records=source.stop.max_records,
        max_read_time_s=source.stop.max_read_time_s,
        timestamp_policy=source.timestamp,
        max_out_of_orderness_s=source.max_out_of_orderness_s,
        consumer_config=source.consumer_config,
        commit_offsets=source.commit_offsets,
        shards=source.shards,
    )


def count_tokens(records, config: RunConfig):
    """KafkaRecords -> (output rows, dead-letter rows), as the config describes."""
    decoded = records | "DecodeMessages" >> DecodeMessages(
        config.format.type, config.format.text_field, config.format.encoding)
    tokenize = config.tokenize
    tokenized = decoded.messages | "TokenizeText" >> TokenizeText(
        tokenize.tokenizer, lowercase=tokenize.lowercase, drop_punctuation=tokenize.drop_punctuation,
        **tokenize.tokenizer_options())
    window, trigger = config.window, config.trigger
    rows = (
        tokenized.tokens
        | "WindowTokens" >> WindowTokens(
            window.type, size_s=window.size_s, period_s=window.period_s, gap_s=window.gap_s,
            offset_s=window.offset_s, early=trigger.early, late=trigger.late, repeat=trigger.repeat,
            allowed_lateness_s=trigger.allowed_lateness_s, accumulating=trigger.accumulation == "accumulating")
        | "CountTokens" >> CountTokens(config.count.top_k, config.count.emit_counts)
    )
    dead_letters = (decoded.dead_letter, tokenized.dead_letter) | "CollectDeadLetters" >> beam.Flatten()
    return rows, dead_letters


def _write(sink: SinkConfig, bootstrap_servers: str) -> WriteRows:
    producer_config = {"bootstrap.servers": bootstrap_servers, **sink.producer_config}
    return WriteRows(sink.type, path=sink.path, topic=sink.topic, producer_config=producer_config)


def build_pipeline(config: RunConfig, options: PipelineOptions) -> beam.Pipeline:
    """The whole job as one Beam pipeline, not yet run."""
    pipeline = beam.Pipeline(options=options)
    rows, dead_letters = count_tokens(read_source(pipeline, config), config)
    rows | "WriteResults" >> _write(config.sink, config.source.bootstrap_servers)
    dead_letters | "WriteDeadLetters" >> _write(config.dead_letter, config.source.bootstrap_servers)
    return pipeline
