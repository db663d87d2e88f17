"""A run on a Flink cluster refuses to start beside its own orphan: jobs.py against a tiny REST server.

The server answers ``GET /jobs/overview`` with an answer recorded from the Flink 1.19
session cluster of ``stack up --flink`` (the job names made equal to what
`flink_job_name` gives, the states varied); no Flink is started.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.stack import StackError
from pipeline.stack.flink import jobs
from pipeline.stack.net import free_port

NAME = jobs.flink_job_name("token-counts", ["text-stream"])
ORPHAN = "4f6f2c1e0b9a4d38a1c2b3d4e5f60718"


def _job(jid: str, name: str, state: str, start: int) -> dict:
    # One entry of /jobs/overview as Flink 1.19.3 gave it for an orphan after `kill -9` of `run`.
    tasks = ("canceling", "canceled", "created", "scheduled", "deploying", "reconciling", "finished", "initializing")
    return {
        "jid": jid,
        "name": name,
        "start-time": start,
        "end-time": -1,
        "duration": 194372,
        "state": state,
        "last-modification": start + 157415,
        "tasks": {"running": 15, "total": 15, "failed": 0, **dict.fromkeys(tasks, 0)},
    }


OVERVIEW = {
    "jobs": [
        _job("0" * 32, NAME, "FINISHED", 1_700_000_000_000),
        _job("1" * 32, NAME, "CANCELED", 1_700_000_100_000),
        _job("2" * 32, jobs.flink_job_name("other-group", ["text-stream"]), "RUNNING", 1_700_000_200_000),
        _job(ORPHAN, NAME, "RUNNING", 1_700_000_300_000),
    ]
}


@pytest.fixture
def flink_rest() -> Iterator[tuple[str, dict]]:
    """A REST server on 127.0.0.1 answering /jobs/overview with ``answer["body"]``; yields (host:port, answer)."""
    answer: dict = {"body": OVERVIEW, "cancelled": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(answer["body"]).encode() if self.path == "/jobs/overview" else b"{}"
            self.send_response(200 if self.path == "/jobs/overview" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def do_PATCH(self) -> None:
            answer["cancelled"].append(self.path)
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}", answer
    finally:
        server.shutdown()
        server.server_close()


def _options(master: str, job_name: str | None = NAME, runner: str = "FlinkRunner") -> PipelineOptions:
    given = {"runner": runner, "flink_master": master, **({"job_name": job_name} if job_name else {})}
    return PipelineOptions.from_dictionary(given)


def test_the_job_name_says_group_and_topics_whatever_their_order():
    assert jobs.flink_job_name("g", ["b", "a"]) == jobs.flink_job_name("g", ["a", "b"]) == "token-counts/g/a,b"
    assert jobs.flink_job_name("g-h", ["t"]) != jobs.flink_job_name("g", ["h-t"])


def test_only_the_unfinished_job_of_the_same_name_conflicts(flink_rest):
    master, _ = flink_rest
    assert jobs.running_jobs_named(master, NAME) == [jobs.FlinkJob(ORPHAN, NAME, "RUNNING", 1_700_000_300_000)]
    assert jobs.running_jobs_named(f"http://{master}/", NAME)[0].jid == ORPHAN
    assert jobs.running_jobs_named(master, jobs.flink_job_name("token-counts", ["elsewhere"])) == []


@pytest.mark.parametrize("state", sorted(jobs.ACTIVE_STATES))
def test_a_restarting_or_starting_job_conflicts_too(flink_rest, state):
    master, answer = flink_rest
    answer["body"] = {"jobs": [_job(ORPHAN, NAME, state, 1)]}
    assert [job.state for job in jobs.running_jobs_named(master, NAME)] == [state]


def test_the_refusal_is_one_line_with_the_job_id_and_the_command_that_cancels_it(flink_rest):
    master, _ = flink_rest
    with pytest.raises(StackError) as refused:
        jobs.refuse_running_job(_options(master))
    message = str(refused.value)
    assert "\n" not in message and ORPHAN in message and "RUNNING since" in message
    assert f"curl -X PATCH 'http://{master}/jobs/{ORPHAN}?mode=cancel'" in message
    assert "source.start: committed" in message


def test_no_refusal_without_a_conflict_or_outside_a_cluster(flink_rest):
    master, answer = flink_rest
    jobs.refuse_running_job(_options(master, job_name=None))  # no name: nothing to match
    jobs.refuse_running_job(_options("[auto]"))  # embedded Flink: no cluster to ask
    jobs.refuse_running_job(_options(master, runner="PrismRunner"))
    answer["body"] = {"jobs": [_job(ORPHAN, NAME, "CANCELED", 1)]}
    jobs.refuse_running_job(_options(master))


def test_a_cluster_that_does_not_answer_is_one_line_naming_it():
    master = f"127.0.0.1:{free_port()}"
    with pytest.raises(StackError, match=rf"cannot ask the Flink cluster at http://{master} .*stack up --flink"):
        jobs.running_jobs_named(master, NAME, timeout=2)


def test_an_answer_without_a_job_list_is_one_line(flink_rest):
    master, answer = flink_rest
    answer["body"] = {"errors": ["Not found"]}
    with pytest.raises(StackError, match="without a job list"):
        jobs.running_jobs_named(master, NAME)


def test_cancel_asks_the_cluster_to_cancel_that_job(flink_rest):
    master, answer = flink_rest
    jobs.cancel_job(master, ORPHAN)
    assert answer["cancelled"] == [f"/jobs/{ORPHAN}?mode=cancel"]
