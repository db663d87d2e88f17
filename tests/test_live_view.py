"""`run --live`: the screen's parts from rows, and the screen a person sees in a terminal (tmux) on a real stream."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from rich.console import Console

from pipeline.config import load_config
from pipeline.console.live_view import LiveState, RowsTail, Snapshot, render, sparkline
from pipeline.console.terminal import printable
from pipeline.lag import PartitionLag
from tests.integration_helpers import DIRECT_CONFIG, REPO, cli_command, config_overrides


def _pane(kind: str, start: str, end: str, timing: str = "ON_TIME", index: int = 0, **fields) -> dict:
    return {
        "kind": kind,
        "window_start": f"2026-11-27T10:{start}.000Z",
        "window_end": f"2026-11-27T10:{end}.000Z",
        "pane_timing": timing,
        "pane_index": index,
        "pane_is_last": timing != "EARLY",
        **fields,
    }


def _window_rows(start: str, end: str, counts: dict, timing: str = "ON_TIME", index: int = 0) -> list[dict]:
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    rows = [
        _pane(
            "summary",
            start,
            end,
            timing,
            index,
            messages=len(counts),
            tokens=sum(counts.values()),
            distinct_tokens=len(counts),
        ),
        _pane("top", start, end, timing, index, top=[list(item) for item in top[:3]]),
    ]
    rows += [_pane("count", start, end, timing, index, token=token, count=n) for token, n in top]
    return rows


def _screen(snapshot: Snapshot, width: int = 110) -> str:
    console = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)
    console.print(render(snapshot))
    return console.export_text()


def _snapshot(state: LiveState, **kwargs) -> Snapshot:
    config = load_config(DIRECT_CONFIG, ("source.topics=[words]", "source.group_id=watchers"))
    return Snapshot(config, state, 42.0, datetime(2026, 11, 27, 10, 0, 37, tzinfo=timezone.utc), **kwargs)


def test_sparkline_runs_from_the_smallest_to_the_largest_value_and_leaves_a_gap_for_none():
    assert sparkline([1, 2, 4, 8]) == "\u2581\u2582\u2584\u2588"
    assert sparkline([246, 252, 249]) == "\u2581\u2588\u2585"  # small changes of a large count still show
    assert sparkline([None, 0, 5, 5]) == "  \u2584\u2584"
    assert sparkline([0, 0]) == "  "


def test_printable_escapes_control_and_format_characters():
    assert printable("a\x1b[2Jb\u202e\n") == "a\\x1b[2Jb\\u202e\\n"
    assert printable("[bold]x[/bold] caf\u00e9 \u65e5\u672c") == "[bold]x[/bold] caf\u00e9 \u65e5\u672c"
    assert printable("abcdefgh", 5) == "abcd\u2026"


def test_discarding_panes_of_a_window_add_up_and_the_watermark_follows_on_time_panes():
    state = LiveState(accumulating=False)
    state.add(_window_rows("00:00", "00:10", {"rain": 2, "spain": 1}, "EARLY", 0))
    assert state.closed_windows() == [] and state.open_windows() == 1 and state.watermark is None
    state.add(_window_rows("00:00", "00:10", {"rain": 3}, "ON_TIME", 1))
    state.add(_window_rows("00:10", "00:20", {"plain": 4, "rain": 1}))
    state.add(
        [
            {"kind": "dead_letter", "topic": "words", "partition": 1, "offset": 7, "reason": "bad \x1b bytes"},
            {"kind": "late_record", "topic": "words", "partition": 0, "offset": 3, "reason": "closed"},
        ]
    )

    first, second = state.closed_windows()
    assert first.counts == {"rain": 5, "spain": 1} and first.messages == 3 and first.timing == "ON_TIME"
    assert second.counts == {"plain": 4, "rain": 1}
    assert state.watermark == "2026-11-27T10:00:20.000Z"
    assert (state.panes, state.dead_letters, state.late_records) == (3, 1, 1)


def test_accumulating_panes_replace_each_other():
    state = LiveState(accumulating=True)
    state.add(_window_rows("00:00", "00:10", {"rain": 2}, "EARLY", 0))
    state.add(_window_rows("00:00", "00:10", {"rain": 5, "spain": 1}, "ON_TIME", 1))
    [window] = state.closed_windows()
    assert window.counts == {"rain": 5, "spain": 1} and window.messages == 2


def test_only_the_last_windows_are_kept():
    state = LiveState()
    for minute in range(20):
        state.add(_window_rows(f"{minute:02d}:00", f"{minute:02d}:30", {"rain": minute + 1}))
    assert len(state.windows) == 12
    assert state.closed_windows()[0].start == "2026-11-27T10:08:00.000Z"
    state.add(_window_rows("00:00", "00:30", {"rain": 1}, "LATE", 1))  # older than every window kept
    assert len(state.windows) == 12 and state.panes == 21


def test_the_screen_shows_windows_trend_watermark_lag_and_counters():
    state = LiveState()
    for i, minute in enumerate(("00:00", "00:10", "00:20")):
        state.add(_window_rows(minute, minute[:3] + str(int(minute[3]) + 1) + "0", {"rain": 2 + 3 * i, "spain": 2}))
    lags = [PartitionLag("words", 0, 90, 100), PartitionLag("words", 1, None, 0)]
    counters = {
        ("ReadFromKafka", "records_read"): 1234,
        ("DecodeMessages", "dead_letters"): 2,
        ("SplitLateMessages", "late_records"): 1,
        ("CountTokens", "panes"): 3,
    }

    screen = _screen(_snapshot(state, counters=counters, lags=lags))

    assert "watermark \u2265 2026-11-27 10:00:30 UTC" not in screen  # today's date is left out
    assert "watermark \u2265 10:00:30 UTC  wall clock 10:00:37 UTC  (7s behind" in screen
    assert "latest closed window 10:00:20 \u2013 10:00:30  ON_TIME pane 0: 2 messages, 10 tokens, 2 distinct" in screen
    assert re.search(r"rain\s+8\s+\u2581\u2585\u2588", screen), screen
    assert re.search(r"spain\s+2\s+\u2584\u2584\u2584", screen), screen
    assert re.search(r"10:00:00 \u2013 10:00:10\s+ON_TIME 0\s+2\s+4\s+2\s+rain, spain", screen), screen
    assert re.search(r"words\s+0\s+90\s+100\s+10", screen) and re.search(r"words\s+1\s+-\s+0\s+0", screen)
    assert "counters  read 1,234  \u00b7  dead letters 2  \u00b7  late 1  \u00b7  panes 3   (Beam counters)" in screen


def test_the_screen_names_the_partition_holding_the_watermark_and_the_window_waiting_on_it():
    from transforms.kafka.watermarks import PartitionWatermark

    now_ms = int(datetime(2026, 11, 27, 10, 0, 37, tzinfo=timezone.utc).timestamp() * 1000)
    report = [
        PartitionWatermark("words", 0, now_ms - 5200, now_ms - 200, None, 120, now_ms - 300),
        PartitionWatermark("words", 1, now_ms - 6100, None, now_ms - 45_000, 0, now_ms - 300),  # idle
        PartitionWatermark("words", 2, now_ms - 30_000, now_ms - 25_000, None, 7, now_ms - 300),  # behind
    ]
    lags = [PartitionLag("words", 0, 90, 120), PartitionLag("words", 1, None, 0), PartitionLag("words", 2, 0, 40)]

    screen = _screen(_snapshot(LiveState(), lags=lags, watermarks=report, watermark_origin="the reader's Beam gauges"))
    flat = " ".join(screen.split())

    assert "reader watermark 10:00:07 UTC (30s behind the wall clock), held by words-2: reading: it follows" in flat
    assert "its newest event 10:00:12 minus max_out_of_orderness 5s; 33 records to read" in flat
    assert "(the reader's Beam gauges)" in flat
    assert "next window to close 10:00:00-10:00:10 waits on words-2" in flat and "3 more open" in flat
    assert re.search(r"topic\s+partition\s+committed\s+end\s+lag\s+watermark\s+newest event\s+state", screen)
    assert re.search(r"words\s+1\s+-\s+0\s+0\s+10:00:30\s+-\s+idle 45s\s", screen), screen
    assert re.search(r"words\s+2\s+0\s+40\s+40\s+10:00:07\s+10:00:12\s+reading, 33 to read <- holds", screen), screen
    # Without a report (a runner without gauges, no group), the screen is as before.
    assert "reader watermark" not in _screen(_snapshot(LiveState(), lags=lags))


def test_text_from_records_cannot_style_or_move_the_screen():
    state = LiveState()
    state.add(_window_rows("00:00", "00:10", {"[red]x[/red]": 3, "\x1b[2Jwipe": 2, "\u202etxet": 1}))
    state.add(
        [{"kind": "dead_letter", "topic": "words", "partition": 0, "offset": 1, "reason": "bad \x1b]0;title\x07"}]
    )
    console = Console(width=110, record=True, file=open(os.devnull, "w"), force_terminal=True)
    console.print(render(_snapshot(state)))
    screen = console.export_text()
    styled = console.export_text(styles=True)

    assert "[red]x[/red]" in screen and "\\x1b[2Jwipe" in screen and "\\u202etxet" in screen
    assert "bad \\x1b]0;title\\x07" in screen
    assert "\x1b[2J" not in styled and "\x1b]0" not in styled and "\u202e" not in styled
    assert "read ?" in screen and "from the rows" in screen


def test_rows_tail_returns_whole_lines_once(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"kind": "summary"}\n{"kind": "to')
    tail = RowsTail(str(path))
    assert tail.read() == [{"kind": "summary"}]
    with open(path, "a") as f:
        f.write('p"}\nnot json\n')
    assert tail.read() == [{"kind": "top"}]
    assert tail.read() == []
    assert RowsTail(str(path), from_end=True).read() == []


# --- under a terminal, on the real broker ------------------------------------------------------------


@pytest.fixture
def tmux(tmp_path):
    """A tmux server of this test only (its own socket), killed at the end."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed to look at the live view's screen: apt-get install tmux")
    socket = str(tmp_path / "tmux.sock")

    def call(*args: str) -> str:
        # -f /dev/null: none of the machine's tmux settings (they may fix the window size)
        return subprocess.run(
            ["tmux", "-f", "/dev/null", "-S", socket, *args], check=True, capture_output=True, text=True
        ).stdout

    yield call
    subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)


