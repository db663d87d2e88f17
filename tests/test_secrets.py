"""Secrets: a `${NAME}` value is never printed, whatever key holds it (issue 13, part 5).

A distinctive secret is put, through the environment, in every place a config can
hold one; `validate` and `run` (against an unreachable broker, so `run` stops at its
broker check) must not write it: every byte of stdout and stderr is searched.
Then each place is probed on its own with a value the config refuses, because
error messages are where a value is most likely to be quoted.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.integration_helpers import REPO

SECRET = "Zq7xS3cretValue9041"
SECRET_ENV = {"TS_SECRET": SECRET, "TS_HOST": f"{SECRET}.invalid"}

# Every place of a valid config that can hold a value from the environment.
EVERYWHERE = f"""\
extends: {REPO}/run_configs/direct.yaml
options: {{job_name: '${{TS_SECRET}}', labels: ['team=${{TS_SECRET}}']}}
source:
  bootstrap_servers: '127.0.0.1:1,${{TS_HOST}}:9092'
  topics: ['t-${{TS_SECRET}}']
  group_id: 'g-${{TS_SECRET}}'
  consumer_config:
    security.protocol: SASL_PLAINTEXT
    sasl.mechanism: PLAIN
    sasl.username: '${{TS_SECRET}}'
    sasl.password: '${{TS_SECRET}}'
    client.id: 'c-${{TS_SECRET}}'
format: {{type: json, text_field: 'f${{TS_SECRET}}'}}
sink: {{type: jsonl, path: 'SCRATCH/out-${{TS_SECRET}}.jsonl'}}
dead_letter:
  type: kafka
  topic: 'dl-${{TS_SECRET}}'
  producer_config: {{sasl.mechanism: PLAIN, security.protocol: SASL_PLAINTEXT, sasl.username: u,
                    sasl.password: '${{TS_SECRET}}'}}
late_records: {{type: jsonl, path: 'SCRATCH/late-${{TS_SECRET}}.jsonl'}}
"""

# (where, a config whose refused value holds the secret)
REFUSED = [
    ("bootstrap_servers", "source: {bootstrap_servers: '${TS_SECRET}:notaport'}"),
    (
        "sasl.mechanism",
        "source: {consumer_config: {security.protocol: SASL_PLAINTEXT, sasl.mechanism: '${TS_SECRET}'}}",
    ),
    ("consumer_config value", "source: {consumer_config: {auto.offset.reset: '${TS_SECRET}'}}"),
    ("producer_config value", "sink: {type: kafka, topic: t, producer_config: {compression.type: '${TS_SECRET}'}}"),
    ("unknown option", "options: {kafka_password: '${TS_SECRET}'}"),
    ("option value", "options: {direct_num_workers: '${TS_SECRET}'}"),
    (
        "Dataflow option",
        "runner: DataflowRunner\noptions: {project: '${TS_SECRET}', region: r, temp_location: 'gs://${TS_SECRET}/t'}",
    ),
    ("topic", "source: {topics: ['${TS_SECRET} x']}"),
    ("sink path", "sink: {type: jsonl, path: 'SCRATCH/${TS_SECRET}'}"),  # a directory
    ("stopwords file", "tokenize: {stopwords: 'file:/nonexistent/${TS_SECRET}'}"),
    ("start", "source: {start: '${TS_SECRET}'}"),
    ("window size", "window: {size: '${TS_SECRET}'}"),
]


def _cli(*args: str, cwd) -> str:
    """Runs the CLI with the secret in its environment; returns every byte it wrote, decoded leniently."""
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        capture_output=True,
        timeout=180,
        env={**os.environ, **SECRET_ENV},
    )
    return (result.stdout + result.stderr).decode("utf-8", "replace") + f"\nexit {result.returncode}"


def _assert_no_secret(output: str) -> None:
    assert SECRET not in output, output[-3000:]
    assert SECRET.lower() not in output.lower(), output[-3000:]


@pytest.fixture
def everywhere(tmp_path):
    path = tmp_path / "everywhere.yaml"
    path.write_text(EVERYWHERE.replace("SCRATCH", str(tmp_path)), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("verbose", [(), ("-v",)], ids=["quiet", "verbose"])
def test_validate_never_prints_the_secret(everywhere, tmp_path, verbose):
    output = _cli(*verbose, "validate", "--config", everywhere, cwd=tmp_path)
    assert "everywhere.yaml: ok" in output and "exit 0" in output, output[-3000:]
    _assert_no_secret(output)
    assert "${TS_HOST}:9092" in output  # what validate shows instead: the reference


def test_run_against_an_unreachable_broker_never_prints_the_secret(everywhere, tmp_path):
    output = _cli("run", "--config", everywhere, cwd=tmp_path)
    assert "cannot reach Kafka at 127.0.0.1:1,${TS_HOST}:9092" in output and "exit 2" in output, output[-3000:]
    _assert_no_secret(output)


@pytest.mark.parametrize("where, config", REFUSED, ids=[where for where, _ in REFUSED])
def test_a_refused_value_from_the_environment_is_never_printed(where, config, tmp_path):
    (tmp_path / SECRET).mkdir()
    path = tmp_path / "refused.yaml"
    path.write_text(
        f"extends: {REPO}/run_configs/direct.yaml\n" + config.replace("SCRATCH", str(tmp_path)) + "\n", encoding="utf-8"
    )
    output = _cli("validate", "--config", str(path), cwd=tmp_path)
    assert "exit 2" in output and output.startswith("error: "), output[-3000:]
    _assert_no_secret(output)
