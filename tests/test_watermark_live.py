"""Why hasn't my window fired, on a real stream: `run --live` on Prism and `lag` beside it name the partition
that holds the reader's watermark, with one partition busy, one slow and one left idle."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import threading
import time
import uuid

import pytest
from confluent_kafka import Producer

from tests.integration_helpers import DIRECT_CONFIG, REPO, cli_command, config_overrides, run_cli


@pytest.fixture
def tmux(tmp_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed to look at the live view's screen: apt-get install tmux")
    socket = str(tmp_path / "tmux.sock")

    def call(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-f", "/dev/null", "-S", socket, *args], check=True, capture_output=True, text=True
        ).stdout

    yield call
    subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)


class _Partitions:
    """Partition 0 gets 10 records a second, partition 1 one every 3 s, partition 2 none."""

    def __init__(self, bootstrap: str, topic: str):
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self._topic = topic
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def _run(self):
        tick = 0
        while not self._stop.wait(0.1):
            self._producer.produce(self._topic, value=b"rain in spain", partition=0)
            if tick % 30 == 0:
                self._producer.produce(self._topic, value=b"slow rain", partition=1)
            self._producer.poll(0)
            tick += 1

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._producer.flush(10)


def _wait_for(read, condition, timeout: float) -> str:
    deadline, text = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        text = read()
        if condition(text):
            return text
        time.sleep(1)
    raise AssertionError(f"never shown:\n{text}")


_TIME = r"(\d\d:\d\d:\d\d|-)"


def _rows(text: str, topic: str) -> dict[int, tuple[str, str, str]]:
    """partition -> (watermark, newest event, state) from a table whose last columns are those three."""
    rows = {}
    for match in re.finditer(rf"^\s*{topic}\s+(\d)\s.*?\s{_TIME}\s+{_TIME}\s+(\S.*?)\s*$", text, re.M):
        rows[int(match[1])] = (match[2], match[3], match[4])
    return rows


def _holder_is_the_minimum(text: str, topic: str) -> int:
    """The partition `held by` names; asserts it is the row marked as holding, and has the smallest watermark."""
    flat = " ".join(text.split())
    [held] = re.findall(rf"held by {topic}-(\d):", flat)
    rows = _rows(text, topic)
    assert [p for p, (_, _, state) in rows.items() if state.endswith("<- holds")] == [int(held)], text
    marks = [mark for mark, _, _ in rows.values() if mark != "-"]
    assert rows[int(held)][0] == "-" or rows[int(held)][0] == min(marks), text
    return int(held)


def test_the_live_view_and_lag_name_the_partition_holding_the_watermark(
    kafka_broker, fresh_topic, prism_location, tmux, tmp_path
):
    bootstrap = kafka_broker.bootstrap_servers
    topic = fresh_topic(partitions=3, prefix="wmlive")
    group = f"wmlive-{uuid.uuid4().hex[:8]}"
    overrides = config_overrides(
        source__bootstrap_servers=bootstrap,
        source__topics=[topic],
        source__group_id=group,
        source__max_out_of_orderness="1s",
        tokenize__tokenizer="whitespace",
    )
    args = ["run", "--config", DIRECT_CONFIG, "--live", "--duration", "45s", *overrides]
    command = (
        f"unset COLUMNS LINES; cd {shlex.quote(str(tmp_path))} && PYTHONPATH={shlex.quote(str(REPO))} "
        f"{shlex.join(cli_command(*args))}; echo EXIT=$?; sleep 600"
    )

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "wm")

    with _Partitions(bootstrap, topic):
        tmux("new-session", "-d", "-s", "wm", "-x", "120", "-y", "50", "-e", f"PATH={os.environ['PATH']}", command)
        # The screen names the holder from the reader's gauges, which Prism serves while the job runs.
        shown = _wait_for(
            screen,
            lambda s: (
                "(the reader's Beam gauges)" in s
                and "<- holds" in s
                and re.search(rf"{topic}\s+2\s.*idle \d+s", s)
                and re.search(rf"{topic}\s+1\s.*\d\d:\d\d:\d\d\s+\d\d:\d\d:\d\d\s+\S", s)
            ),
            timeout=120,
        )
        # `lag`, from another process: the report the reader writes to Kafka.
        lag = _wait_for(
            lambda: run_cli("lag", "--config", DIRECT_CONFIG, *overrides, timeout=60).stdout,
            lambda s: "as the running job reports them" in s and re.search(rf"{topic}\s+2\s.*idle \d+s", s),
            timeout=60,
        )
        finished = _wait_for(screen, lambda s: "EXIT=" in s, timeout=180)

    for text in (shown, lag):
        _holder_is_the_minimum(text, topic)
        rows = _rows(text, topic)
        assert sorted(rows) == [0, 1, 2], text
        assert rows[2][1] == "-" and rows[2][2].startswith("idle"), text  # never written to: idle, no event
        assert rows[0][1] != "-" and rows[1][1] != "-", text  # the busy and the slow one: their newest events
    assert re.search(rf"{topic}\s+2\s+0\s+\d\d:\d\d:\d\d\s+-\s+idle \d+s", lag), lag  # read to 0, no event
    assert "next window to close" in " ".join(shown.split()) and "next window to close" in lag
    assert "EXIT=0" in finished, finished
