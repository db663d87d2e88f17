"""A failed job ends `run` with one line that says what failed; the runner's tracebacks only with -v."""

from __future__ import annotations

import io
import logging
import re
import sys
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
from confluent_kafka import Producer

from pipeline.config import load_config
from pipeline.console.job_failure import describe_failure, innermost_error
from pipeline.runner_noise import RunnerErrors, quiet_passed_through_options
from tests.integration_helpers import DIRECT_CONFIG, REPO, config_overrides, run_cli

PRISM_CONFIG = str(REPO / "run_configs" / "prism.yaml")
FLINK_CLUSTER_CONFIG = str(REPO / "run_configs" / "flink-cluster.yaml")

# What Prism reported for a jsonl sink on a full device (a real run, file paths shortened): the job
# service's error message, which is also the RuntimeError's text.
PRISM_SINK_FAILURE = """\
bundle inst007 stage-009 failed:Traceback (most recent call last):
  File "apache_beam/runners/common.py", line 1569, in apache_beam.runners.common.DoFnRunner._invoke_bundle_method
  File ".../transforms/sinks.py", line 170, in write_bundle
    view = view[os.write(fd, view) :]
                ^^^^^^^^^^^^^^^^^^
OSError: [Errno 28] No space left on device

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File ".../apache_beam/runners/worker/sdk_worker.py", line 310, in _execute
    response = task()
               ^^^^^^
  File "apache_beam/runners/common.py", line 1623, in apache_beam.runners.common.DoFnRunner._reraise_augmented
  File ".../transforms/sinks.py", line 170, in write_bundle
    view = view[os.write(fd, view) :]
                ^^^^^^^^^^^^^^^^^^
RuntimeError: OSError: [Errno 28] No space left on device [while running 'WriteResults/Write']
"""

# The shape of what Beam 2.62's Flink job server reports when the cluster no longer knows the job
# (a replaced JobManager): JobInvocation sends the root cause's toString, and Flink's RestClient
# puts the REST error list, the server's stack trace, in brackets. Before, `run` printed
# `error: the pipeline failed: ]` from it.
FLINK_JOB_GONE = """\
Pipeline BeamApp-root-1202014512-5f0c3a1e failed in state FAILED: \
org.apache.flink.runtime.rest.util.RestClientException: [org.apache.flink.runtime.rest.handler.RestHandlerException: \
Could not find Flink job (9d5c1f7e2b8a4c6d0e3f5a7b9c1d2e4f)
\tat org.apache.flink.runtime.rest.handler.job.JobExecutionResultHandler.propagateException(JobExecutionResultHandler.java:94)
\tat org.apache.flink.runtime.rest.handler.job.JobExecutionResultHandler.lambda$handleRequest$1(JobExecutionResultHandler.java:84)
\tat java.base/java.util.concurrent.CompletableFuture.uniExceptionally(CompletableFuture.java:990)
\tat java.base/java.util.concurrent.CompletableFuture$UniExceptionally.tryFire(CompletableFuture.java:974)
\tat java.base/java.util.concurrent.CompletableFuture.postComplete(CompletableFuture.java:510)
\tat org.apache.flink.runtime.rpc.pekko.PekkoInvocationHandler.lambda$invokeRpc$1(PekkoInvocationHandler.java:260)
Caused by: org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (9d5c1f7e2b8a4c6d0e3f5a7b9c1d2e4f)
\tat org.apache.flink.runtime.dispatcher.Dispatcher.lambda$requestJobStatus$37(Dispatcher.java:1103)
\tat java.base/java.util.Optional.orElseGet(Optional.java:364)
\tat org.apache.flink.runtime.dispatcher.Dispatcher.requestJobStatus(Dispatcher.java:1097)
\t... 47 more

]"""

