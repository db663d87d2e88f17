"""`python -m benchmarks run`: the whole benchmark, from a fresh topic to RESULTS.md and the chart.

    python -m benchmarks run                     # 3 rounds, a 10-minute streaming soak
    python -m benchmarks run --quick             # 1 round, a 2-minute soak
    python -m benchmarks run --skip streaming    # throughput only
    python -m benchmarks run --bootstrap-servers 127.0.0.1:9092   # use a running broker
    python -m benchmarks sidebyside              # the loop and the runners on 120,000 messages, whole processes

Without --bootstrap-servers the harness starts a Kafka broker of its own
(pipeline.stack.KafkaBroker, on free ports, state in a temporary directory) and
stops it at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "README.md"


def _duration(text: str) -> float:
    from pipeline.config import parse_duration

    return parse_duration(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the benchmarks and write benchmarks/results/")
    run.add_argument("--quick", action="store_true", help="1 round and a 2-minute soak")
    run.add_argument("--rounds", type=int, help="runs of each system; each figure is the median (default 3)")
    run.add_argument("--soak", type=_duration, help="streaming run length after warm-up (default 10m; --quick 2m)")
    run.add_argument("--rate", type=float, default=200.0, help="streaming produce rate, messages/s (default 200)")
    run.add_argument("--partitions", type=int, default=4, help="partitions of the benchmark topics (default 4)")
    run.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("throughput", "streaming", "peers", "flink"),
        help="leave a part out (repeatable)",
    )
    run.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="only the throughput systems whose name contains TEXT (repeatable)",
    )
    run.add_argument("--bootstrap-servers", help="use this Kafka instead of starting one")
    run.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    run.add_argument("--keep-work", action="store_true", help="keep the work directory (logs, outputs of every run)")
    side = commands.add_parser(
        "sidebyside",
        help="the newcomer's loop against the project's runners on a long stream, whole processes "
        "(writes results/sidebyside.json, the block in RESULTS.md and the README's table)",
    )
    side.add_argument("--messages", type=int, default=120_000, help="the corpus cycled into this many (default 120000)")
    side.add_argument("--span", type=_duration, default=2400.0, help="event times spread over this (default 40m)")
    side.add_argument("--rounds", type=int, default=3, help="interleaved rounds; each figure is the median (default 3)")
    side.add_argument("--partitions", type=int, default=4, help="partitions of the topic (default 4)")
    side.add_argument("--skip-flink", action="store_true", help="leave both Flink rows out")
    side.add_argument(
        "--only", action="append", default=[], metavar="TEXT", help="only the programs whose name contains TEXT"
    )
    side.add_argument("--bootstrap-servers", help="use this Kafka instead of starting one")
    side.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    side.add_argument("--keep-work", action="store_true", help="keep the work directory (logs and rows of every run)")
    commands.add_parser(
        "tokenizer",
        help="the tokenizer alone: stock NLTK against the fast engine "
        "(speed, --exactness N, --worst-case; see benchmarks/tokenizer.py)",
    )
    report = commands.add_parser(
        "report", help="render RESULTS.md, the charts and the README's table again from the JSON results"
    )
    report.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return parser


@contextlib.contextmanager
def _kafka(bootstrap_servers, progress):
    if bootstrap_servers:
        yield bootstrap_servers
        return
    from pipeline.stack import KafkaBroker
    from pipeline.stack.net import free_ports

    state = tempfile.mkdtemp(prefix="bench-kafka-")
    port, controller = free_ports(2)
    broker = KafkaBroker(port, controller, Path(state) / "kafka", heap="1g")
    progress(f"Starting a Kafka broker for the benchmark on {broker.bootstrap_servers}...")
    broker.start(timeout=180)
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()
        shutil.rmtree(state, ignore_errors=True)
        progress("Kafka broker stopped.")


@contextlib.contextmanager
def _flink_cluster(systems, work_dir: Path, progress):
    """A Flink session cluster of the benchmark's own (free ports), when a measured system needs one."""
    wanted = [s for s in systems if s.uses_cluster and s.unavailable is None]
    if not wanted:
        yield None
        return
    from pipeline.stack.flink import FlinkCluster
    from pipeline.stack.net import free_ports

    rest, rpc, pool = free_ports(3)
    cluster = FlinkCluster(rest, rpc, pool, work_dir / "flink", slots=2)
    progress(f"Starting a Flink session cluster for the benchmark (REST {cluster.flink_master})...")
    try:
        cluster.start(timeout=180, progress=progress)
    except Exception as e:  # noqa: BLE001 - the row says why it was not measured
        cluster.stop()
        for system in wanted:
            system.unavailable = f"the Flink cluster did not start: {str(e).splitlines()[0][:200]}"
        yield None
        return
    try:
        yield {
            "sets": [
                f"options.flink_master={cluster.flink_master}",
                f"options.environment_config={cluster.worker_pool_address}",
            ],
            "pids": [pid for pid in cluster.pids().values() if pid is not None],
        }
    finally:
        cluster.stop()
        progress("Flink cluster stopped.")


