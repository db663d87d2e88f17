"""Throughput: every system on the same topic, the same tokenizer and the same windows.

Each system is a separate process, measured by `benchmarks.measure`. A round
runs every system once on the corpus topic and once on an empty topic with the
same partitions (its fixed cost: interpreter, imports, runner and job start-up,
consumer group join). Rounds are interleaved, so noise on the machine spreads
over all systems; each figure is the median over the rounds.

Two rates are reported: end to end (corpus messages / wall time of the whole
program) and net of start-up (corpus messages / (wall time - wall time on the
empty topic)), which is what the system sustains once running.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

from benchmarks.corpus import count_fingerprint
from benchmarks.measure import run_measured

__all__ = ["Context", "System", "SystemResult", "baseline_system", "config_system", "default_systems", "run_throughput"]

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Context:
    """What every system run needs to know."""

    bootstrap_servers: str
    topic: str
    empty_topic: str
    corpus_path: Path
    work_dir: Path
    messages: int
    expected_tokens: int
    expected_pairs: int
    window_s: float = 10.0
    out_of_orderness_s: float = 5.0
    quix_python: Optional[str] = None
    flink_cluster: Optional[dict] = None  # {"sets": [...], "pids": [...]} of the cluster the harness started
    keep_outputs: bool = True  # False: delete each run's rows once counted (a long stream writes GBs of them)


@dataclass
class Command:
    argv: list
    env: dict = field(default_factory=dict)
    stdout_to_output: bool = False  # the program writes its rows to stdout


@dataclass
class System:
    """One row of the table: how to run it and what it is compared as."""

    name: str
    group: str  # limit | baseline | pipeline | peer
    build: Callable[[Context, str, Path], Optional[Command]]  # (ctx, topic, output path) -> command
    counts: bool = True  # writes count rows that can be checked
    note: str = ""
    unavailable: Optional[str] = None  # why it is not measured
    uses_cluster: bool = False  # runs on the Flink session cluster the harness starts


@dataclass
class SystemResult:
    name: str
    group: str
    note: str = ""
    unavailable: Optional[str] = None
    runs: list = field(default_factory=list)  # dicts: wall_s, cpu_s, peak_rss_mb, tokens, pairs, ok
    empty_runs: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def median(self, key: str, empty: bool = False) -> Optional[float]:
        values = [run[key] for run in (self.empty_runs if empty else self.runs) if run.get(key) is not None]
        return statistics.median(values) if values else None


def _python_module(module: str, *args: str) -> list:
    return [sys.executable, "-m", module, *args]


def _pipeline_command(config: str, *sets: str, cluster: bool = False) -> Callable[[Context, str, Path], Command]:
    def build(ctx: Context, topic: str, out: Path) -> Command:
        overrides = {
            "source.bootstrap_servers": ctx.bootstrap_servers,
            "source.topics": f"[{topic}]",
            "source.group_id": f"bench-{uuid.uuid4().hex[:8]}",
            "source.start": "earliest",
            "source.stop": "latest",
            "source.max_out_of_orderness": f"{ctx.out_of_orderness_s}s",
            "window": f"{{type: fixed, size: {ctx.window_s}s}}",
            "sink": f"{{type: jsonl, path: {out}}}",
            "dead_letter": f"{{type: jsonl, path: {out}.dead}}",
            "late_records": f"{{type: jsonl, path: {out}.late}}",
        }
        argv = _python_module("pipeline", "run", "--config", str(REPO / "run_configs" / config))
        for key, value in overrides.items():
            argv += ["--set", f"{key}={value}"]
        for extra in [*sets, *(ctx.flink_cluster["sets"] if cluster and ctx.flink_cluster else [])]:
            argv += ["--set", extra]
        return Command(argv)

    return build


def config_system(name: str, config: str, note: str, *sets: str, cluster: bool = False) -> System:
    """The pipeline on run_configs/`config`, reading the benchmark topic to its end, `sets` on top."""
    path = REPO / "run_configs" / config
    unavailable = None if path.is_file() else f"run_configs/{config} does not exist yet"
    return System(
        name,
        "pipeline",
        _pipeline_command(config, *sets, cluster=cluster),
        note=note,
        unavailable=unavailable,
        uses_cluster=cluster,
    )


def baseline_system(name: str, note: str, engine: str = "fast") -> System:
    """systems/baseline.py: one consumer loop with a Counter per window (engine `guarded`: stock NLTK)."""

    def build(ctx: Context, topic: str, out: Path) -> Command:
        return Command(
            _python_module(
                "benchmarks.systems.baseline",
                "--bootstrap-servers",
                ctx.bootstrap_servers,
                "--topic",
                topic,
                "--out",
                str(out),
                "--window-s",
                str(ctx.window_s),
                "--out-of-orderness-s",
                str(ctx.out_of_orderness_s),
                "--engine",
                engine,
            )
        )

    return System(name, "baseline", build, note=note)


def default_systems(quix_python: Optional[str]) -> list[System]:
    """The systems of the table, in order."""

    def source(ctx, topic, out):
        return Command(
            _python_module(
                "benchmarks.systems.source_limit", "--bootstrap-servers", ctx.bootstrap_servers, "--topic", topic
            )
        )

    def tokenizer(processes: int):
        def build(ctx, topic, out):
            limit = ["--limit", "0"] if topic == ctx.empty_topic else []
            return Command(
                _python_module(
                    "benchmarks.systems.tokenizer_limit",
                    "--corpus",
                    str(ctx.corpus_path),
                    "--processes",
                    str(processes),
                    *limit,
                )
            )

        return build

    def quix(ctx, topic, out):
        state = ctx.work_dir / f"quix-state-{uuid.uuid4().hex[:8]}"
        return Command(
            [
                ctx.quix_python,
                str(REPO / "benchmarks" / "systems" / "quix_app.py"),
                "--bootstrap-servers",
                ctx.bootstrap_servers,
                "--topic",
                topic,
                "--out",
                str(out),
                "--state-dir",
                str(state),
                "--window-s",
                str(ctx.window_s),
                "--out-of-orderness-s",
                str(ctx.out_of_orderness_s),
            ]
        )

    def bytewax(ctx, topic, out):
        env = {
            "BENCH_BOOTSTRAP": ctx.bootstrap_servers,
            "BENCH_TOPIC": topic,
            "BENCH_WINDOW_S": str(ctx.window_s),
            "BENCH_OUT_OF_ORDERNESS_S": str(ctx.out_of_orderness_s),
        }
        return Command(_python_module("bytewax.run", "benchmarks.systems.bytewax_flow:flow"), env, True)

    import importlib.util

    bytewax_missing = (
        None if importlib.util.find_spec("bytewax") else "bytewax is not installed (pip install -e '.[bench]')"
    )

    return [
        System("source limit: confluent-kafka consume only", "limit", source, counts=False),
        System(
            "compute limit: NLTK tokenizer, 1 process",
            "limit",
            tokenizer(1),
            counts=False,
            note="no Kafka: corpus file",
        ),
        System(
            "compute limit: NLTK tokenizer, 2 processes",
            "limit",
            tokenizer(2),
            counts=False,
            note="no Kafka: corpus file",
        ),
        baseline_system("baseline: consumer loop + dict per window", "1 process"),
        config_system("pipeline: DirectRunner (on Prism)", "direct.yaml", "direct.yaml"),
        config_system("pipeline: PrismRunner", "prism.yaml", "prism.yaml"),
        # A bounded job that asks for worker processes runs on Beam's FnApiRunner, one per core here.
        config_system(
            "pipeline: DirectRunner, a worker process per core (FnApiRunner)",
            "direct.yaml",
            "direct.yaml + options.direct_num_workers=0 (one per core)",
            "options.direct_num_workers=0",
        ),
        config_system(
            "pipeline: FlinkRunner embedded", "flink-local.yaml", "flink-local.yaml (parallelism 2, LOOPBACK)"
        ),
        config_system(
            "pipeline: FlinkRunner cluster",
            "flink-cluster.yaml",
            "flink-cluster.yaml (parallelism 2, worker pool); CPU and RSS include the cluster",
            cluster=True,
        ),
        System(
            "peer: Quix Streams 3.28",
            "peer",
            quix,
            note="own venv; group_by + tumbling_window().sum()",
            unavailable=None if quix_python else "Quix Streams environment could not be prepared",
        ),
        System(
            "peer: Bytewax 0.21", "peer", bytewax, note="1 worker; flat_map + count_window", unavailable=bytewax_missing
        ),
    ]


def _read_counts(path: Path) -> tuple[int, int, int]:
    """(sum of counts, number of count rows, fingerprint of the counts) of a JSON-lines output."""
    tokens = pairs = fingerprint = 0
    if not path.exists():
        return 0, 0, 0
    with open(path, encoding="utf-8") as rows:
        for line in rows:
            if '"count"' not in line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if row.get("kind") == "count":
                tokens += row["count"]
                pairs += 1
                fingerprint += count_fingerprint(row["window_start"], row["token"], row["count"])
    return tokens, pairs, fingerprint % 2**64


def _result_line(log: Path) -> dict:
    """The RESULT line a benchmark program printed, if any."""
    if not log.exists():
        return {}
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    return {}


def _run_once(system: System, ctx: Context, topic: str, tag: str) -> dict:
    run_dir = ctx.work_dir / "runs" / f"{system.name.split(':')[0].replace(' ', '-')}-{tag}-{uuid.uuid4().hex[:6]}"
    run_dir.mkdir(parents=True, exist_ok=True)
    out = run_dir / "rows.jsonl"
    command = system.build(ctx, topic, out)
    env = {**os.environ, "PYTHONPATH": str(REPO), **command.env}
    log = run_dir / "log.txt"
    extra_pids = ctx.flink_cluster["pids"] if system.uses_cluster and ctx.flink_cluster else ()
    measured = run_measured(
        command.argv,
        log_path=log,
        env=env,
        cwd=REPO,
        extra_pids=extra_pids,
        stdout_path=out if command.stdout_to_output else run_dir / "stdout.txt",
    )
    stdout_result = _result_line(run_dir / "stdout.txt") or _result_line(log)
    run = {
        "wall_s": measured.wall_s,
        "cpu_s": measured.cpu_s,
        "peak_rss_mb": measured.peak_rss_bytes / 2**20,
        "returncode": measured.returncode,
        "log": str(log),
        **{f"reported_{k}": v for k, v in stdout_result.items()},
    }
    if system.counts:
        run["tokens"], run["pairs"], run["fingerprint"] = _read_counts(out)
    if not ctx.keep_outputs:
        for rows in run_dir.glob("rows.jsonl*"):
            rows.unlink()
    elif "tokens" in stdout_result:
        run["tokens"] = stdout_result["tokens"]
    if measured.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        run["error"] = f"exit {measured.returncode}: {' | '.join(tail)[-400:]}"
    return run


def run_throughput(
    ctx: Context, systems: list[System], rounds: int, progress=print, empty: bool = True
) -> list[SystemResult]:
    """Runs every available system `rounds` times on the corpus (and on the empty topic unless `empty` is False)."""
    results = {s.name: SystemResult(s.name, s.group, s.note, s.unavailable) for s in systems}
    available = [s for s in systems if s.unavailable is None]
    for round_index in range(rounds):
        for system in available:
            result = results[system.name]
            if len(result.errors) > round_index:  # failed in an earlier round: do not retry forever
                continue
            passes = ((ctx.empty_topic, result.empty_runs, "empty"),) if empty else ()
            for topic, runs, tag in (*passes, (ctx.topic, result.runs, "corpus")):
                progress(f"  round {round_index + 1}/{rounds}: {system.name} ({tag})")
                try:
                    run = _run_once(system, ctx, topic, tag)
                except TimeoutError as e:
                    run = {"error": str(e)}
                if "error" in run:
                    result.errors.append(run["error"])
                    progress(f"    failed: {run['error']}")
                    break
                runs.append(run)
                progress(
                    f"    {run['wall_s']:.1f}s wall, {run['cpu_s']:.1f}s CPU, {run['peak_rss_mb']:.0f} MB peak RSS"
                    + (f", {run['tokens']} tokens" if "tokens" in run else "")
                )
    return list(results.values())


def as_dicts(results: list[SystemResult]) -> list[dict]:
    return [asdict(r) for r in results]
