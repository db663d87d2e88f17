"""The counters a run ends with, and the check that nothing was lost."""

from __future__ import annotations

from apache_beam.metrics.metric import MetricsFilter

__all__ = ["report", "counter_totals"]

_SHOWN = (
    ("ReadFromKafka", "records_read"),
    ("DecodeMessages", "decoded"),
    ("DecodeMessages", "dead_letters"),
    ("TokenizeText", "dead_letters"),
    ("TokenizeText", "tokens"),
    ("CountTokens", "panes"),
    ("WriteRows", "rows_written"),
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
    read = totals.get(("ReadFromKafka", "records_read"), 0)
    decoded = totals.get(("DecodeMessages", "decoded"), 0)
    dead = totals.get(("DecodeMessages", "dead_letters"), 0)
    verdict = "ok" if read == decoded + dead else "MISMATCH"
    return [line, f"records read {read} = decoded {decoded} + dead letters {dead}: {verdict}"]