class _SteadyProducer:
    """Sends text stamped with the send time at about `rate` messages/s until stopped."""

    def __init__(self, bootstrap: str, topic: str, rate: float, text: str):
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self._topic, self._rate, self._text = topic, rate, text
        self._stop = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(1 / self._rate):
            self._producer.produce(self._topic, value=self._text.encode(), key=f"k{self.sent % 3}".encode())
            self._producer.poll(0)
            self.sent += 1

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._producer.flush(10)


def _wait_for_screen(tmux, target: str, condition, timeout: float) -> str:
    deadline, screen = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", target)
        if condition(screen):
            return screen
        time.sleep(1)
    raise AssertionError(f"the screen never showed what was expected:\n{screen}")


def test_live_view_in_a_terminal_shows_windows_lag_and_counters(
    kafka_broker, fresh_topic, prism_location, tmux, tmp_path
):
    bootstrap = kafka_broker.bootstrap_servers
    topic = fresh_topic(partitions=3, prefix="live")
    group = f"live-{uuid.uuid4().hex[:8]}"
    # Whitespace tokens, so that a record's escape sequence and markup reach the screen as they are sent.
    text = "rain falls \x1b[2Jwipe [red]markup[/red] rain in spain"
    args = [
        "run",
        "--config",
        DIRECT_CONFIG,
        "--live",
        "--duration",
        "40s",
        *config_overrides(
            source__bootstrap_servers=bootstrap,
            source__topics=[topic],
            source__group_id=group,
            source__max_out_of_orderness="1s",
            window__size="4s",
            tokenize__tokenizer="whitespace",
        ),
    ]
    # pytest exports COLUMNS=80 and LINES=24, which rich would take over the terminal's own size.
    # Run where the rows file may stay (tmp_path), not in the repository.
    command = (
        f"unset COLUMNS LINES; cd {shlex.quote(str(tmp_path))} && PYTHONPATH={shlex.quote(str(REPO))} "
        f"{shlex.join(cli_command(*args))}; echo EXIT=$?; sleep 600"
    )
    with _SteadyProducer(bootstrap, topic, 20, text) as producer:
        tmux("new-session", "-d", "-s", "live", "-x", "120", "-y", "50", "-e", f"PATH={os.environ['PATH']}", command)
        # Running: at least two windows closed, and the lag has a committed offset.
        screen = _wait_for_screen(
            tmux,
            "live",
            lambda s: (
                "latest closed window" in s
                and s.count("ON_TIME 0") >= 2
                and re.search(rf"{topic}\s+\d\s+\d+\s+\d+\s+\d+", s)
            ),
            timeout=120,
        )
        finished = _wait_for_screen(tmux, "live", lambda s: "EXIT=" in s, timeout=180)
    assert producer.sent > 100

    for frame in (screen, finished):
        assert "beam-token-counts live" in frame and f"group {group}" in frame
        # The latest closed window with its top tokens, each with a sparkline, and the recent windows.
        assert re.search(
            r"latest closed window \d\d:\d\d:\d\d \u2013 \d\d:\d\d:\d\d\s+ON_TIME pane 0: "
            r"[\d,]+ messages",
            frame,
        ), frame
        assert re.search(r"token\s+count\s+last \d+ windows", frame), frame
        assert re.search(r"\n\s*rain\s+[\d,]+\s+[\u2581-\u2588 ]*[\u2581-\u2588]", frame), frame
        assert re.search(r"window\s+pane\s+messages\s+tokens\s+distinct\s+top", frame), frame
        # What came from the records is shown as text, not obeyed.
        assert "\\x1b[2jwipe" in frame and "[red]markup[/red]" in frame
        # The watermark against the wall clock, the lag per partition, the counters.
        assert re.search(r"watermark \u2265 \d\d:\d\d:\d\d UTC\s+wall clock \d\d:\d\d:\d\d UTC", frame), frame
        assert "consumer lag" in frame and re.search(r"topic\s+partition\s+committed\s+end\s+lag", frame), frame
        for partition in range(3):
            assert re.search(rf"{topic}\s+{partition}\s+[\d,-]+\s+[\d,]+\s+[\d,-]+", frame), frame
        assert re.search(
            r"counters\s+read [\d,]+\s+\u00b7\s+dead letters 0\s+\u00b7\s+late \d+\s+\u00b7\s+"
            r"panes [\d,]+\s+\(Beam counters\)",
            frame,
        ), frame
    assert "running" in screen and "finished in" in finished
    assert "EXIT=0" in finished and "records read" in finished and ": ok" in finished
    # One screen redrawn in place: the header is there once, not once per refresh.
    assert finished.count("beam-token-counts live") == 1
    [rows_file] = tmp_path.glob("token-counts-live-*.jsonl")
    assert f"rows written to {rows_file}" in finished.replace("\n", "")


