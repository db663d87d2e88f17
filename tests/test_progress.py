"""The progress line of a bounded read: its text, and what a person sees on a terminal and in a log."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone

from confluent_kafka import Producer

from pipeline.console.progress import _Rate, format_progress
from tests.integration_helpers import DIRECT_CONFIG, REPO, cli_command, config_overrides, records_accounting

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_the_line_says_read_of_total_rate_and_time_left():
    line = format_progress(3_000, 5_000, 4.2, 1_000.0)
    assert line == "read 3,000 of 5,000 records (60%), 1,000 records/s, about 2s left, 4s"


def test_the_last_line_says_the_average_and_a_read_past_the_total_raises_the_total():
    assert (
        format_progress(5_000, 5_000, 10.0, 200.0, final=True)
        == "read 5,000 of 5,000 records (100%) in 10s, 500 records/s"
    )
    assert format_progress(5_010, 5_000, 2.0, None).startswith(
        "read 5,010 of 5,010 records (100%), finishing the windows"
    )


def test_without_counts_the_line_says_the_total_and_the_time_and_why():
    line = format_progress(None, 5_000, 75.0, None, note="this runner reports no counts until the job ends")
    assert line == "5,000 records to read, 1m15s elapsed (this runner reports no counts until the job ends)"
    assert format_progress(None, 0, 3.0, None, final=True).startswith("nothing to read")
    assert format_progress(120, 500, 3.0, None, verb="written").startswith("written 120 of 500 records (24%)")


def test_the_rate_is_taken_over_the_last_seconds():
    rate = _Rate()
    assert rate.add(0.0, 0) is None
    assert rate.add(1.0, 0) is None
    assert rate.add(2.0, 2_000) == 1_000
    for t in range(3, 30):
        last = rate.add(float(t), 2_000 + (t - 2) * 100)  # slows down to 100/s
    assert 95 <= last <= 105


# --- on the real broker -------------------------------------------------------------------------

_MESSAGES = 4_000


def _bounded_topic(fresh_topic, bootstrap: str) -> str:
    topic = fresh_topic(partitions=3, prefix="progress")
    producer = Producer({"bootstrap.servers": bootstrap})
    start = datetime.now(timezone.utc) - timedelta(minutes=10)
    for i in range(_MESSAGES):
        moment = start + timedelta(milliseconds=100 * i)
        producer.produce(
            topic,
            value=f"message {i} about the rain in spain".encode(),
            partition=i % 3,
            timestamp=int(moment.timestamp() * 1000),
        )
    assert producer.flush(30) == 0
    return topic


def _run_args(bootstrap: str, topic: str, tmp_path) -> list[str]:
    return [
        "run",
        "--config",
        DIRECT_CONFIG,
        *config_overrides(
            source__bootstrap_servers=bootstrap,
            source__topics=[topic],
            source__group_id=f"g-{uuid.uuid4().hex[:8]}",
            source__stop="latest",
            sink__type="jsonl",
            sink__path=str(tmp_path / "out.jsonl"),
        ),
    ]


def test_plain_progress_lines_when_stderr_is_not_a_terminal(kafka_broker, fresh_topic, prism_location, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    topic = _bounded_topic(fresh_topic, bootstrap)

    result = subprocess.run(
        cli_command(*_run_args(bootstrap, topic, tmp_path)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )

    assert result.returncode == 0, result.stderr
    assert records_accounting(result.stderr)[0] == _MESSAGES
    lines = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    assert lines, result.stderr
    # No terminal codes in a log: whole lines, no carriage returns, no escapes.
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    assert re.fullmatch(r"progress: read 4,000 of 4,000 records \(100%\) in \d+s, [\d,]+ records/s", lines[-1]), lines
    for line in lines[:-1]:
        assert re.match(r"progress: (read [\d,]+ of 4,000 records \(\d+%\)|4,000 records to read)", line), line
    # The last line comes before the run's closing lines.
    assert result.stderr.index(lines[-1]) < result.stderr.index("finished in")


def _run_on_a_terminal(args: list[str], timeout: float = 300) -> tuple[int, str]:
    """Runs the CLI with stdout and stderr on a pseudo-terminal; returns its exit code and all it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        cli_command(*args),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=dict(os.environ, COLUMNS="120", LINES="40", TERM="xterm-256color"),
    )
    os.close(follower)
    chunks, deadline, ended = [], time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            ended = ended or time.monotonic()
            if time.monotonic() - ended > 3:
                break
    if process.poll() is None:
        process.kill()
    os.close(leader)
    return process.wait(), b"".join(chunks).decode("utf-8", "replace")


def test_progress_is_redrawn_in_place_on_a_terminal(kafka_broker, fresh_topic, prism_location, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    topic = _bounded_topic(fresh_topic, bootstrap)

    code, raw = _run_on_a_terminal(_run_args(bootstrap, topic, tmp_path))

    assert code == 0, raw[-3000:]
    assert "progress: " not in raw  # the plain form is for logs only
    # Each redraw goes back to the start of the line and clears it, instead of a new line.
    redraws = re.findall(r"\r\x1b\[2K((?:read|[\d,]+ records to read)[^\r\n]*)", raw)
    assert len(redraws) >= 2, raw[-3000:]
    final = re.search(r"read 4,000 of 4,000 records \(100%\) in \d+s, [\d,]+ records/s\r?\n", raw)
    assert final, raw[-3000:]
    # What the run prints meanwhile lands on lines of its own, above the progress line.
    text = _ANSI.sub("", raw).replace("\r\n", "\n")
    screen_lines = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    assert "executing on: PrismRunner" in screen_lines, screen_lines
    closing = [line for line in screen_lines if line.startswith("finished in")]
    assert closing and screen_lines.index(closing[0]) > screen_lines.index("executing on: PrismRunner")
