"""The Quix Streams peer: windowed token counts written the way Quix's docs show.

As in Quix's word-count tutorial: each message becomes (token, count) pairs
(`apply(..., expand=True)`), the stream is re-keyed by token (`group_by`, which
repartitions through a Kafka topic), and a tumbling window per token sums the
counts (`tumbling_window(...).sum().final()`), with a grace period equal to the
pipeline's out-of-orderness. The tokenizer is the pipeline's. Runs in its own
virtual environment (Quix Streams pins confluent-kafka < 2.13); stops after
`--idle-timeout-s` without new messages (`app.run(timeout=...)`).

    python benchmarks/systems/quix_app.py --bootstrap-servers HOST:PORT --topic T --out rows.jsonl --state-dir D
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections import Counter
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from quixstreams import Application  # noqa: E402

from benchmarks.systems.common import count_row, make_tokenize, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--window-s", type=float, default=10.0)
    parser.add_argument("--out-of-orderness-s", type=float, default=5.0)
    parser.add_argument("--idle-timeout-s", type=float, default=3.0)
    args = parser.parse_args()
    window_ms = int(args.window_s * 1000)
    tokenize = make_tokenize()

    app = Application(
        broker_address=args.bootstrap_servers,
        consumer_group=f"quix-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel="WARNING",
    )
    topic = app.topic(args.topic, value_deserializer="bytes", key_deserializer="str")
    out = open(args.out, "w", encoding="utf-8")
    seen = {"messages": 0}

    def tokenize_and_count(value: bytes):
        seen["messages"] += 1
        return list(Counter(tokenize(value.decode("utf-8"))).items())

    def write(window: dict, key: str, *_):
        out.write(count_row(window["start"], window_ms, key, window["value"]) + "\n")

    sdf = app.dataframe(topic)
    sdf = sdf.apply(tokenize_and_count, expand=True)
    sdf = sdf.group_by(lambda pair: pair[0], name="token")
    sdf = sdf.apply(lambda pair: pair[1])
    sdf = (
        sdf.tumbling_window(timedelta(milliseconds=window_ms), grace_ms=timedelta(seconds=args.out_of_orderness_s))
        .sum()
        .final()
    )
    sdf.update(write, metadata=True)
    app.run(timeout=args.idle_timeout_s)
    out.close()
    report(messages=seen["messages"], idle_timeout_s=args.idle_timeout_s)


if __name__ == "__main__":
    main()
