"""ReadFromKafka on a real broker, in a TestPipeline executed by Prism."""

from __future__ import annotations

from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.devtools.producer import ProducerRecord, produce_messages
from transforms.kafka.commit import CommitOffsets
from transforms.kafka.ledger import OffsetCredit
from transforms.kafka.read import ReadFromKafka, consumer_settings

BASE_MS = 1_767_600_000_000


def _pipeline(prism_location: str) -> TestPipeline:
    return TestPipeline(
        options=PipelineOptions(runner="PrismRunner", prism_location=prism_location, prism_log_level="warn")
    )


def _value_and_event_ms(record, timestamp=beam.DoFn.TimestampParam):
    return record.value.decode(), timestamp.micros // 1000


def _produce(broker, topic, count: int, first: int = 0) -> list[ProducerRecord]:
    messages = [ProducerRecord(f"m{i}", f"k{i % 3}", BASE_MS + i * 1000) for i in range(first, first + count)]
    produce_messages(broker.bootstrap_servers, topic, messages)
    return messages


def test_reads_every_partition_to_the_latest_offsets_with_kafka_event_times(kafka_broker, fresh_topic, prism_location):
    topic = fresh_topic(partitions=3)
    messages = _produce(kafka_broker, topic, 30)
    with _pipeline(prism_location) as p:
        records = p | ReadFromKafka(kafka_broker.bootstrap_servers, [topic], stop="latest")
        assert_that(records | beam.Map(_value_and_event_ms), equal_to([(m.value, m.timestamp_ms) for m in messages]))


def test_max_records_reads_exactly_that_many_in_total(kafka_broker, fresh_topic, prism_location):
    topic = fresh_topic(partitions=3)
    _produce(kafka_broker, topic, 20)
    with _pipeline(prism_location) as p:
        records = p | ReadFromKafka(kafka_broker.bootstrap_servers, [topic], stop={"max_records": 7})
        assert_that(records | beam.combiners.Count.Globally(), equal_to([7]))


def test_start_at_a_time_skips_older_records(kafka_broker, fresh_topic, prism_location):
    topic = fresh_topic(partitions=2)
    messages = _produce(kafka_broker, topic, 10)
    start = datetime.fromtimestamp((BASE_MS + 6000) / 1000, tz=timezone.utc)
    with _pipeline(prism_location) as p:
        records = p | ReadFromKafka(kafka_broker.bootstrap_servers, [topic], start=start, stop="latest")
        assert_that(records | beam.Map(lambda r: r.value.decode()), equal_to([m.value for m in messages[6:]]))


def _written(record) -> OffsetCredit:
    """Stands in for a sink: the record is done."""
    return OffsetCredit(record.topic, record.partition, ((record.offset, record.offset + 1),))


def test_committed_start_resumes_after_the_offsets_that_commit_offsets_committed(
    kafka_broker, fresh_topic, prism_location
):
    topic, group = fresh_topic(partitions=3), "resume-group"
    _produce(kafka_broker, topic, 12)
    with _pipeline(prism_location) as p:
        read = p | ReadFromKafka(
            kafka_broker.bootstrap_servers, [topic], group_id=group, stop="latest", offsets_ledger=True
        )
        settings = consumer_settings(kafka_broker.bootstrap_servers, group, {})
        (read.offsets, read.records | beam.Map(_written)) | beam.Flatten() | CommitOffsets(settings)
    later = _produce(kafka_broker, topic, 5, first=12)
    with _pipeline(prism_location) as p:
        records = p | ReadFromKafka(
            kafka_broker.bootstrap_servers,
            [topic],
            group_id=group,
            start="committed",
            stop="latest",
        )
        assert_that(records | beam.Map(lambda r: r.value.decode()), equal_to([m.value for m in later]))


def test_unbounded_read_with_a_time_limit_ends_and_counts_windows(kafka_broker, fresh_topic, prism_location):
    topic = fresh_topic(partitions=3)
    _produce(kafka_broker, topic, 30)
    options = PipelineOptions(
        runner="PrismRunner", prism_location=prism_location, streaming=True, prism_log_level="warn"
    )
    with TestPipeline(options=options) as p:
        counts = (
            p
            | ReadFromKafka(kafka_broker.bootstrap_servers, [topic], stop={"max_read_time": 6})
            | beam.WindowInto(beam.window.FixedWindows(10))
            | beam.Map(lambda r: ("records", 1))
            | beam.CombinePerKey(sum)
            | beam.Map(lambda kv, w=beam.DoFn.WindowParam: (w.start.micros // 1000, kv[1]))
        )
        assert_that(counts, equal_to([(BASE_MS, 10), (BASE_MS + 10_000, 10), (BASE_MS + 20_000, 10)]))


def test_max_records_waits_for_records_that_arrive_later_in_any_partition(kafka_broker, fresh_topic, prism_location):
    import threading

    topic = fresh_topic(partitions=3)
    _produce(kafka_broker, topic, 3)
    # The rest arrives later and all in one partition (one key): the read must not wait on the others.
    later = threading.Timer(
        3.0,
        produce_messages,
        args=(
            kafka_broker.bootstrap_servers,
            topic,
            [ProducerRecord(f"late{i}", "same-key", BASE_MS + i) for i in range(6)],
        ),
    )
    later.start()
    try:
        with _pipeline(prism_location) as p:
            records = p | ReadFromKafka(kafka_broker.bootstrap_servers, [topic], stop={"max_records": 8})
            assert_that(records | beam.combiners.Count.Globally(), equal_to([8]))
    finally:
        later.join()
