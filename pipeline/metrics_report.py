"""The counters a run ends with, and the account that proves nothing was lost (docs/design.md, decision 10).

Three equations, from counters that different steps keep, so that a step that
loses or invents something breaks one of them:

- records: `read = decoded + dead letters` (decode and event-time dead letters);
- windows: `decoded x windows = counted + late + tokenizer dead letters`, each in
  (message, window) pairs; checked where panes do not repeat (discarding);
- offsets, per partition: `committed - start = read + offsets proven empty` (by
  reason): nothing committed that the reader did not read or prove empty.

What would be a loss or an invention fails the run: more committed than was read
or proven empty, more (message, window) pairs counted than exist. Figures short of
the expected only warn: offsets read but not committed are re-read by a restart
(a stopped run has them), and a runner may end a job without the counters of its
last bundles (seen on Prism); the offsets, committed only behind the output, stay
the proof.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from apache_beam.metrics.metric import MetricsFilter

from transforms.counting import COUNTED_WINDOWS, PANES
from transforms.decode import DECODE_DEAD_LETTERS, DECODED
from transforms.kafka.account import COMMITTED, NAMESPACE, READ, parse_name
from transforms.kafka.read import EVENT_TIME_FALLBACKS, RECORDS_READ
from transforms.lateness import LATE_WINDOWS_COUNTER, MESSAGE_WINDOWS
from transforms.sinks import ROWS_WRITTEN
from transforms.text.tokenize import TOKENIZER_DEAD_LETTER_WINDOWS, TOKENIZER_DEAD_LETTERS, TOKENS

__all__ = ["Account", "account", "counter_totals", "settled_counter_totals"]

_SHOWN = (
    RECORDS_READ,
    DECODED,
    DECODE_DEAD_LETTERS,
    TOKENIZER_DEAD_LETTERS,
    TOKENS,
    PANES,
    ROWS_WRITTEN,
)
# Partitions listed one per line at most; beyond that, only those that do not balance.
_PARTITION_LINES = 8


def settled_counter_totals(result, *, settle_s: float = 1.0, timeout_s: float = 15.0) -> dict:
    """counter_totals once two readings `settle_s` apart agree (or after `timeout_s`).

    A runner may say a job is done before it has folded in the metrics of the last bundles
    (seen on Prism: a bounded job DONE with a fifth of its panes' counters still missing).
    """
    deadline = time.monotonic() + timeout_s
    totals = counter_totals(result)
    while time.monotonic() < deadline:
        time.sleep(settle_s)
        again = counter_totals(result)
        if again == totals:
            break
        totals = again
    return totals


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


class Account(NamedTuple):
    """The account's lines, and whether it holds."""

    lines: list
    ok: bool


def _partition_figures(totals: dict) -> dict:
    """{(topic, partition): {"read": n, "committed": n, "empty": {reason: n}}} from the OffsetAccount counters."""
    figures: dict = {}
    for (namespace, name), value in totals.items():
        key = parse_name(name) if namespace == NAMESPACE else None
        if key is None:
            continue
        entry = figures.setdefault((key.topic, key.partition), {READ: 0, COMMITTED: 0, "empty": {}})
        if key.kind.startswith("empty:"):
            reason = key.kind[len("empty:") :]
            entry["empty"][reason] = entry["empty"].get(reason, 0) + value
        elif key.kind in (READ, COMMITTED):
            entry[key.kind] += value
    return figures


def _empty_text(empty: dict) -> str:
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(empty.items()) if n)
    return f" ({reasons})" if reasons else ""


