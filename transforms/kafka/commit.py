"""CommitOffsets: commits Kafka offsets behind the written output (docs/design.md, decision 8).

The reader's ledger entries (where each partition starts, offsets that hold no
record) and the sinks' credits (what they have written) meet here, keyed by
partition. A stateful DoFn keeps each partition's ledger in Beam state, so the
same code holds on Prism, Beam's FnApiRunner, Flink and Dataflow, and commits
the contiguous prefix of written offsets to the consumer group.

Commits are batched: one synchronous commit per bundle of this step for every
partition whose commit point moved, at most one every `_MIN_COMMIT_INTERVAL_S`.
A failed commit (the broker is away) is kept and retried with the next bundle;
a later commit covers it.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping, Tuple

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec
from apache_beam.transforms.window import GlobalWindows
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from transforms.kafka.account import PartitionCounters
from transforms.kafka.ledger import PartitionLedger
from transforms.kafka.outages import FatalKafkaError, is_fatal

__all__ = ["CommitOffsets", "COMMITS", "OFFSETS_COMMITTED"]

# Counters (namespace, name), for whoever reads the job's metrics.
COMMITS = ("CommitOffsets", "commits")
OFFSETS_COMMITTED = ("CommitOffsets", "offsets_committed")

_LOG = logging.getLogger(__name__)
_MIN_COMMIT_INTERVAL_S = 0.5
_WARN_EVERY_S = 30.0


@beam.typehints.with_output_types(Tuple[Tuple[str, int], Any])
def _by_partition(entry):
    return (entry.topic, entry.partition), entry


class _CommitFn(beam.DoFn):
    """((topic, partition), ledger entry) -> nothing; commits each partition's written prefix."""

    LEDGER = ReadModifyWriteStateSpec("ledger", PickleCoder())

    def __init__(self, consumer_settings: Mapping[str, object]):
        self._settings = dict(consumer_settings)
        self._commits = Metrics.counter(*COMMITS)
        self._committed = Metrics.counter(*OFFSETS_COMMITTED)

    def setup(self):
        self._consumer = None
        # (topic, partition) -> (the point Kafka holds, the point to commit)
        self._pending: dict[tuple[str, int], tuple[int, int]] = {}
        self._last_commit = 0.0
        self._last_warning = 0.0
        self._account = PartitionCounters()

    def process(self, element, ledger=beam.DoFn.StateParam(LEDGER)):
        key, entry = element
        state = ledger.read() or PartitionLedger()
        state.apply(entry)
        # Where Kafka's commit stands before this one (the start until the first: known once it moves).
        before = state.committed if state.committed is not None else state.start
        point = state.advance()
        ledger.write(state)
        if point is not None:
            held = self._pending[key][0] if key in self._pending else before
            self._pending[key] = (held, point)

    def finish_bundle(self):
        if not self._pending:
            return
        wait = self._last_commit + _MIN_COMMIT_INTERVAL_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # at most a few commits a second; the last one is never skipped
        self._commit()

    def teardown(self):
        if getattr(self, "_pending", None):
            self._commit()
        if getattr(self, "_consumer", None) is not None:
            self._consumer.close()

    def _commit(self) -> None:
        offsets = [TopicPartition(t, p, point) for (t, p), (_, point) in self._pending.items()]
        try:
            if self._consumer is None:
                self._consumer = Consumer(self._settings)
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            error = e.args[0] if e.args else None
            if isinstance(error, KafkaError) and is_fatal(error):
                # Waiting cannot fix an authorization error: end the job with one line.
                raise FatalKafkaError(
                    f"Kafka: committing offsets for group {self._settings.get('group.id')!r}: {error.str()}"
                ) from None
            # Kept: the next bundle commits it (or a later point). A restart re-reads at most that much.
            now = time.monotonic()
            if now - self._last_warning >= _WARN_EVERY_S:
                self._last_warning = now
                _LOG.warning("committing Kafka offsets failed, will retry: %s", e.args[0] if e.args else e)
            return
        finally:
            self._last_commit = time.monotonic()
        self._commits.inc()
        for (topic, partition), (held, point) in self._pending.items():
            # Counted once Kafka holds it: the account's `committed - start` (transforms/kafka/account.py).
            self._committed.inc(point - held)
            self._account.committed(topic, partition, point - held)
        self._pending.clear()


class CommitOffsets(beam.PTransform):
    """Ledger entries (PartitionStart, OffsetCredit) -> offsets committed to the consumer group.

    Takes one PCollection of entries, or several (the reader's and each sink's) as a tuple.

    Args:
        consumer_settings: confluent-kafka settings with `group.id`, as the reader uses them.
    """

    def __init__(self, consumer_settings: Mapping[str, object], label=None):
        super().__init__(label)
        self._settings = dict(consumer_settings)

    def expand(self, entries):
        # One ledger per partition for the whole run: Beam state is kept per key and window,
        # and a Flatten needs one windowing, so every input goes into the global window first.
        if isinstance(entries, beam.PCollection):
            entries = (entries,)
        in_global = [
            pcoll | f"IntoGlobalWindow{i}" >> beam.WindowInto(GlobalWindows()) for i, pcoll in enumerate(entries)
        ]
        return (
            in_global
            | "Together" >> beam.Flatten()
            | "KeyByPartition" >> beam.Map(_by_partition)
            | "CommitWrittenPrefix" >> beam.ParDo(_CommitFn(self._settings))
        )
