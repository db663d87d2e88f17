"""The Kafka sink's producer: idempotent unless the user says otherwise, and it waits out a full queue."""

from __future__ import annotations

import confluent_kafka
import pytest
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp

from transforms.sinks import WriteRows, _ProduceToKafkaFn

ROW = {"kind": "dead_letter", "reason": "r", "topic": "t", "partition": 0, "offset": 3}


class _FakeProducer:
    """Records its settings and values; the first produce() finds the queue full, a delivery can fail."""

    made: list = []

    def __init__(self, settings):
        self.settings, self.values, self._full, self._pending = settings, [], True, []
        self.error = None
        _FakeProducer.made.append(self)

    def produce(self, topic, value, on_delivery):
        if self._full:
            self._full = False
            raise BufferError("Local: Queue full")
        self._pending.append((on_delivery, value))

    def poll(self, timeout=None):
        return 0

    def flush(self, timeout=None):
        for on_delivery, value in self._pending:
            self.values.append(value)
            on_delivery(self.error, None)
        self._pending = []
        return 0


@pytest.fixture
def fake_producer(monkeypatch):
    _FakeProducer.made = []
    monkeypatch.setattr(confluent_kafka, "Producer", _FakeProducer)
    return _FakeProducer


def _bundle(fn, *rows):
    fn.start_bundle()
    for row in rows:
        fn.process(row, Timestamp(0), GlobalWindow())
    return fn.finish_bundle()


def test_the_producer_is_idempotent_unless_the_config_says_otherwise(fake_producer):
    for config, idempotent in [({}, True), ({"acks": "all"}, True), ({"enable.idempotence": False}, False)]:
        fn = _ProduceToKafkaFn("out", config, run_id=None)
        fn.setup()
        assert fake_producer.made[-1].settings == {**config, "enable.idempotence": idempotent}


def test_a_full_queue_is_waited_out_and_a_fatal_error_replaces_the_producer(fake_producer):
    fn = _ProduceToKafkaFn("out", {}, run_id="r1")
    fn.setup()
    assert len(_bundle(fn, ROW)) == 1
    assert fake_producer.made[0].values == [
        b'{"kind":"dead_letter","reason":"r","topic":"t","partition":0,"offset":3,"run_id":"r1"}'
    ]
    fake_producer.made[0].error = confluent_kafka.KafkaError(
        confluent_kafka.KafkaError._FATAL, "sequence lost", fatal=True
    )
    with pytest.raises(RuntimeError, match="^writing to Kafka topic 'out' failed: "):
        _bundle(fn, ROW)
    assert len(fake_producer.made) == 2  # the retried bundle gets a producer that still takes rows


def test_settings_that_idempotence_refuses_are_a_config_error_naming_the_key():
    with pytest.raises(
        ValueError, match=r"`acks` must be set to `all` when `enable.idempotence` is true \(the kafka sink"
    ):
        WriteRows("kafka", topic="out", producer_config={"acks": 1})
    WriteRows("kafka", topic="out", producer_config={"acks": 1, "enable.idempotence": False})