def test_live_falls_back_to_plain_output_when_stdout_is_not_a_terminal(
    kafka_broker, fresh_topic, prism_location, tmp_path
):
    bootstrap = kafka_broker.bootstrap_servers
    topic = fresh_topic(partitions=1, prefix="liveplain")
    producer = Producer({"bootstrap.servers": bootstrap})
    now_ms = int(time.time() * 1000) - 60_000
    for i in range(30):
        producer.produce(topic, value=b"rain in spain", timestamp=now_ms + i * 100)
    assert producer.flush(10) == 0

    result = subprocess.run(
        cli_command(
            "run",
            "--config",
            DIRECT_CONFIG,
            "--live",
            *config_overrides(
                source__bootstrap_servers=bootstrap,
                source__topics=[topic],
                source__group_id=f"g-{uuid.uuid4().hex[:8]}",
                source__stop="latest",
            ),
        ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )

    assert result.returncode == 0, result.stderr
    assert "--live: stdout is not a terminal, so the panes are printed as they come" in result.stderr
    assert "beam-token-counts live" not in result.stdout and "\x1b" not in result.stdout
    # Today's plain output: a small table per pane.
    assert re.search(r"ON_TIME pane 0, last\n", result.stdout), result.stdout
    assert sum(int(n) for n in re.findall(r"^\s+rain\s+(\d+)$", result.stdout, re.M)) == 30, result.stdout


def test_live_sends_stdout_and_log_sinks_to_one_new_file_here_and_reads_jsonl_sinks_where_they_write(
    tmp_path, monkeypatch
):
    import argparse
    import stat

    from pipeline.console.live_view import redirect_sinks

    monkeypatch.chdir(tmp_path)
    counts = tmp_path / "counts.jsonl"
    counts.write_text('{"kind": "summary"}\n')  # an earlier run's rows: not shown
    args = argparse.Namespace(
        config=DIRECT_CONFIG, set=["dead_letter.type=stdout", "sink.type=jsonl", f"sink.path={counts}"]
    )

    redirect = redirect_sinks(args)

    config = load_config(args.config, tuple(args.set))
    rows = redirect.rows_file
    assert os.path.dirname(rows) == str(tmp_path) and re.fullmatch(
        r"token-counts-live-\d{8}T\d{6}Z\.jsonl", os.path.basename(rows)
    )
    assert (config.sink.type, config.sink.path) == ("jsonl", str(counts))
    assert (config.dead_letter.type, config.dead_letter.path) == ("jsonl", rows)
    assert (config.late_records.type, config.late_records.path) == ("jsonl", rows)
    assert stat.S_IMODE(os.stat(rows).st_mode) == 0o600  # the rows carry record text
    assert sorted(tail.path for tail in redirect.tails) == sorted([str(counts), rows])
    assert [tail.read() for tail in redirect.tails if tail.path == str(counts)] == [[]]
    assert redirect.notes == [f"sink rows: {counts}", f"rows written to {rows}"]
    # A second run in the same second gets a file of its own: rows are never mixed.
    again = redirect_sinks(argparse.Namespace(config=DIRECT_CONFIG, set=[]))
    assert again.rows_file != rows and os.path.exists(again.rows_file)


def test_the_rows_file_stays_after_the_view_stops(tmp_path, monkeypatch):
    # Offsets are committed to source.group_id behind these rows: they are the run's output (issue 19, item 4).
    import argparse

    from pipeline.console.live_view import LiveView

    monkeypatch.chdir(tmp_path)
    view = LiveView.prepare(argparse.Namespace(config=DIRECT_CONFIG, set=[]))
    with open(view.rows_file, "a") as rows:
        rows.write('{"kind": "dead_letter", "reason": "bad utf-8"}\n')
    view.stop(finished=True)
    assert os.path.exists(view.rows_file) and "bad utf-8" in open(view.rows_file).read()


def test_live_says_where_the_rows_are_when_it_cannot_make_the_file(tmp_path, monkeypatch):
    import argparse

    from pipeline.config import ConfigError
    from pipeline.console.live_view import redirect_sinks

    missing = tmp_path / "gone"
    missing.mkdir()
    monkeypatch.chdir(missing)
    missing.rmdir()  # the current directory is gone: no file can be made in it
    with pytest.raises(
        ConfigError, match=r"^--live: cannot create the rows file in the current directory: .*give sink a jsonl sink"
    ):
        redirect_sinks(argparse.Namespace(config=DIRECT_CONFIG, set=[]))


def test_live_keeps_the_rows_it_committed_offsets_for(kafka_broker, fresh_topic, prism_location, tmux, tmp_path):
    bootstrap = kafka_broker.bootstrap_servers
    topic = fresh_topic(partitions=1, prefix="liverows")
    group = f"live-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": bootstrap})
    now_ms = int(time.time() * 1000) - 60_000
    for i in range(20):
        producer.produce(topic, value=b"rain in spain" if i % 10 else b"\xff\xfe bad utf-8", timestamp=now_ms + i * 100)
    assert producer.flush(10) == 0
    args = [
        "run",
        "--config",
        DIRECT_CONFIG,
        "--live",
        *config_overrides(
            source__bootstrap_servers=bootstrap,
            source__topics=[topic],
            source__group_id=group,
            source__stop="latest",
            tokenize__tokenizer="whitespace",
        ),
    ]
    work = tmp_path / "here"
    work.mkdir()
    command = (
        f"unset COLUMNS LINES; cd {shlex.quote(str(work))} && PYTHONPATH={shlex.quote(str(REPO))} "
        f"{shlex.join(cli_command(*args))} 2>{shlex.quote(str(tmp_path / 'stderr.txt'))}; echo EXIT=$?; sleep 600"
    )
    tmux("new-session", "-d", "-s", "rows", "-x", "120", "-y", "50", "-e", f"PATH={os.environ['PATH']}", command)
    _wait_for_screen(tmux, "rows", lambda s: "EXIT=" in s, timeout=180)

    stderr = (tmp_path / "stderr.txt").read_text()
    [rows_file] = [str(path) for path in work.glob("token-counts-live-*.jsonl")]
    assert f"--live: rows written to {rows_file}" in stderr and stderr.rstrip().endswith(f"rows written to {rows_file}")
    rows = [json.loads(line) for line in open(rows_file)]
    # What the group committed (all 20 offsets) is in the file: 18 messages counted, 2 dead letters.
    assert sum(row["count"] for row in rows if row["kind"] == "count" and row["token"] == "rain") == 18
    assert len([row for row in rows if row["kind"] == "dead_letter"]) == 2
    committed = Consumer({"bootstrap.servers": bootstrap, "group.id": group}).committed(
        [TopicPartition(topic, 0)], timeout=10
    )
    assert committed[0].offset == 20
