"""Streaming: on-time pane latency and memory over time, in one unbounded run of the pipeline.

A producer thread sends corpus messages at a steady rate into a fresh topic,
each stamped with the time it is sent (Kafka CreateTime = now). The pipeline
runs unbounded on the DirectRunner (Prism) with short fixed windows and a small
`max_out_of_orderness`, writing JSON lines; the harness tails that file and
notes the wall-clock time each line appears.

Latency of an on-time pane = the time its rows appear in the file minus
(window_end + max_out_of_orderness). The reader's watermark is the largest event
time seen minus max_out_of_orderness, and records are stamped with the time they
are sent, so window_end + max_out_of_orderness is the earliest moment the
watermark can pass the window's end: the delay measured is what the runner
adds (reader checkpoints, watermark propagation, the combine, the pane rows,
the sink's write at the end of its bundle). Panes of the first `warmup_s` are
left out: the job is starting and reading its first backlog then.

Memory: the RSS of the pipeline's whole process tree (the python launcher, which
also hosts the SDK worker on Prism's LOOPBACK environment, and Prism) is sampled
every few seconds; reported at the first pane ("start"), one minute later, and at
the end of the soak.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Optional

from benchmarks.measure import run_measured
from pipeline.devtools.producer import ProducerRecord, ensure_topic, produce_messages

__all__ = ["StreamingResult", "run_streaming"]

REPO = Path(__file__).resolve().parent.parent


@dataclass
class StreamingResult:
    config: str
    duration_s: float
    rate: float
    window_s: float
    out_of_orderness_s: float
    warmup_s: float
    latencies_s: list = field(default_factory=list)
    panes_seen: int = 0
    late_or_early_panes: int = 0
    rss_samples: list = field(default_factory=list)  # (seconds since launch, bytes)
    first_pane_at_s: Optional[float] = None
    last_pane_at_s: Optional[float] = None
    produced: int = 0
    returncode: Optional[int] = None
    cpu_s: Optional[float] = None
    error: Optional[str] = None

    def percentile(self, q: float) -> Optional[float]:
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]

    def rss_at(self, seconds_after_first_pane: float) -> Optional[float]:
        """RSS (MB) of the sample nearest to that moment."""
        if self.first_pane_at_s is None or not self.rss_samples:
            return None
        target = self.first_pane_at_s + seconds_after_first_pane
        nearest = min(self.rss_samples, key=lambda sample: abs(sample[0] - target))
        return nearest[1] / 2**20

    def summary(self) -> dict:
        return {
            "latency_p50_s": self.percentile(50),
            "latency_p99_s": self.percentile(99),
            "latency_max_s": max(self.latencies_s) if self.latencies_s else None,
            "latency_mean_s": statistics.mean(self.latencies_s) if self.latencies_s else None,
            "on_time_panes": len(self.latencies_s),
            "rss_start_mb": self.rss_at(0),
            "rss_1min_mb": self.rss_at(60),
            "rss_end_mb": self.rss_at(self.duration_s),
            "covered_s": self.covered_s,
        }

    @property
    def covered_s(self) -> float:
        """How long panes kept coming: first pane to last pane."""
        if self.first_pane_at_s is None or self.last_pane_at_s is None:
            return 0.0
        return self.last_pane_at_s - self.first_pane_at_s


def _iso_to_epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class _Tail(threading.Thread):
    """Notes when each line of a growing file appears."""

    def __init__(self, path: Path, interval_s: float = 0.01):
        super().__init__(daemon=True)
        self._path = path
        self._interval_s = interval_s
        self._stop_event = threading.Event()
        self.lines: list[tuple[float, str]] = []

    def run(self) -> None:
        buffered = b""
        handle = None
        while True:
            stopping = self._stop_event.is_set()
            if handle is None and self._path.exists():
                handle = open(self._path, "rb")
            if handle is not None:
                chunk = handle.read()
                if chunk:
                    now = time.time()
                    buffered += chunk
                    *complete, buffered = buffered.split(b"\n")
                    self.lines.extend((now, line.decode("utf-8", "replace")) for line in complete if line)
            if stopping:
                break
            time.sleep(self._interval_s)
        if handle is not None:
            handle.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _produce_steadily(
    bootstrap: str, topic: str, texts: list, rate: float, stop: threading.Event, counter: dict
) -> None:
    def messages():
        for i, text in enumerate(itertools.cycle(texts)):
            if stop.is_set():
                return
            counter["sent"] = i + 1
            yield ProducerRecord(text, key=f"key-{i % 8}")  # no timestamp: CreateTime is the send time

    try:
        produce_messages(bootstrap, topic, messages(), rate=rate, producer_config={"linger.ms": 0})
    except Exception as e:  # noqa: BLE001 - reported with the result
        counter["error"] = repr(e)


def run_streaming(
    bootstrap: str,
    texts: list,
    work_dir: Path,
    *,
    duration_s: float,
    rate: float = 200.0,
    window_s: float = 2.0,
    out_of_orderness_s: float = 1.0,
    warmup_s: float = 20.0,
    partitions: int = 4,
    config: str = "direct.yaml",
    progress=print,
) -> StreamingResult:
    """One unbounded run of `duration_s` (+ warm-up) at `rate` messages/s; latency and RSS."""
    topic = f"bench-stream-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, partitions)
    run_dir = work_dir / "streaming"
    run_dir.mkdir(parents=True, exist_ok=True)
    out = run_dir / f"{topic}.jsonl"
    result = StreamingResult(config, duration_s, rate, window_s, out_of_orderness_s, warmup_s)
    sets = {
        "source.bootstrap_servers": bootstrap,
        "source.topics": f"[{topic}]",
        "source.group_id": f"bench-{uuid.uuid4().hex[:8]}",
        "source.start": "earliest",
        "source.max_out_of_orderness": f"{out_of_orderness_s}s",
        "window": f"{{type: fixed, size: {window_s}s}}",
        "sink": f"{{type: jsonl, path: {out}}}",
        "dead_letter": f"{{type: jsonl, path: {out}.dead}}",
        "late_records": f"{{type: jsonl, path: {out}.late}}",
        # Beam's PortableRunner opens the job's state stream with job_server_timeout (300 s by default) as
        # its gRPC deadline, so a longer run dies with DEADLINE_EXCEEDED after 5 minutes (apache/beam#35867).
        "options.job_server_timeout": str(int(duration_s + warmup_s + 3600)),
    }
    argv = [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "--config",
        str(REPO / "run_configs" / config),
        "--duration",
        f"{duration_s + warmup_s + 10:.0f}s",
    ]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]

    stop_producing = threading.Event()
    produced: dict = {}
    producer = threading.Thread(
        target=_produce_steadily, args=(bootstrap, topic, texts, rate, stop_producing, produced), daemon=True
    )
    tail = _Tail(out)
    launched_at = time.time()

    def while_running(process) -> None:
        producer.start()
        tail.start()
        deadline = time.time() + duration_s + warmup_s + 10
        next_report = time.time() + 60
        while process.poll() is None and time.time() < deadline + 150:
            time.sleep(0.5)
            if time.time() >= next_report:
                progress(
                    f"  streaming: {time.time() - launched_at:.0f}s, {len(tail.lines)} rows, "
                    f"{produced.get('sent', 0)} messages sent"
                )
                next_report += 60
        stop_producing.set()

    progress(
        f"  streaming run: {duration_s:.0f}s (+{warmup_s:.0f}s warm-up) at {rate:g} messages/s, "
        f"{window_s:g}s windows, max_out_of_orderness {out_of_orderness_s:g}s"
    )
    try:
        measured = run_measured(
            argv,
            log_path=run_dir / "log.txt",
            env={**os.environ, "PYTHONPATH": str(REPO)},
            cwd=REPO,
            timeout_s=duration_s + warmup_s + 300,
            interval_s=2.0,
            while_running=while_running,
        )
        result.returncode, result.cpu_s = measured.returncode, measured.cpu_s
        result.rss_samples = measured.rss_samples
    except TimeoutError as e:
        result.error = str(e)
    finally:
        stop_producing.set()
        tail.stop()
        producer.join(timeout=30)
    result.produced = produced.get("sent", 0)
    if produced.get("error"):
        result.error = f"producer: {produced['error']}"
    _collect_panes(result, tail.lines, launched_at)
    return result


def _collect_panes(result: StreamingResult, lines: list, launched_at: float) -> None:
    panes: dict = {}
    for seen_at, line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("kind") != "summary" or not row.get("window_end"):
            continue
        panes.setdefault((row["window_end"], row["pane_timing"], row["pane_index"]), seen_at)
    if not panes:
        return
    first = min(panes.values())
    result.first_pane_at_s = first - launched_at
    result.last_pane_at_s = max(panes.values()) - launched_at
    result.panes_seen = len(panes)
    for (window_end, timing, _), seen_at in sorted(panes.items()):
        if timing != "ON_TIME":
            result.late_or_early_panes += 1
            continue
        if seen_at < first + result.warmup_s:
            continue
        result.latencies_s.append(seen_at - (_iso_to_epoch(window_end) + result.out_of_orderness_s))