def _offset_lines(totals: dict, commits: bool, ended: bool) -> Account:
    figures = _partition_figures(totals)
    if not figures:
        return Account([], True)
    lines, ok = [], True
    sums = {READ: 0, COMMITTED: 0, "empty": {}}
    unwritten = 0
    for (topic, partition), entry in sorted(figures.items()):
        accounted = entry[READ] + sum(entry["empty"].values())
        for reason, n in entry["empty"].items():
            sums["empty"][reason] = sums["empty"].get(reason, 0) + n
        sums[READ] += entry[READ]
        sums[COMMITTED] += entry[COMMITTED]
        if not commits:
            continue
        short = accounted - entry[COMMITTED]
        if short < 0:
            verdict, ok = f"MISMATCH: {-short} offsets committed that were never read", False
        else:
            # Short is not a loss: a restart re-reads them (or the runner lost its last bundles' counters).
            unwritten += short
            verdict = f"{short} read but not committed" if short and ended else "ok"
        if len(figures) <= _PARTITION_LINES or verdict != "ok":
            lines.append(
                f"offsets {topic}-{partition}: committed {entry[COMMITTED]} = read {entry[READ]} + proven empty "
                f"{sum(entry['empty'].values())}{_empty_text(entry['empty'])}: {verdict}"
            )
    empty_total = sum(sums["empty"].values())
    if not commits:
        lines.append(
            f"offsets: read {sums[READ]} + proven empty {empty_total}{_empty_text(sums['empty'])}; "
            "none committed (no source.group_id, or commit_offsets off)"
        )
        return Account(lines, True)
    verdict = "ok" if ok else "MISMATCH"
    lines.append(
        f"offsets, {len(figures)} partition(s): committed {sums[COMMITTED]} = read {sums[READ]} + proven empty "
        f"{empty_total}{_empty_text(sums['empty'])}"
        + (f" - not committed {unwritten}" if unwritten else "")
        + f": {verdict}"
    )
    if unwritten:
        lines.append(
            f"  {unwritten} offsets read but not committed (not yet written, or counters the runner did not "
            "report): a restart from committed re-reads them"
        )
    return Account(lines, ok)


def _window_line(totals: dict, ended: bool) -> Account:
    expected = totals.get(MESSAGE_WINDOWS)
    if expected is None:
        return Account([], True)
    late = totals.get(LATE_WINDOWS_COUNTER, 0)
    failed = totals.get(TOKENIZER_DEAD_LETTER_WINDOWS, 0)
    counted = totals.get(COUNTED_WINDOWS)
    if counted is None:
        return Account(
            [f"windows: decoded x windows {expected}, late {late}; counted not checked (accumulating panes repeat)"],
            True,
        )
    text = f"windows: decoded x windows {expected} = counted {counted} + late {late} + tokenizer dead letters {failed}"
    if counted + late + failed == expected:
        return Account([f"{text}: ok"], True)
    if counted + late + failed < expected:
        missing = expected - counted - late - failed
        if not ended:
            return Account([f"{text}: {missing} not yet counted (the run was stopped)"], True)
        # Prism has been seen to end a job without the counters of its last bundles: the offsets
        # (committed only behind written panes) are the proof; this line is a warning.
        return Account(
            [f"{text}: warning: {missing} not in the counters (the runner may not report its last bundles)"], True
        )
    return Account([f"{text}: MISMATCH"], False)


def account(result, *, commits: bool = True, ended: bool = True) -> Account:
    """The run's counters and its account; `ended`: the job finished (bounded, or drained), not stopped."""
    totals = settled_counter_totals(result)
    if not totals:
        return Account(["metrics: none reported by the runner; the account cannot be checked"], True)
    lines = ["metrics: " + ", ".join(f"{ns}.{name}={totals.get((ns, name), 0)}" for ns, name in _SHOWN)]
    read = totals.get(RECORDS_READ, 0)
    decoded = totals.get(DECODED, 0)
    dead = totals.get(DECODE_DEAD_LETTERS, 0)
    records_ok = read == decoded + dead
    lines.append(f"records read {read} = decoded {decoded} + dead letters {dead}: {'ok' if records_ok else 'MISMATCH'}")
    fallbacks = totals.get(EVENT_TIME_FALLBACKS, 0)
    if fallbacks:
        lines.append(
            f"event time: {fallbacks} records had no usable payload time and were stamped with their Kafka timestamp"
        )
    windows = _window_line(totals, ended)
    offsets = _offset_lines(totals, commits, ended)
    ok = records_ok and windows.ok and offsets.ok
    lines += windows.lines + offsets.lines
    lines.append("account: ok" if ok else "error: the account does not balance (see the MISMATCH lines above)")
    return Account(lines, ok)
