"""_CommitFn without a broker: what it commits, what it counts, and which errors end the job."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from transforms.kafka import commit as commit_module
from transforms.kafka.account import PartitionCounters
from transforms.kafka.ledger import OffsetCredit, PartitionStart
from transforms.kafka.outages import FatalKafkaError


class _State:
    def __init__(self):
        self.value = None

    def read(self):
        return self.value

    def write(self, value):
        self.value = value


class _Consumer:
    def __init__(self, error=None):
        self.error = error
        self.commits = []

    def commit(self, offsets, asynchronous):
        if self.error is not None:
            raise KafkaException(self.error)
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])


class _Counted(PartitionCounters):
    def __init__(self):
        super().__init__()
        self.seen = {}

    def inc(self, kind, topic, partition, n=1):
        self.seen[(kind, partition)] = self.seen.get((kind, partition), 0) + n


def _fn(consumer) -> commit_module._CommitFn:
    fn = commit_module._CommitFn({"group.id": "g"})
    fn.setup()
    fn._consumer = consumer
    fn._account = _Counted()
    return fn


def _feed(fn, state, *entries):
    for entry in entries:
        fn.process((("t", 0), entry), ledger=state)
    fn.finish_bundle()


def test_the_account_counts_a_commit_once_kafka_holds_it():
    consumer, state = _Consumer(KafkaError(KafkaError.REQUEST_TIMED_OUT)), _State()
    fn = _fn(consumer)
    _feed(fn, state, PartitionStart("t", 0, 5), OffsetCredit("t", 0, ((5, 9),)))
    assert fn._account.seen == {}  # the broker did not take it: nothing counted, the commit is kept
    consumer.error = None
    _feed(fn, state, OffsetCredit("t", 0, ((9, 12),)))
    assert consumer.commits == [[("t", 0, 12)]]
    assert fn._account.seen == {("committed", 0): 7}


def test_an_authorization_error_ends_the_job_with_one_line():
    fn = _fn(_Consumer(KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED)))
    with pytest.raises(FatalKafkaError, match="committing offsets for group 'g'"):
        _feed(fn, _State(), PartitionStart("t", 0, 0), OffsetCredit("t", 0, ((0, 3),)))


def test_credits_that_come_before_the_partitions_start_are_counted_from_the_start():
    consumer, state = _Consumer(), _State()
    fn = _fn(consumer)
    _feed(fn, state, OffsetCredit("t", 0, ((3, 6),)), PartitionStart("t", 0, 3))
    assert consumer.commits == [[("t", 0, 6)]] and fn._account.seen == {("committed", 0): 3}
