"""The source limit: read the topic with confluent-kafka and do nothing else.

Reads every partition from its start to the end offsets it had when the program
started, in batches (`consume(1000)`), as the pipeline's reader does.

    python -m benchmarks.systems.source_limit --bootstrap-servers HOST:PORT --topic T
"""

from __future__ import annotations

import argparse

from confluent_kafka import Consumer, TopicPartition

from benchmarks.systems.common import end_offsets, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True)
    args = parser.parse_args()
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": "bench-source-limit",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    bounds = end_offsets(consumer, args.topic)
    remaining = {p: high for p, (low, high) in bounds.items() if high > low}
    consumer.assign([TopicPartition(args.topic, p, bounds[p][0]) for p in remaining])
    messages = value_bytes = 0
    while remaining:
        for message in consumer.consume(num_messages=1000, timeout=0.1):
            if message.error() is not None:
                continue
            messages += 1
            value_bytes += len(message.value() or b"")
            partition = message.partition()
            if partition in remaining and message.offset() + 1 >= remaining[partition]:
                del remaining[partition]
    consumer.close()
    report(messages=messages, bytes=value_bytes)


if __name__ == "__main__":
    main()