# A Python worker's error as the Flink job server reports it: Java around the worker's traceback.
FLINK_WORKER_FAILURE = """\
java.lang.RuntimeException: Error received from SDK harness for instruction 12: Traceback (most recent call last):
  File ".../transforms/sinks.py", line 231, in write_bundle
    raise RuntimeError(f"writing to Kafka topic {self._topic!r} failed: {error}")
RuntimeError: writing to Kafka topic 'counts' failed: KafkaError{code=MSG_SIZE_TOO_LARGE,val=10}

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
RuntimeError: RuntimeError: writing to Kafka topic 'counts' failed: KafkaError{code=MSG_SIZE_TOO_LARGE,val=10} \
[while running 'WriteDeadLetters/Write']

\tat org.apache.beam.runners.fnexecution.control.FnApiControlClient$ResponseStreamObserver.onNext(FnApiControlClient.java:180)
Caused by: java.lang.IllegalStateException: a later Java error
"""


def _config(path: str = DIRECT_CONFIG, *overrides: str):
    return load_config(path, overrides)


def test_a_sink_failure_on_prism_names_the_sink_its_file_and_the_innermost_error():
    config = _config(PRISM_CONFIG, "sink.type=jsonl", "sink.path=out/counts.jsonl")
    assert innermost_error(PRISM_SINK_FAILURE) == "[Errno 28] No space left on device"
    assert describe_failure(PRISM_SINK_FAILURE, config) == (
        "the jsonl sink could not write out/counts.jsonl: [Errno 28] No space left on device"
    )


def test_a_vanished_flink_job_is_one_line_that_says_a_rerun_resumes():
    line = describe_failure(FLINK_JOB_GONE, _config(FLINK_CLUSTER_CONFIG))
    assert line == (
        "the Flink job 9d5c1f7e2b8a4c6d0e3f5a7b9c1d2e4f is gone from the cluster at 127.0.0.1:8081 (a restarted "
        "or replaced cluster forgets its jobs); a rerun with source.start: committed resumes from the last "
        "committed offsets"
    )
    # Without a consumer group nothing is committed: no resume to promise.
    assert "rerun" not in describe_failure(FLINK_JOB_GONE, _config(FLINK_CLUSTER_CONFIG, "source.group_id=null"))


def test_a_worker_error_inside_a_java_exception_is_the_python_root_and_names_the_kafka_sink():
    config = _config(FLINK_CLUSTER_CONFIG, "dead_letter.type=kafka", "dead_letter.topic=dead")
    assert describe_failure(FLINK_WORKER_FAILURE, config) == (
        "the dead-letter kafka sink could not write to Kafka topic dead: RuntimeError: writing to Kafka topic "
        "'counts' failed: KafkaError{code=MSG_SIZE_TOO_LARGE,val=10}"
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Traceback (most recent call last):\nPermissionError: [Errno 13] Permission denied: '/data/late.jsonl' "
            "[while running 'WriteLateRecords/Write']",
            "the late-record jsonl sink could not write /data/late.jsonl: [Errno 13] Permission denied",
        ),
        (
            "Traceback (most recent call last):\ncimpl.KafkaException: KafkaError{code=TOPIC_AUTHORIZATION_FAILED} "
            "[while running 'CommitOffsets/Commit']",
            "committing offsets to group token-counts failed: KafkaException: KafkaError{code=TOPIC_AUTHORIZATION_FAILED}",
        ),
        ("Pipeline job-001 failed in state FAILED: unknown error", "the pipeline failed: unknown error"),
    ],
)
def test_other_failures_name_their_step(text, expected):
    config = _config(DIRECT_CONFIG, "late_records.type=jsonl", "late_records.path=/data/late.jsonl")
    assert describe_failure(text, config) == expected


def test_runner_errors_are_held_while_the_job_runs_and_shown_once_if_the_job_outlives_them():
    shown = io.StringIO()
    errors = RunnerErrors(lambda text: innermost_error(text), stream=shown, outlived_s=0.2)
    errors.hold(PRISM_SINK_FAILURE)
    errors.hold(PRISM_SINK_FAILURE)  # the same error again (a retry): one line
    time.sleep(0.6)
    assert shown.getvalue().splitlines() == [
        "warning: the runner reported an error and the job goes on: [Errno 28] No space left on device "
        "(-v shows it whole)"
    ]
    failing = io.StringIO()
    errors = RunnerErrors(lambda text: innermost_error(text), stream=failing, outlived_s=0.2)
    errors.hold(PRISM_SINK_FAILURE)
    errors.job_ended()  # the job failed: the CLI says it in its own line
    errors.hold("Traceback (most recent call last):\nValueError: after the end")
    time.sleep(0.6)
    assert failing.getvalue() == ""


