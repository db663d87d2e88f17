"""The `log` sink writes its rows to stderr itself, flushed before it credits them; logging is no write.

Worker processes log at ERROR, Beam's log queue drops entries when full and logging
swallows write errors, so a row only logged may be gone while its offset is committed
(docs/design.md, decision 10). The last test runs the CLI with worker processes on a real broker.
"""

from __future__ import annotations

import errno
import io
import logging
import re
import uuid

import pytest
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from confluent_kafka import Producer

from tests.integration_helpers import DIRECT_CONFIG, config_overrides, records_accounting, run_cli
from transforms.kafka.ledger import OffsetCredit
from transforms.sinks import _LogFn

WINDOW = {"window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-01T00:01:00Z", "pane_timing": "ON_TIME"}
DEAD = {"kind": "dead_letter", "reason": "invalid utf-8", "topic": "t", "partition": 0, "offset": 4, "value_b64": ""}
COUNT = {"kind": "count", **WINDOW, "pane_index": 0, "token": "\x1b]0;x\x07\u202e", "count": 2}


def _bundle(fn, *elements) -> list:
    """Runs one bundle through a sink DoFn; returns the credits it lets out."""
    fn.start_bundle()
    for element in elements:
        fn.process(element, Timestamp(0), GlobalWindow())
    return [credit.value for credit in fn.finish_bundle()]


@pytest.fixture
def logging_off():
    logging.disable(logging.CRITICAL)  # as in a worker process at ERROR, or after a signal
    yield
    logging.disable(logging.NOTSET)


def test_log_sink_writes_each_row_to_stderr_even_with_logging_off(capsys, logging_off):
    credits = _bundle(_LogFn(), DEAD, COUNT)
    assert capsys.readouterr().err == (
        "dead_letter: t-0@4: invalid utf-8\n"
        '{"kind":"count","window_start":"2026-01-01T00:00:00Z","window_end":"2026-01-01T00:01:00Z",'
        '"pane_timing":"ON_TIME","pane_index":0,"token":"\\u001b]0;x\\u0007\\u202e","count":2}\n'
    )
    assert credits == [OffsetCredit("t", 0, ((4, 5),))]


class _BrokenStream(io.StringIO):
    def __init__(self, fail_on: str):
        super().__init__()
        self._fail_on = fail_on

    def write(self, text):
        if self._fail_on == "write":
            raise OSError(errno.EPIPE, "Broken pipe")
        return super().write(text)

    def flush(self):
        if self._fail_on == "flush":
            raise OSError(errno.EIO, "Input/output error")


@pytest.mark.parametrize("fail_on", ["write", "flush"])
def test_a_failed_write_to_stderr_fails_the_bundle_and_credits_nothing(monkeypatch, fail_on):
    monkeypatch.setattr("sys.stderr", _BrokenStream(fail_on))
    fn = _LogFn()
    with pytest.raises(OSError):
        _bundle(fn, DEAD)
    monkeypatch.setattr("sys.stderr", None)
    with pytest.raises(OSError, match="no stderr"):
        _bundle(fn, DEAD)


def test_dead_letters_of_worker_processes_are_printed_on_stderr(kafka_broker, fresh_topic, prism_location):
    topic = fresh_topic(partitions=1, prefix="logsink")
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    for value in (b"hello world", b"caf\xe9 bad", b"good words", b"\xff\xfe not utf-8"):
        producer.produce(topic, value)
    assert producer.flush(10) == 0
    result = run_cli(
        "run",
        "--config",
        DIRECT_CONFIG,
        *config_overrides(
            source__bootstrap_servers=kafka_broker.bootstrap_servers,
            source__topics=[topic],
            source__group_id=f"g-{uuid.uuid4().hex[:8]}",
            source__stop="latest",
            options__direct_num_workers=2,
            dead_letter__type="log",
        ),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert records_accounting(result.stderr) == (4, 2, 2, "ok")
    assert sorted(re.findall(rf"^dead_letter: {topic}-0@(\d+): invalid utf-8: .*$", result.stderr, re.M)) == [
        "1",
        "3",
    ], result.stderr[-3000:]
