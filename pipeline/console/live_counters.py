"""Beam's counters of a job while it runs, for the progress line and the live view.

`PipelineResult.metrics()` of Beam's portable runners asks the job service once and
keeps the answer: called while the job runs, it would also freeze the counters the
run ends with (pipeline/metrics_report.py). So this module asks the job service
itself, each time (transforms.compat.job_service_counters). Prism answers with the
counters the SDK worker has reported so far (bundle progress and finished bundles,
about once a second); a result without a job service (the FnApiRunner, which returns
only when the job is done) gives None, and so does any error: the caller then shows
what Kafka says instead.

The reader's per-partition watermark gauges come the same way (`running_watermarks`):
Prism serves gauges while the job runs, each with the time it was set.
"""

from __future__ import annotations

from typing import Optional

from transforms.compat import job_service_counters, job_service_gauges
from transforms.counting import PANES as COUNT_PANES
from transforms.decode import DECODE_DEAD_LETTERS
from transforms.kafka.read import RECORDS_READ
from transforms.kafka.watermarks import NAMESPACE as WATERMARKS
from transforms.kafka.watermarks import PartitionWatermark, from_gauges
from transforms.lateness import LATE_RECORDS
from transforms.text.tokenize import TOKENIZER_DEAD_LETTERS

__all__ = ["DEAD_LETTERS", "LATE", "PANES", "READ", "running_counters", "running_watermarks", "total"]

READ = (RECORDS_READ,)
DEAD_LETTERS = (DECODE_DEAD_LETTERS, TOKENIZER_DEAD_LETTERS)
LATE = (LATE_RECORDS,)
PANES = (COUNT_PANES,)

_TIMEOUT_S = 5.0


def running_counters(result) -> Optional[dict]:
    """{(namespace, name): total over steps} of a running portable job; None when it cannot say."""
    try:
        counters = job_service_counters(result, _TIMEOUT_S)
    except Exception:  # the job service is busy, gone or does not serve metrics: Kafka's view instead
        return None
    if counters is None:
        return None
    totals: dict = {}
    for counter in counters:
        key = (counter.key.metric.namespace, counter.key.metric.name)
        # While a bundle runs only `attempted` moves; `committed` catches up when it finishes.
        value = max(counter.attempted or 0, counter.committed or 0)
        totals[key] = totals.get(key, 0) + value
    return totals


def total(counters: Optional[dict], keys) -> Optional[int]:
    """The sum of `keys` in `counters`; None when counters is None."""
    if counters is None:
        return None
    return sum(counters.get(key, 0) for key in keys)


def running_watermarks(result) -> Optional[list[PartitionWatermark]]:
    """The reader's per-partition watermark gauges of a running portable job; None when it cannot say."""
    try:
        gauges = job_service_gauges(result, _TIMEOUT_S)
    except Exception:  # as for the counters: the caller asks Kafka instead
        return None
    if gauges is None:
        return None
    latest: dict = {}
    for gauge in gauges:
        if gauge.key.metric.namespace != WATERMARKS:
            continue
        # Committed when the bundle finished, attempted while it runs: the one set last.
        for cell in (gauge.committed, gauge.attempted):
            if cell is None or cell.value is None:
                continue
            name, stamp = gauge.key.metric.name, cell.timestamp or 0.0
            if name not in latest or stamp > latest[name][1]:
                latest[name] = (cell.value, stamp)
    return from_gauges(latest) if latest else None
