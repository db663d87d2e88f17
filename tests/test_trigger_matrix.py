"""Triggers on real streams, on every runner: what the Beam model promises about panes.

Each case is one live, unbounded run of the CLI on the real broker (`--duration` drains it):

1. a warm-up of 5 messages, whose window's first pane shows that the job is reading;
2. a first batch sent live, one message every 0.1 s, stamped with the send time;
3. for the cases with allowed lateness: once the ON_TIME pane of the first batch's first
   window is in the output (the watermark has passed that window), late messages whose
   event time lies in that window.

The oracle is computed from the messages sent (whitespace tokens, lowercased). Per
window (and, for `count.by_key`, per window and message key) the panes must satisfy:
distinct, increasing pane indices, one summary row per pane; timings EARLY, then at most
one ON_TIME, then LATE, in index order; `pane_is_last` on at most one pane, the last;
accumulating: every pane holds at least what the one before held and the last pane equals
the oracle; discarding: the panes add up to the oracle. Every message is read and
counted (`records read = decoded`), none is reported late, and the cases that send late
messages see LATE panes.

Runners: Prism (run_configs/direct.yaml: the DirectRunner hands a stream to Prism),
embedded Flink (flink-local.yaml) and the Flink cluster (flink-cluster.yaml). Prism 2.77
crashes on processing-time firings in a stream, so validate refuses them there
(tests/test_runner_check.py) and the Prism cases fire by element count; the Flink cases
fire by processing time and by element count. Session windows are not part of the
matrix: the DirectRunner does not hand them to Prism, and Prism labels session panes
EARLY with pane_index -1 (apache/beam#33623), which the assertions here would refuse.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timezone

import pytest

from pipeline.devtools.producer import ProducerRecord, produce_messages
from tests.integration_helpers import REPO, config_overrides, read_rows, records_accounting, start_cli

CONFIGS = {name: str(REPO / "run_configs" / f"{name}.yaml") for name in ("direct", "flink-local", "flink-cluster")}
_RANK = {"EARLY": 0, "ON_TIME": 1, "LATE": 2}
_WARM_UP, _BATCH, _LATE = 5, 40, 6
_INTERVAL_S = 0.1
# --duration: the reader's deadline, counted from when it starts reading. The cases with late messages
# wait for an ON_TIME pane first, which a busy machine can delay by many seconds.
_READ_S, _READ_WITH_LATE_S = 35, 55


def _prism_or_flink(runner: str, prism, flink):
    return prism if runner == "direct" else flink


# name -> (window settings, trigger settings for a runner, count.by_key, sends late messages)
CASES = {
    # Early firings, the on-time pane, a late pane per late message; each pane repeats what came before.
    "fixed-accumulating-late-by-key": (
        {"type": "fixed", "size": "3s"},
        lambda runner: {
            "early": _prism_or_flink(runner, {"every_n": 4}, "1s"),
            "late": {"every_n": 1},
            "allowed_lateness": "1m",
            "accumulation": "accumulating",
        },
        True,
        True,
    ),
    # Each message in two windows; each pane holds only what arrived since the one before.
    "sliding-discarding-late": (
        {"type": "sliding", "size": "4s", "period": "2s"},
        lambda runner: {
            "early": {"every_n": _prism_or_flink(runner, 4, 2)},
            "late": _prism_or_flink(runner, {"every_n": 1}, "1s"),
            "allowed_lateness": "1m",
            "accumulation": "discarding",
        },
        False,
        True,
    ),
    # A window that never closes until the drain: only the repeated firing (and the final pane).
    "global-repeat-accumulating": (
        {"type": "global"},
        lambda runner: {"repeat": _prism_or_flink(runner, {"every_n": 5}, "1s"), "accumulation": "accumulating"},
        False,
        False,
    ),
}


def _iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _windows(window: dict, ms: int) -> list[tuple]:
    """(window_start, window_end) of each window an event time falls in, as the rows name them."""
    if window["type"] == "global":
        return [(None, None)]
    size = int(window["size"].rstrip("s")) * 1000
    period = int(window.get("period", window["size"]).rstrip("s")) * 1000
    last = ms - ms % period
    return [
        (_iso(start), _iso(start + size))
        for start in range(last - size + period, last + 1, period)
        if start <= ms < start + size
    ]


class _Stamped:
    """Messages stamped with the time they are sent, kept for the oracle."""

    def __init__(self):
        self.sent: list[ProducerRecord] = []

    def live(self, texts, keys):
        for text, key in zip(texts, keys):
            message = ProducerRecord(text, key, int(time.time() * 1000))
            self.sent.append(message)
            yield message

    def at(self, texts, keys, timestamp_ms: int):
        messages = [ProducerRecord(text, key, timestamp_ms) for text, key in zip(texts, keys)]
        self.sent.extend(messages)
        return messages


def _oracle(window: dict, messages: list[ProducerRecord]):
    """Per window: (message count, token counts); per (window, key): token counts."""
    windows, keyed = defaultdict(lambda: [0, Counter()]), defaultdict(Counter)
    for message in messages:
        tokens = message.value.lower().split()
        for win in _windows(window, message.timestamp_ms):
            windows[win][0] += 1
            windows[win][1].update(tokens)
            keyed[(*win, message.key)].update(tokens)
    return {win: (n, counts) for win, (n, counts) in windows.items()}, dict(keyed)


def _wait_for(what: str, check, timeout_s: float, runner, log):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        assert runner.poll() is None, f"the run ended before {what}:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout_s:g}s:\n{log.read_text()[-3000:]}")


def _run_case(runner: str, case: str, kafka_broker, fresh_topic, tmp_path, extra: dict):
    """Runs one case live; returns (rows, late-record rows, messages sent, CLI log, seconds)."""
    window, trigger_for, by_key, sends_late = CASES[case]
    bootstrap, topic = kafka_broker.bootstrap_servers, fresh_topic(partitions=2, prefix="triggers")
    out, late_out, log = tmp_path / "rows.jsonl", tmp_path / "late.jsonl", tmp_path / "run.log"
    started = time.monotonic()
    process = start_cli(
        "run",
        "--config",
        CONFIGS[runner],
        "--duration",
        f"{_READ_WITH_LATE_S if sends_late else _READ_S}s",
        *config_overrides(
            source__bootstrap_servers=bootstrap,
            source__topics=[topic],
            source__group_id=f"triggers-{uuid.uuid4().hex[:8]}",
            source__max_out_of_orderness="1s",
            tokenize__tokenizer="whitespace",
            window=window,
            trigger=trigger_for(runner),
            count__by_key=by_key,
            sink__type="jsonl",
            sink__path=str(out),
            late_records__type="jsonl",
            late_records__path=str(late_out),
            **extra,
        ),
        log_path=log,
    )
    stamped = _Stamped()
    try:
        keys = [f"k{i % 3}" for i in range(max(_WARM_UP, _BATCH, _LATE))]
        produce_messages(bootstrap, topic, stamped.live([f"warm up w{i}" for i in range(_WARM_UP)], keys))
        _wait_for("pane of the warm-up", lambda: read_rows(out, "summary"), 240, process, log)
        produce_messages(
            bootstrap,
            topic,
            stamped.live([f"alpha w{i % 5} beta{i % 2}" for i in range(_BATCH)], keys),
            rate=1 / _INTERVAL_S,
        )
        if sends_late:
            first = stamped.sent[_WARM_UP].timestamp_ms
            targets = set(_windows(window, first))
            _wait_for(
                "ON_TIME pane of the first batch's first window",
                lambda: (
                    targets
                    <= {
                        (r["window_start"], r["window_end"])
                        for r in read_rows(out, "summary")
                        if r["pane_timing"] == "ON_TIME"
                    }
                ),
                60,
                process,
                log,
            )
            produce_messages(bootstrap, topic, stamped.at([f"late alpha w{i % 2}" for i in range(_LATE)], keys, first))
        assert process.wait(timeout=240) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    seconds = time.monotonic() - started
    print(f"{runner} {case}: {seconds:.1f}s")
    return read_rows(out), read_rows(late_out), stamped.sent, log.read_text(), seconds


def _panes(rows: list[dict], kind: str, group_fields: tuple) -> dict:
    """group -> {pane_index: [rows of that pane]}."""
    groups = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["kind"] == kind:
            groups[tuple(row[f] for f in group_fields)][row["pane_index"]].append(row)
    return groups


def _pane_order_faults(group, panes: dict) -> list[str]:
    """What breaks the model in the order of a window's panes: timings, ON_TIME, pane_is_last."""
    indices = sorted(panes)
    timings = []
    for index in indices:
        seen = {(r["pane_timing"], r["pane_is_last"]) for r in panes[index]}
        assert len(seen) == 1, f"{group}: pane {index} has rows of different panes: {seen}"
        timings.append(seen.pop())
    names = [timing for timing, _ in timings]
    faults = []
    if not all(name in _RANK for name in names) or [_RANK[n] for n in names] != sorted(_RANK[n] for n in names):
        faults.append(f"{group}: pane timings out of order: {names}")
    if names.count("ON_TIME") > 1:
        faults.append(f"{group}: more than one ON_TIME pane: {names}")
    last_flags = [i for i, (_, is_last) in zip(indices, timings) if is_last]
    if last_flags not in ([], [indices[-1]]):
        faults.append(f"{group}: pane_is_last on panes {last_flags} of {indices}")
    return faults


