"""The counters a run ends with, and the check that nothing was lost."""

from __future__ import annotations

from apache_beam.metrics.metric import MetricsFilter

from transforms.counting import PANES
from transforms.decode import DECODE_DEAD_LETTERS, DECODED
from transforms.kafka.read import RECORDS_READ
from transforms.sinks import ROWS_WRITTEN
from transforms.text.tokenize import TOKENIZER_DEAD_LETTERS, TOKENS

__all__ = ["report", "counter_totals"]

_SHOWN = (
    RECORDS_READ,
    DECODED,
    DECODE_DEAD_LETTERS,
    TOKENIZER_DEAD_LETTERS,
    TOKENS,
    PANES,
    ROWS_WRITTEN,
)


def counter_totals(result) -> dict:
    """{(namespace, name): committed (or attempted) total} over all steps."""
    totals: dict = {}
    try:
        counters = result.metrics().query(MetricsFilter())["counters"]
    except Exception:  # a cancelled or failed job may have no metrics to give
        return totals
    for counter in counters:
        key = (counter.key.metric.namespace, counter.key.metric.name)
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[key] = totals.get(key, 0) + (value or 0)
    return totals


def report(result) -> list[str]:
    """One line of counters, one line that checks read = decoded + dead letters."""
    totals = counter_totals(result)
    if not totals:
        return ["metrics: none reported by the runner"]
    line = "metrics: " + ", ".join(f"{ns}.{name}={totals.get((ns, name), 0)}" for ns, name in _SHOWN)
    read = totals.get(RECORDS_READ, 0)
    decoded = totals.get(DECODED, 0)
    dead = totals.get(DECODE_DEAD_LETTERS, 0)
    verdict = "ok" if read == decoded + dead else "MISMATCH"
    return [line, f"records read {read} = decoded {decoded} + dead letters {dead}: {verdict}"]
