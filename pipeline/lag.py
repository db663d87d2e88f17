"""`python -m pipeline lag --config FILE`: the consumer group's lag per partition.

For every partition of `source.topics` it prints the offset `source.group_id`
has committed, the partition's end offset (high watermark) and the lag between
them. It reads only Kafka's own bookkeeping, so it works for a job on any runner
(Prism, Flink, Dataflow): the reader commits behind the output, so the lag is
what the job has not yet written out. Exit status: 0, or 1 when the group has
committed nothing on any partition, or 2 for a config error or an unreachable broker.

Below the table it answers "why hasn't my window fired?" for a running job: each
partition's watermark, newest event time and idle time, which partition holds the
reader's watermark, and the next window to close. Another process cannot ask a job
for its metrics, and Kafka alone cannot say what the reader has read or how it
estimates its watermark; so the reader itself writes that report, about once a
second, as commit metadata of the consumer group `<group_id>.watermarks`
(transforms/kafka/watermarks.py), and this command reads it back with its age.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Optional

from confluent_kafka import Consumer, KafkaException, TopicPartition

from pipeline.config import ConfigError, RunConfig, load_config
from pipeline.console.watermark_view import (
    clock,
    current,
    holder_line,
    partition_cells,
    span,
    stale_s,
    windows_line,
)
from pipeline.preflight import check_kafka_source
from transforms.kafka.read import consumer_settings
from transforms.kafka.watermarks import PartitionWatermark, from_status, holding_partition, status_group
from transforms.windowing import WindowSpec

__all__ = ["PartitionLag", "format_table", "format_watermarks", "partition_lags", "reader_watermarks", "run"]

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


def reader_watermarks(config: RunConfig, rows: list[PartitionLag]) -> tuple[list[PartitionWatermark], str]:
    """The reader's last report for the partitions of `rows`, from `<group_id>.watermarks`, and an error.

    ([], "") when there is no report; ([], reason) when the broker would not say (the coordinator
    of a group it has not seen lately may take a moment: asked again for a few seconds).
    """
    source = config.source
    group = status_group(source.group_id)
    settings = consumer_settings(source.bootstrap_servers, group, source.consumer_config)
    consumer = Consumer({**settings, "group.id": group, "log_level": 0})
    deadline = time.monotonic() + _TIMEOUT_S
    try:
        while True:
            try:
                found = consumer.committed([TopicPartition(r.topic, r.partition) for r in rows], timeout=_TIMEOUT_S)
                break
            except KafkaException as e:
                if time.monotonic() >= deadline:
                    error = e.args[0]
                    return [], error.str() if hasattr(error, "str") else str(error)
                time.sleep(0.5)
    finally:
        consumer.close()
    report = [from_status(tp.topic, tp.partition, tp.offset, tp.metadata) for tp in found if tp.error is None]
    return [p for p in report if p is not None], ""


def format_watermarks(
    config: RunConfig, rows: list[PartitionLag], report: list[PartitionWatermark], now_ms: int, error: str = ""
) -> list[str]:
    """The report's lines: one per partition (read to, watermark, newest event, state), the holder, the next window."""
    group = status_group(config.source.group_id)
    if error:
        return ["", f"reader watermarks: Kafka did not give the report of consumer group {group}: {error}"]
    if not report:
        return [
            "",
            f"reader watermarks: none reported to consumer group {group} "
            "(a running job's reader reports them about once a second)",
        ]
    age = stale_s(report, now_ms)
    if age is None:
        head = f"reader watermarks, as the running job reports them (consumer group {group})"
    else:
        head = (
            f"reader watermarks, as a job of this group last reported them {span(age)} ago: no reader of the "
            f"group runs now, or it cannot reach Kafka (consumer group {group})"
        )
    live = current(report)
    by_key = {(p.topic, p.partition): p for p in report}
    ends = {(r.topic, r.partition): r.end for r in rows}
    holder = holding_partition(live)
    table = [("topic", "partition", "read to", "watermark", "newest event", "state")]
    for r in rows:
        p = by_key.get((r.topic, r.partition))
        read_to = "-" if p is None or p.next_offset is None else str(p.next_offset)
        cells = partition_cells(p, holder, now_ms, ends)
        if p is not None and p not in live:  # an earlier run's report: not part of the minimum
            cells = (*cells[:2], f"old report ({span((now_ms - (p.reported_ms or 0)) / 1000)} ago)")
        table.append((r.topic, str(r.partition), read_to, *cells))
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = ["", head]
    lines += [
        "  ".join(
            cell.ljust(w) if i in (0, 5) else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))
        ).rstrip()
        for line in table
    ]
    lines.append(holder_line(live, now_ms, config.source.max_out_of_orderness_s, ends))
    lines.append(windows_line(WindowSpec(config.window, config.trigger), live, now_ms))
    lines.append(f"(times UTC; wall clock {clock(now_ms, now_ms)})")
    return lines


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
    report, error = reader_watermarks(config, rows)
    for line in format_watermarks(config, rows, report, int(time.time() * 1000), error):
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