def _check_model(rows: list[dict], case: str, sent: list[ProducerRecord]) -> tuple[Counter, list[str]]:
    """Asserts the counts the model promises; returns the panes by timing and the pane-order faults."""
    window, trigger_for, by_key, _ = CASES[case]
    accumulating = trigger_for("direct")["accumulation"] == "accumulating"
    expected, expected_by_key = _oracle(window, sent)
    timings, faults = Counter(), []
    window_fields = ("window_start", "window_end")
    summaries, counts = _panes(rows, "summary", window_fields), _panes(rows, "count", window_fields)
    assert set(summaries) == set(expected), "the windows with panes are not the windows of the messages sent"
    for win, panes in summaries.items():
        indices = sorted(panes)
        faults += _pane_order_faults(win, panes)
        assert all(len(panes[i]) == 1 for i in indices), f"{win}: a pane with several summary rows"
        assert set(counts[win]) <= set(indices), f"{win}: count rows of panes without a summary"
        timings.update(panes[i][0]["pane_timing"] for i in indices)
        messages = [panes[i][0]["messages"] for i in indices]
        tokens = [Counter({r["token"]: r["count"] for r in counts[win].get(i, [])}) for i in indices]
        n, oracle = expected[win]
        if accumulating:
            assert all(a <= b for a, b in zip(messages, messages[1:])), f"{win}: accumulating panes shrink: {messages}"
            assert all(not (a - b) for a, b in zip(tokens, tokens[1:])), f"{win}: accumulating panes lose counts"
            assert (messages[-1], tokens[-1]) == (n, oracle), f"{win}: the last pane is not the whole window"
        else:
            assert (sum(messages), sum(tokens, Counter())) == (n, oracle), f"{win}: the panes do not add up"
    if by_key:
        keyed = _panes(rows, "key_count", (*window_fields, "key"))
        assert set(keyed) == set(expected_by_key)
        for group, panes in keyed.items():
            indices = sorted(panes)
            faults += _pane_order_faults(group, panes)
            per_pane = [Counter({r["token"]: r["count"] for r in panes[i]}) for i in indices]
            total = per_pane[-1] if accumulating else sum(per_pane, Counter())
            assert total == expected_by_key[group], f"{group}: key counts differ from the oracle"
    return timings, faults


