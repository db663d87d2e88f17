"""The baseline a newcomer writes: a Kafka consumer loop that tokenizes and counts in a dict per window.

One process, `poll()` one message at a time, a `Counter` per event-time window;
a window is written out once the largest timestamp seen is past its end plus
the out-of-orderness, and the rest at the end. Stops at the end offsets the
topic had when it started.

    python -m benchmarks.systems.baseline --bootstrap-servers HOST:PORT --topic T --out rows.jsonl
"""

from __future__ import annotations

import argparse
import uuid
from collections import Counter, defaultdict

from confluent_kafka import Consumer

from benchmarks.systems.common import count_row, end_offsets, make_tokenize, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--window-s", type=float, default=10.0)
    parser.add_argument("--out-of-orderness-s", type=float, default=5.0)
    parser.add_argument(
        "--engine", choices=("fast", "guarded"), default="fast", help="guarded: stock NLTK, as nltk.word_tokenize"
    )
    args = parser.parse_args()
    window_ms = int(args.window_s * 1000)
    delay_ms = int(args.out_of_orderness_s * 1000)
    tokenize = make_tokenize(args.engine)

    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": f"baseline-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    remaining = {p: high for p, (low, high) in end_offsets(consumer, args.topic).items() if high > low}
    consumer.subscribe([args.topic])
    windows: dict[int, Counter] = defaultdict(Counter)
    max_ts = 0
    messages = tokens = 0
    with open(args.out, "w", encoding="utf-8") as out:

        def flush(older_than: float) -> None:
            for start in sorted(w for w in windows if w + window_ms + delay_ms <= older_than):
                for token, n in windows.pop(start).items():
                    out.write(count_row(start, window_ms, token, n) + "\n")

        while remaining:
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            ts = message.timestamp()[1]
            words = tokenize(message.value().decode("utf-8"))
            windows[ts - ts % window_ms].update(words)
            messages += 1
            tokens += len(words)
            if ts > max_ts:
                max_ts = ts
                flush(max_ts)
            partition = message.partition()
            if partition in remaining and message.offset() + 1 >= remaining[partition]:
                del remaining[partition]
        flush(float("inf"))
    consumer.close()
    report(messages=messages, tokens=tokens)


if __name__ == "__main__":
    main()