def _run(args) -> int:
    from benchmarks import corpus as corpus_mod
    from benchmarks.peers import quix_python
    from benchmarks.report import write_report
    from benchmarks.streaming import run_streaming
    from benchmarks.throughput import Context, default_systems, run_throughput
    from transforms.text.tokenizers import punkt_installed

    def progress(message: str) -> None:
        print(message, flush=True)

    rounds = args.rounds or (1 if args.quick else 3)
    soak_s = args.soak if args.soak is not None else (120.0 if args.quick else 600.0)
    window_s, out_of_orderness_s, span_s = 10.0, 5.0, 600.0
    corpus_name, texts = corpus_mod.load_corpus()
    start_ms = int((time.time() - 2 * 3600) * 1000)  # two hours ago: inside retention, never "in the future"
    messages = corpus_mod.stamp(texts, start_ms, int(span_s * 1000), keys=8)
    work_dir = Path(tempfile.mkdtemp(prefix="bench-work-"))
    corpus_path = work_dir / "corpus.jsonl"
    corpus_mod.write_corpus(messages, corpus_path)
    progress(f"Corpus: {corpus_name}: {len(messages):,} messages (work files in {work_dir})")
    expected_tokens, expected_pairs, _ = corpus_mod.expected_counts(messages, int(window_s * 1000))
    progress(f"Expected: {expected_tokens:,} tokens, {expected_pairs:,} (window, token) counts")

    results, streaming = [], None
    with _kafka(args.bootstrap_servers, progress) as bootstrap:
        from pipeline.devtools.producer import ensure_topic

        suffix = uuid.uuid4().hex[:8]
        topic, empty_topic = f"bench-corpus-{suffix}", f"bench-empty-{suffix}"
        if "throughput" not in args.skip:
            delivered = corpus_mod.produce_corpus(bootstrap, topic, messages, args.partitions)
            ensure_topic(bootstrap, empty_topic, args.partitions)
            progress(f"Loaded {delivered:,} messages into {topic} ({args.partitions} partitions)")
            quix = None if "peers" in args.skip else quix_python(progress)
            ctx = Context(
                bootstrap,
                topic,
                empty_topic,
                corpus_path,
                work_dir,
                len(messages),
                expected_tokens,
                expected_pairs,
                window_s,
                out_of_orderness_s,
                quix,
            )
            systems = default_systems(quix)
            if "peers" in args.skip:
                systems = [s for s in systems if s.group != "peer"]
            if "flink" in args.skip:
                systems = [s for s in systems if "Flink" not in s.name]
            if args.only:
                systems = [s for s in systems if any(text.lower() in s.name.lower() for text in args.only)]
            with _flink_cluster(systems, work_dir, progress) as cluster:
                ctx.flink_cluster = cluster
                results = run_throughput(ctx, systems, rounds, progress)
        if "streaming" not in args.skip:
            streaming = run_streaming(
                bootstrap,
                [m.text.replace("\n", " ") for m in messages],
                work_dir,
                duration_s=soak_s,
                rate=args.rate,
                partitions=args.partitions,
                progress=progress,
            )

    meta = _meta(
        _command_line(),
        corpus_name,
        len(messages),
        expected_tokens=expected_tokens,
        expected_pairs=expected_pairs,
        partitions=args.partitions,
        span_s=span_s,
        window_s=window_s,
        out_of_orderness_s=out_of_orderness_s,
        rounds=rounds,
        punkt="installed punkt_tab model" if punkt_installed() else "no punkt_tab data here: untrained Punkt",
    )
    markdown = write_report(args.results_dir, meta, results, streaming)
    print(markdown)
    if args.keep_work:
        print(f"Work files kept in {work_dir}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


def _meta(command: str, corpus_name: str, messages: int, **figures) -> dict:
    return {
        "command": command,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}",
        "corpus": corpus_name,
        "messages": messages,
        **figures,
    }


def _command_line() -> str:
    return " ".join(["python -m benchmarks"] + [a for a in sys.argv[1:] if not a.startswith("--bootstrap")])