# Pane-order faults a runner is known to have, with the evidence; the counts are still asserted.
# A case listed here that comes out clean fails, so the entry goes when the runner is fixed.
KNOWN_FAULTS = {
    ("direct", "fixed-accumulating-late-by-key"): (
        "Prism 2.77, accumulating with an early element-count firing: late messages that arrive after "
        "the window's ON_TIME pane fire panes labelled EARLY and ON_TIME again before the LATE one "
        "(measured: ON_TIME, EARLY, EARLY, ON_TIME, LATE); the counts are right, and the per-key panes "
        "(fewer late messages than every_n) come out ON_TIME, LATE"
    ),
}

_RUNNERS = [
    pytest.param("direct", id="prism"),
    pytest.param("flink-local", id="flink-embedded"),
    pytest.param("flink-cluster", id="flink-cluster"),
]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("runner", _RUNNERS)
def test_trigger_panes_keep_the_model_on_a_real_stream(runner, case, request, kafka_broker, fresh_topic, tmp_path):
    extra = {}
    if runner != "direct":
        request.getfixturevalue("flink_job_server_jar")
        # No checkpoint while the job's tasks start (on a busy machine a checkpoint then can hold back
        # Beam 2.62's Impulse, see docs/runners.md): offsets are committed behind the output, not by checkpoints.
        extra["options__checkpointing_interval"] = 120_000
    if runner == "flink-cluster":
        cluster = request.getfixturevalue("flink_cluster")
        extra.update(
            {"options__flink_master": cluster.flink_master, "options__environment_config": cluster.worker_pool_address}
        )
    rows, late_rows, sent, log, _ = _run_case(runner, case, kafka_broker, fresh_topic, tmp_path, extra)
    executing = "PrismRunner" if runner == "direct" else "FlinkRunner"
    assert f"executing on: {executing}" in log
    read, decoded, dead, verdict = records_accounting(log)
    assert (read, decoded, dead, verdict) == (len(sent), len(sent), 0, "ok"), "every message read and decoded"
    assert late_rows == [], "messages within the allowed lateness were reported late instead of counted"
    timings, faults = _check_model(rows, case, sent)
    *_, sends_late = CASES[case]
    if sends_late:
        assert timings["LATE"] >= 1 and timings["ON_TIME"] >= 1, f"panes by timing: {dict(timings)}"
    assert timings["EARLY"] >= 1, f"no early or repeated firing at all: {dict(timings)}"
    known = KNOWN_FAULTS.get((runner, case))
    if known is None:
        assert not faults, "\n".join(faults)
        return
    assert faults, f"the known fault is gone: remove it from KNOWN_FAULTS ({known})"
    assert all("pane timings out of order" in f or "more than one ON_TIME" in f for f in faults), "\n".join(faults)
    pytest.xfail(known)
