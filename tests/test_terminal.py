"""A terminal that records cannot drive, and a quiet one at default verbosity.

Text that comes from records (tokens, dead letters' reasons, topics) reaches the
terminal through the stdout sink and log lines; ESC/OSC sequences, C0/C1 controls and
bidi overrides in it must arrive escaped. At default verbosity `validate` and `run`
print no Beam teardown lines and no "apitools not found", and leave nothing in the
temp directory.
"""

from __future__ import annotations

import json
import logging
import os
import uuid

import pytest

from pipeline.devtools.producer import ProducerRecord, produce_messages
from pipeline.runner_noise import escape_log_lines
from tests.integration_helpers import DIRECT_CONFIG, REPO, cli_command, config_overrides
from transforms.sinks import _LogFn, format_pane_table
from transforms.terminal_text import escape_controls

HOSTILE = [
    "\x1b]0;pwned\x07title",  # OSC: sets the terminal's title
    "\x1b[2J\x1b[Hclear",  # CSI: clears the screen
    "\x1b]8;;http://x/\x1b\\link",  # OSC 8 hyperlink
    "\x9b31mred",  # C1 CSI
    "car\rriage",  # overwrites the line
    "\u202egnp.exe",  # bidi override
    "iso\u2066late\u2069",  # bidi isolate
    "nul\x00bell\x07del\x7f",
]
_RAW = ("\x1b", "\x9b", "\r", "\u202e", "\u2066", "\x00", "\x07", "\x7f")


def _assert_clean(text: str) -> None:
    found = sorted({repr(ch) for ch in text if ch in _RAW})
    assert not found, f"raw control characters reach the terminal: {found}"


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_controls_leaves_nothing_raw(text: str) -> None:
    escaped = escape_controls(text)
    _assert_clean(escaped)
    assert "\\" in escaped


def test_escape_controls_keeps_text_in_any_script() -> None:
    for text in ("plain", "äöüß", "日本語のテキスト", "مرحبا", "emoji 😀", "nbsp\u00a0here", "tab\tand\nnewline"):
        assert escape_controls(text, keep_lines=True) == text
    assert escape_controls("a\nb\tc") == "a\\nb\\tc"


def _window(**row):
    return {
        "window_start": "2026-01-01T00:00:00Z",
        "window_end": "2026-01-01T00:01:00Z",
        "pane_timing": "ON_TIME",
        "pane_index": 0,
        **row,
    }


def test_pane_table_and_record_lines_escape_hostile_text() -> None:
    top = format_pane_table(_window(kind="top", top=[[token, 3] for token in HOSTILE]))
    _assert_clean(top)
    assert "\\x1b]0;pwned\\x07title" in top and "\\u202egnp.exe" in top
    assert top.count("\n") == len(HOSTILE)  # one line per token: a newline in a token cannot add one
    for kind in ("dead_letter", "late_record"):
        line = format_pane_table(
            {
                "kind": kind,
                "topic": "t\x1b[31m",
                "partition": 0,
                "offset": 7,
                "reason": "bad JSON: \x1b]0;x\x07 \u202e\nforged line",
            }
        )
        _assert_clean(line)
        assert "\n" not in line


def test_log_sink_escapes_rows_that_have_no_table(capsys) -> None:
    fn = _LogFn()
    fn.write_bundle([_window(kind="count", token=token, count=1) for token in HOSTILE])
    text = capsys.readouterr().err
    assert len(text.splitlines()) == len(HOSTILE)
    _assert_clean(text)


def test_every_log_line_is_escaped(capsys) -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler()  # stderr, as the CLI's
    root.addHandler(handler)
    try:
        escape_log_lines()
        logging.getLogger("test.terminal").warning("record says %s", "".join(HOSTILE) + "\nsecond line")
    finally:
        root.removeHandler(handler)
    err = capsys.readouterr().err
    _assert_clean(err)
    assert "record says \\x1b]0;pwned" in err and "\nsecond line" in err


def _cli(*args: str, tmp_path, env_extra=None, timeout=300):
    import subprocess

    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), **(env_extra or {})}
    result = subprocess.run(cli_command(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
    return result, sorted(p.name for p in tmp.iterdir())


_QUIET = ("Really destroying", "Really starting", "apitools not found", "Logging handler created", "Traceback")


def _assert_quiet(stderr: str) -> None:
    noisy = [line for line in stderr.splitlines() if any(marker in line for marker in _QUIET)]
    assert not noisy, f"noise at default verbosity: {noisy}"


def test_validate_is_quiet_and_leaves_no_temp_directory(tmp_path, prism_location) -> None:
    result, left = _cli("validate", "--config", DIRECT_CONFIG, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    _assert_quiet(result.stderr)
    assert left == [], f"validate left {left} in the temp directory"


@pytest.mark.parametrize("workers", [1, 2], ids=["prism", "worker-processes"])
def test_a_run_with_hostile_records_is_escaped_quiet_and_leaves_no_temp_directory(
    kafka_broker, fresh_topic, prism_location, tmp_path, workers
) -> None:
    topic = fresh_topic(partitions=1)
    texts = [" ".join(HOSTILE)] * 3
    messages = [ProducerRecord(json.dumps({"text": text}), None, None) for text in texts]
    messages.append(ProducerRecord("\x1b]0;not json\x07 \u202e", None, None))  # a dead letter
    produce_messages(kafka_broker.bootstrap_servers, topic, messages)
    settings = config_overrides(
        source__bootstrap_servers=kafka_broker.bootstrap_servers,
        source__topics=[topic],
        source__group_id=f"g-{uuid.uuid4().hex[:8]}",
        source__stop="latest",
        format__type="json",
        format__text_field="text",
        tokenize__tokenizer="whitespace",
        tokenize__lowercase=False,
        count__top_k=20,
        sink__type="stdout",
        dead_letter__type="log",
        options__direct_num_workers=workers,
    )
    result, left = _cli("run", "--config", DIRECT_CONFIG, *settings, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "records read 4 = decoded 3 + dead letters 1: ok" in result.stderr, result.stderr[-3000:]
    _assert_clean(result.stdout)
    _assert_clean(result.stderr)
    assert "\\x1b]0;pwned\\x07title" in result.stdout and "\\u202egnp.exe" in result.stdout, result.stdout
    # The log sink writes to stderr itself: its rows are shown with worker processes too.
    assert "dead_letter:" in result.stderr, result.stderr[-3000:]
    _assert_quiet(result.stderr)
    assert left == [], f"run left {left} in the temp directory"
