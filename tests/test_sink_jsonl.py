"""The jsonl sink writes whole rows or none: a failed append is cut back, a torn tail is cut, new entries are durable."""

from __future__ import annotations

import errno
import json
import logging
import os
import stat

import pytest
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp

from transforms import sinks
from transforms.kafka.ledger import OffsetCredit

ROWS = [{"kind": "dead_letter", "reason": "r", "topic": "t", "partition": 0, "offset": n} for n in range(50)]
CREDITS = [OffsetCredit("t", 0, ((0, 50),))]


def _bundle(fn, rows) -> list:
    fn.start_bundle()
    for row in rows:
        fn.process(row, Timestamp(0), GlobalWindow())
    return [credit.value for credit in fn.finish_bundle()]


def _sink(path) -> sinks._AppendJsonLinesFn:
    fn = sinks._AppendJsonLinesFn(str(path), run_id=None)
    fn.setup()
    return fn


def _rows(path) -> list:
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), f"torn tail: {text[-80:]!r}"
    return [json.loads(line) for line in text.splitlines()]


def test_a_failed_append_is_cut_back_and_the_next_bundle_appends_whole_rows(tmp_path, monkeypatch):
    path = tmp_path / "rows.jsonl"
    fn = _sink(path)
    assert _bundle(fn, ROWS[:2]) == [OffsetCredit("t", 0, ((0, 2),))]
    real_write = os.write

    def disk_full(fd, data):
        real_write(fd, bytes(data[: len(data) // 2]))  # a partial chunk reaches the file first
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(OSError) as failed:
        _bundle(fn, ROWS[2:])
    assert failed.value.errno == errno.ENOSPC
    assert _rows(path) == ROWS[:2]
    monkeypatch.setattr(os, "write", real_write)
    assert _bundle(fn, ROWS[2:]) == [OffsetCredit("t", 0, ((2, 50),))]
    assert _rows(path) == ROWS


@pytest.mark.parametrize(
    "before, kept",
    [
        ('{"kind":"a"}\n{"kind":"cou', '{"kind":"a"}\n'),
        ('{"kind":"cou', ""),
        ('{"kind":"a"}\n' + "x" * 200_000, '{"kind":"a"}\n'),  # a tail longer than one read
        ('{"kind":"a"}\n', '{"kind":"a"}\n'),
    ],
)
def test_a_torn_row_left_by_an_earlier_run_is_cut_before_the_append(tmp_path, caplog, before, kept):
    path = tmp_path / "rows.jsonl"
    path.write_text(before, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="transforms.sinks"):
        assert _bundle(_sink(path), ROWS) == CREDITS
    assert path.read_text(encoding="utf-8") == kept + "".join(sinks._to_json(row) + "\n" for row in ROWS)
    cut = len(before) - len(kept)
    assert [record.getMessage() for record in caplog.records] == (
        [f"{path}: cut {cut} bytes off the end: a torn row (no newline) that a failed write left"] if cut else []
    )


def test_new_directories_and_a_new_file_are_made_durable_in_their_parents(tmp_path, monkeypatch):
    synced, real_fsync = [], os.fsync

    def record_fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", record_fsync)
    path = tmp_path / "a" / "b" / "rows.jsonl"
    fn = _sink(path)
    assert synced == [str(tmp_path), str(tmp_path / "a")]
    _bundle(fn, ROWS[:1])
    assert synced[2:] == [str(tmp_path / "a" / "b")]
    _bundle(fn, ROWS[1:2])  # the file exists: its directory entry is on disk already
    assert synced[3:] == []
    assert _rows(path) == ROWS[:2]
