"""The Bytewax peer: windowed token counts written the way Bytewax's docs show.

Kafka input (`bytewax.connectors.kafka.operators.input`, `tail=False`, so the
flow ends at the end of the topic), `flat_map` to (token, event time) items,
`count_window` keyed by token over an `EventClock` (waiting the pipeline's
out-of-orderness) and a `TumblingWindower`, rows to `StdOutSink` (the harness
sends stdout to a file). The tokenizer is the pipeline's.

    BENCH_BOOTSTRAP=HOST:PORT BENCH_TOPIC=T python -m bytewax.run benchmarks.systems.bytewax_flow:flow
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import bytewax.operators as op
from bytewax.connectors.kafka import operators as kop
from bytewax.connectors.stdio import StdOutSink
from bytewax.dataflow import Dataflow
from bytewax.operators.windowing import EventClock, TumblingWindower, count_window

from benchmarks.systems.common import count_row, make_tokenize

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_WINDOW = timedelta(seconds=float(os.environ.get("BENCH_WINDOW_S", "10")))
_WAIT = timedelta(seconds=float(os.environ.get("BENCH_OUT_OF_ORDERNESS_S", "5")))
_tokenize = make_tokenize()


def _tokens(message):
    event_time = _EPOCH + timedelta(milliseconds=message.timestamp[1])
    return [(token, event_time) for token in _tokenize(message.value.decode("utf-8"))]


def _format(item) -> str:
    token, (window_id, count) = item
    window_ms = int(_WINDOW.total_seconds() * 1000)
    return count_row(window_id * window_ms, window_ms, token, count)


flow = Dataflow("token_counts")
kafka = kop.input(
    "kafka_in", flow, brokers=[os.environ["BENCH_BOOTSTRAP"]], topics=[os.environ["BENCH_TOPIC"]], tail=False
)
tokens = op.flat_map("tokenize", kafka.oks, _tokens)
clock = EventClock(lambda item: item[1], wait_for_system_duration=_WAIT)
windower = TumblingWindower(length=_WINDOW, align_to=_EPOCH)
counts = count_window("count", tokens, clock, windower, key=lambda item: item[0])
op.output("out", op.map("format", counts.down, _format), StdOutSink())