def test_a_failed_job_leaves_one_line_and_nothing_of_the_runner_on_stderr(capsys, monkeypatch):
    from pipeline import cli

    class FailingDisplay:
        def start(self, config, run_job):
            # What the runner does as a job fails: the SDK worker prints and logs the traceback, the
            # job service's message is logged on the root logger, a worker thread dies.
            def worker():
                print(PRISM_SINK_FAILURE, file=sys.stderr)
                logging.getLogger("apache_beam.runners.worker.sdk_worker").error("Error processing instruction")
                raise ConnectionError("read from context metadata but not registered in worker pool")

            thread = threading.Thread(target=worker)
            thread.start()
            thread.join()
            logging.log(logging.ERROR, "%s", FLINK_JOB_GONE)
            raise RuntimeError(FLINK_JOB_GONE)

    saved_hook, saved_stderr = threading.excepthook, sys.stderr
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.StreamHandler(sys.stderr)])
    args = SimpleNamespace(verbose=False, duration=None)
    config = _config(FLINK_CLUSTER_CONFIG)
    try:
        with pytest.raises(cli._JobFailed) as failed:
            cli._start_and_wait(args, config, None, FailingDisplay(), None)
    finally:
        threading.excepthook, sys.stderr = saved_hook, saved_stderr
    assert str(failed.value).startswith("the Flink job 9d5c1f7e2b8a4c6d0e3f5a7b9c1d2e4f is gone from the cluster")
    assert capsys.readouterr().err == ""


def test_flink_options_for_the_job_server_are_not_unparseable_arguments(caplog):
    from apache_beam.options.pipeline_options import PipelineOptions

    quiet_passed_through_options()
    unique = uuid.uuid4().int % 10**9  # Beam warns once per message and process
    options = PipelineOptions.from_dictionary(
        {"checkpointing_interval": unique, "shutdown_sources_after_idle_ms": unique, "no_such_option": unique}
    )
    with caplog.at_level(logging.WARNING):
        options.get_all_options(retain_unknown_options=True, display_warnings=True)
    warned = [r.getMessage() for r in caplog.records if "Unparseable argument" in r.getMessage()]
    assert warned and all(w.startswith(f"Unparseable argument: --no_such_option={unique}") for w in warned)


# --- on a real broker and Prism ----------------------------------------------------------------------


def test_a_sink_that_cannot_write_ends_the_run_with_one_line(kafka_broker, fresh_topic, prism_location):
    topic = fresh_topic(partitions=1, prefix="sinkfail")
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    for i in range(5):
        producer.produce(topic, value=f"rain in spain {i}".encode())
    assert producer.flush(10) == 0
    settings = config_overrides(
        source__bootstrap_servers=kafka_broker.bootstrap_servers,
        source__topics=[topic],
        source__group_id=f"g-{uuid.uuid4().hex[:8]}",
        source__stop="latest",
        sink__type="jsonl",
        sink__path="/dev/full",  # every write: ENOSPC, as on a full disk
    )
    expected = "error: the jsonl sink could not write /dev/full: [Errno 28] No space left on device"

    quiet = run_cli("run", "--config", PRISM_CONFIG, *settings)
    assert quiet.returncode == 1, quiet.stderr
    assert quiet.stderr.strip().splitlines()[-1] == expected, quiet.stderr
    assert "Traceback" not in quiet.stderr and not re.search(r"^ERROR ", quiet.stderr, re.M), quiet.stderr
    assert len(quiet.stderr.strip().splitlines()) <= 5, quiet.stderr  # runner, executing on, progress, error

    verbose = run_cli("-v", "run", "--config", PRISM_CONFIG, *settings)
    assert verbose.returncode == 1
    assert verbose.stderr.count("Traceback (most recent call last):") >= 2 and expected in verbose.stderr