def _join_group_once(bootstrap_servers: str, topic: str, timeout_s: float = 120.0) -> None:
    """Reads one message in a consumer group, so that the broker creates its offsets topic now:
    otherwise the first timed program of the first round pays those seconds."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"bench-warm-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                consumer.commit(message, asynchronous=False)
                return
    finally:
        consumer.close()


def _sidebyside(args) -> int:
    import json
    from dataclasses import asdict

    from benchmarks import corpus as corpus_mod
    from benchmarks import sidebyside
    from benchmarks.throughput import Context, run_throughput

    def progress(message: str) -> None:
        print(message, flush=True)

    window_s, out_of_orderness_s = 10.0, 5.0
    corpus_name, texts = corpus_mod.load_corpus()
    start_ms = int((time.time() - 2 * 3600) * 1000)  # inside retention, never "in the future"
    start_ms -= start_ms % 60_000  # on a window boundary: every run has the same windows, the same counts
    stream = corpus_mod.cycle(texts, args.messages)
    messages = corpus_mod.stamp(stream, start_ms, int(args.span * 1000), keys=8)
    progress(f"Stream: {corpus_name} cycled into {len(messages):,} messages over {args.span / 60:g} minutes")
    expected = corpus_mod.expected_counts(messages, int(window_s * 1000), engine="guarded")
    progress(f"Expected (stock NLTK): {expected.tokens:,} tokens, {expected.pairs:,} (window, token) counts")
    work_dir = Path(tempfile.mkdtemp(prefix="bench-sidebyside-"))
    corpus_path = work_dir / "corpus.jsonl"
    corpus_mod.write_corpus(messages, corpus_path)
    systems = sidebyside.programs()
    if args.skip_flink:
        systems = [s for s in systems if "Flink" not in s.name]
    if args.only:
        systems = [s for s in systems if any(text.lower() in s.name.lower() for text in args.only)]
    with _kafka(args.bootstrap_servers, progress) as bootstrap:
        topic = f"bench-stream-{uuid.uuid4().hex[:8]}"
        delivered = corpus_mod.produce_corpus(bootstrap, topic, messages, args.partitions)
        progress(f"Loaded {delivered:,} messages into {topic} ({args.partitions} partitions)")
        _join_group_once(bootstrap, topic)
        ctx = Context(
            bootstrap_servers=bootstrap,
            topic=topic,
            empty_topic="",  # whole processes only: no start-up runs
            corpus_path=corpus_path,
            work_dir=work_dir,
            messages=len(messages),
            expected_tokens=expected.tokens,
            expected_pairs=expected.pairs,
            window_s=window_s,
            out_of_orderness_s=out_of_orderness_s,
            keep_outputs=args.keep_work,
        )
        load_before = os.getloadavg()[0]
        with _flink_cluster(systems, work_dir, progress) as cluster:
            ctx.flink_cluster = cluster
            results = run_throughput(ctx, systems, args.rounds, progress, empty=False)
        load_after = os.getloadavg()[0]
    tokenizer_json = args.results_dir / "tokenizer.json"
    tokenizer = None
    if tokenizer_json.exists():
        measured = json.loads(tokenizer_json.read_text(encoding="utf-8"))
        when = measured.get("speed_meta", measured["meta"])["date"]
        speed = measured.get("speed", [])
        row = next((row for row in speed if row["tokenizer"].startswith("word (pipeline default")), None)
        tokenizer = None if row is None else {**row, "date": when}
    meta = _meta(
        _command_line(),
        corpus_name,
        len(messages),
        expected=expected._asdict(),
        partitions=args.partitions,
        span_s=args.span,
        window_s=window_s,
        out_of_orderness_s=out_of_orderness_s,
        rounds=args.rounds,
        partial=bool(args.only or args.skip_flink),
        load_1min=[round(load_before, 2), round(load_after, 2)],
    )
    raw = {"meta": meta, "programs": [asdict(r) for r in results], "tokenizer": tokenizer}
    print(sidebyside.write_results(raw, args.results_dir, README))
    if args.keep_work:
        print(f"Work files kept in {work_dir}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


def main() -> int:
    if sys.argv[1:2] == ["tokenizer"]:  # its own options: python -m benchmarks tokenizer --help
        from benchmarks.tokenizer import main as tokenizer_main

        return tokenizer_main(sys.argv[2:])
    args = _parser().parse_args()
    if args.command == "run":
        return _run(args)
    if args.command == "sidebyside":
        return _sidebyside(args)
    import json

    from benchmarks import sidebyside
    from benchmarks.report import rewrite_report

    if (args.results_dir / "results.json").exists():
        print(rewrite_report(args.results_dir))
    if (args.results_dir / "sidebyside.json").exists():
        raw = json.loads((args.results_dir / "sidebyside.json").read_text(encoding="utf-8"))
        print(sidebyside.write_results(raw, args.results_dir, README))
    return 0


if __name__ == "__main__":
    sys.exit(main())
