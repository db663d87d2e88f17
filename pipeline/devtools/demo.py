"""The live demo: local Kafka, a producer streaming sample text, the pipeline on DirectRunner.

`python -m pipeline demo` starts the local stack, streams the built-in sample
text into a fresh topic with event timestamps at a steady rate, runs the
pipeline with run_configs/direct.yaml for a while so that windows close and
show in the live view (`run --live`; the plain panes when stdout is not a
terminal), then stops everything it started.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

__all__ = ["run_demo"]

_CONFIG = Path(__file__).resolve().parents[2] / "run_configs" / "direct.yaml"


def run_demo(duration_s: float = 45.0, rate: float = 20.0, kafka_port: int = 9092) -> int:
    """Runs the demo end to end; returns the pipeline's exit code."""
    from pipeline import stack

    print("== starting the local stack (Kafka, Prism)", flush=True)
    was_running = stack.KafkaBroker(port=kafka_port).is_running()
    stack.up(kafka_port=kafka_port, progress=lambda m: print(m, flush=True))
    topic = f"demo-{int(time.time())}"
    bootstrap = f"127.0.0.1:{kafka_port}"
    print(f"== streaming sample text into {topic} at {rate:g} messages/s (event time = now)", flush=True)
    producer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "produce",
            "--bootstrap-servers",
            bootstrap,
            "--topic",
            topic,
            "--forever",
            "--rate",
            str(rate),
            "--keys",
            "4",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        print(f"== running the pipeline on DirectRunner for {duration_s:g}s; windows show as they close", flush=True)
        return subprocess.call(
            # --live: one screen redrawn in place on a terminal; the plain panes when stdout is not one.
            [
                sys.executable,
                "-m",
                "pipeline",
                "run",
                "--config",
                str(_CONFIG),
                "--live",
                "--duration",
                f"{duration_s}s",
                "--set",
                f"source.bootstrap_servers={bootstrap}",
                "--set",
                f"source.topics=[{topic}]",
                "--set",
                f"source.group_id={topic}",
            ]
        )
    finally:
        producer.terminate()
        producer.wait(timeout=30)
        if not was_running:
            print("== stopping the local stack", flush=True)
            stack.down()
