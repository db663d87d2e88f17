"""What the progress line costs: the same bounded run timed with it off, as plain lines and on a terminal.

    python -m benchmarks.progress_overhead --bootstrap-servers 127.0.0.1:9092 [--messages 10000] [--rounds 3]

Loads the built-in sample text into a fresh 3-partition topic (event times spread
over the last 20 minutes), then runs `python -m pipeline run --config
run_configs/direct.yaml --set source.stop=latest` (Prism) on it, rows to a JSON-lines
file, in three modes per round, interleaved so that the machine's drift hits each
alike: `off` (BEAM_TOKEN_COUNTS_PROGRESS=off), `plain` (stderr a pipe: a line every
5 s) and `terminal` (stderr a pseudo-terminal: redrawn each second). Each figure is
the median over the rounds of the job time the run reports (`finished in`) and of
the wall time of the whole command.
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import select
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_FINISHED = re.compile(r"finished in ([\d.]+)s, state (\w+)")
_MODES = ("off", "plain", "terminal")


def _produce(bootstrap: str, topic: str, messages: int) -> None:
    now = datetime.now(timezone.utc)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "produce",
            "--bootstrap-servers",
            bootstrap,
            "--topic",
            topic,
            "--partitions",
            "3",
            "--count",
            str(messages),
            "--keys",
            "4",
            "--timestamps",
            "spread",
            "--start",
            (now - timedelta(minutes=20)).strftime(iso),
            "--end",
            (now - timedelta(minutes=5)).strftime(iso),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )


def _run_once(mode: str, bootstrap: str, topic: str, out: Path) -> tuple[float, float]:
    """(job seconds, wall seconds) of one bounded run."""
    group = f"{topic}-{uuid.uuid4().hex[:6]}"
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "--config",
        "run_configs/direct.yaml",
        "--set",
        "source.stop=latest",
        "--set",
        f"source.bootstrap_servers={bootstrap}",
        "--set",
        f"source.topics=[{topic}]",
        "--set",
        f"source.group_id={group}",
        "--set",
        "sink.type=jsonl",
        "--set",
        f"sink.path={out}",
    ]
    env = dict(os.environ, BEAM_TOKEN_COUNTS_PROGRESS="off" if mode == "off" else "auto")
    started = time.monotonic()
    if mode == "terminal":
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower
        )
        os.close(follower)
        chunks = []
        ended = None
        while True:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError:  # the terminal closed
                    data = b""
                if not data:
                    break
                chunks.append(data)
            elif ended is None and process.poll() is not None:
                ended = time.monotonic()  # services it started may hold the terminal a little longer
            elif ended is not None and time.monotonic() - ended > 5:
                break
        process.wait()
        os.close(leader)
        wall_end = ended or time.monotonic()
        text = b"".join(chunks).decode("utf-8", "replace")
    else:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        text = done.stdout + done.stderr
        wall_end = time.monotonic()
    wall = wall_end - started
    match = _FINISHED.search(text)
    if not match or match.group(2) != "DONE":
        raise SystemExit(f"the {mode} run did not finish:\n{text[-2000:]}")
    return float(match.group(1)), wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.progress_overhead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp"))
    args = parser.parse_args(argv)
    topic = f"progress-bench-{uuid.uuid4().hex[:8]}"
    _produce(args.bootstrap_servers, topic, args.messages)
    times: dict[str, list[tuple[float, float]]] = {mode: [] for mode in _MODES}
    for round_ in range(args.rounds):
        for mode in _MODES:
            out = args.work_dir / f"{topic}-{mode}-{round_}.jsonl"
            times[mode].append(_run_once(mode, args.bootstrap_servers, topic, out))
            out.unlink(missing_ok=True)
            print(
                f"round {round_ + 1} {mode}: job {times[mode][-1][0]:.1f}s, wall {times[mode][-1][1]:.1f}s", flush=True
            )
    print(f"\n{args.messages:,} messages, {args.rounds} rounds, medians:")
    print("| progress | job s (finished in) | wall s | job s, each round |")
    print("|---|---:|---:|---|")
    for mode in _MODES:
        jobs = [job for job, _ in times[mode]]
        walls = [wall for _, wall in times[mode]]
        print(
            f"| {mode} | {statistics.median(jobs):.1f} | {statistics.median(walls):.1f} | "
            f"{', '.join(f'{j:.1f}' for j in jobs)} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
