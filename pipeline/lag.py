"""`python -m pipeline lag --config FILE`: the consumer group's lag per partition.

For every partition of `source.topics` it prints the offset `source.group_id`
has committed, the partition's end offset (high watermark) and the lag between
them. It reads only Kafka's own bookkeeping, so it works for a job on any runner
(Prism, Flink, Dataflow): the reader commits behind the output, so the lag is
what the job has not yet written out. Exit status: 0, or 1 when the group has
committed nothing on any partition, or 2 for a config error or an unreachable broker.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional

from confluent_kafka import Consumer, KafkaException, TopicPartition

from pipeline.config import ConfigError, RunConfig, load_config
from pipeline.preflight import check_kafka_source
from transforms.kafka.read import consumer_settings

__all__ = ["PartitionLag", "format_table", "partition_lags", "run"]

_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: Optional[int]  # None: the group has no commit on this partition
    end: int  # the high watermark: the offset the next record will get
    low: int = 0  # the first offset still in the partition

    @property
    def lag(self) -> Optional[int]:
        """Records past the commit; 0 for a partition that holds none, None when it is unknown."""
        if self.committed is None:
            return 0 if self.end <= self.low else None
        return max(self.end - self.committed, 0)


def partition_lags(config: RunConfig) -> list[PartitionLag]:
    """Committed and end offsets of every partition of the configured topics.

    Raises ConfigError (one line, naming the file and key) when the group is not
    set, the broker cannot be reached or a topic does not exist.
    """
    source = config.source
    if not source.group_id:
        raise ConfigError(f"{config.path}: source.group_id: not set, so no offsets are committed to look at")
    check_kafka_source(config)  # the broker and the topics, with the same one-line errors as run
    # log_level 0: the client would log every failed reconnect; the error below says it once.
    consumer = Consumer(
        {**consumer_settings(source.bootstrap_servers, source.group_id, source.consumer_config), "log_level": 0}
    )
    try:
        metadata = consumer.list_topics(timeout=_TIMEOUT_S)
        partitions = [
            TopicPartition(topic, p) for topic in source.topics for p in sorted(metadata.topics[topic].partitions)
        ]
        committed = consumer.committed(partitions, timeout=_TIMEOUT_S)
        rows = []
        for tp in committed:
            if tp.error is not None:
                raise KafkaException(tp.error)
            low, high = consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=_TIMEOUT_S, cached=False
            )
            rows.append(PartitionLag(tp.topic, tp.partition, None if tp.offset < 0 else tp.offset, high, low))
        return rows
    except KafkaException as e:
        error = e.args[0]
        reason = error.str() if hasattr(error, "str") else str(error)
        raise ConfigError(
            f"{config.path}: source: cannot read the offsets of group {source.group_id!r} on "
            f"{source.bootstrap_servers}: {reason}"
        ) from None
    finally:
        consumer.close()


def format_table(rows: list[PartitionLag]) -> list[str]:
    """The table: one line per partition, then the total of the partitions with a commit."""

    def text(value: Optional[int]) -> str:
        return "-" if value is None else str(value)

    table = [("topic", "partition", "committed", "end", "lag")]
    table += [(r.topic, str(r.partition), text(r.committed), str(r.end), text(r.lag)) for r in rows]
    known = [r for r in rows if r.lag is not None]
    total_lag = sum(r.lag for r in known) if any(r.committed is not None for r in rows) else None
    table.append(("total", "", "", str(sum(r.end for r in rows)), text(total_lag)))
    widths = [max(len(line[i]) for line in table) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
        for line in table
    ]
    missing = len(rows) - len(known)
    if missing and total_lag is not None:
        lines[-1] += f"  ({missing} of {len(rows)} partitions with records and no commit: not counted)"
    return lines


def run(args) -> int:
    config = load_config(args.config, tuple(args.set))
    rows = partition_lags(config)
    source = config.source
    print(f"group {source.group_id} on {source.bootstrap_servers}")
    for line in format_table(rows):
        print(line)
    if all(r.committed is None for r in rows):
        print(
            f"no commits: group {source.group_id!r} has committed no offset on {', '.join(source.topics)} "
            "(no job has read them with this group yet, or it commits nothing: source.commit_offsets false, "
            "or a bounded read on Flink)",
            file=sys.stderr,
        )
        return 1
    return 0
