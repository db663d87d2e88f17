"""The offset account: per-partition counters that let a run prove what it committed (docs/design.md, decision 10).

Every offset of a partition between where the run started and where it committed
must be accounted for: a record the reader read, or offsets the reader credited
without a record for a reason it can show. The reader counts both per partition,
the committer counts what it committed once Kafka acknowledged the commit, and at
the end of a run `committed - start = read + credited without a record` must
hold for every partition (pipeline/metrics_report.py checks it).

The counters are Beam counters in the `OffsetAccount` namespace named
`kind|topic|partition`, so that every runner that reports metrics reports them.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from apache_beam.metrics import Metrics

__all__ = ["NAMESPACE", "READ", "COMMITTED", "EMPTY_REASONS", "PartitionCounters", "AccountKey", "parse_name"]

NAMESPACE = "OffsetAccount"
READ = "read"
COMMITTED = "committed"

# Why offsets are credited without a record, and what each means (docs/delivery.md lists them too).
EMPTY_REASONS = {
    "gap": "no record at these offsets in a fetched batch (compacted away, transaction markers, aborted transactions)",
    "end": "the end of the partition was reached with no record left at these offsets (trailing markers)",
    "client_error": "a batch the Kafka client reported as unreadable was skipped (logged with the error)",
    "retention": "deleted by retention before they were read; skipped to the log start (auto.offset.reset: earliest)",
    "reset_to_latest": "out of range and skipped to the end, as auto.offset.reset: latest asks (logged)",
}


class AccountKey(NamedTuple):
    kind: str  # READ, COMMITTED, or "empty:<reason>"
    topic: str
    partition: int


def _name(kind: str, topic: str, partition: int) -> str:
    # Kafka topic names hold only [a-zA-Z0-9._-]: "|" cannot occur in one.
    return f"{kind}|{topic}|{partition}"


def parse_name(name: str) -> Optional[AccountKey]:
    """The AccountKey of a counter name of this namespace; None for any other name."""
    parts = name.split("|")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return AccountKey(parts[0], parts[1], int(parts[2]))


class PartitionCounters:
    """The account's counters of one process, made on first use."""

    def __init__(self):
        self._counters: dict = {}

    def inc(self, kind: str, topic: str, partition: int, n: int = 1) -> None:
        if n <= 0:
            return
        key = (kind, topic, partition)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = Metrics.counter(NAMESPACE, _name(kind, topic, partition))
        counter.inc(n)

    def read(self, topic: str, partition: int, n: int = 1) -> None:
        self.inc(READ, topic, partition, n)

    def empty(self, reason: str, topic: str, partition: int, n: int) -> None:
        assert reason in EMPTY_REASONS, reason
        self.inc(f"empty:{reason}", topic, partition, n)

    def committed(self, topic: str, partition: int, n: int) -> None:
        self.inc(COMMITTED, topic, partition, n)
