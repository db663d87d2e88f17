"""Dataflow, offline: the project as a worker installs it, and the job request Beam would submit.

A Dataflow worker gets the project as the source distribution that `setup_file`
builds, and pip-installs it with its pinned dependencies. The fixture does the
same into a fresh virtual environment (plus the `dataflow` extra,
apache-beam[gcp]); one test runs the pipeline from there, the other has Beam's
DataflowRunner build the whole job request for run_configs/dataflow.yaml
without submitting it (`dry_run`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.devtools.producer import ProducerRecord, produce_messages
from tests.integration_helpers import REPO, config_overrides, read_rows, records_accounting

_PIP_TIMEOUT_S = 1200
DATAFLOW_ENV = {
    "DATAFLOW_PROJECT": "token-counts-test",
    "DATAFLOW_REGION": "europe-west1",
    "DATAFLOW_TEMP_LOCATION": "gs://token-counts-test-bucket/tmp",
    "DATAFLOW_STAGING_LOCATION": "gs://token-counts-test-bucket/staging",
    "KAFKA_BOOTSTRAP_SERVERS": "broker-1.example.internal:9093",
    "KAFKA_USER": "counts",
    "KAFKA_PASSWORD": "not-a-real-password",
}

# Runs inside the virtual environment: what `DataflowRunner` does up to the submission,
# then the Environment half of the request that create_job would add after staging.
_DRY_RUN = """
import json, sys
from apache_beam.runners.dataflow.internal import apiclient
from pipeline.config import load_config
from pipeline.graph import build_pipeline, pipeline_options

config = load_config(sys.argv[1], ("options.dry_run=1",))
job = build_pipeline(config, pipeline_options(config)).run().job
environment = apiclient.Environment(
    packages=[], options=job.options, environment_version=apiclient._FNAPI_ENVIRONMENT_MAJOR_VERSION,
    proto_pipeline_staged_url="gs://staged/pipeline.pb", proto_pipeline=job.proto_pipeline).proto
job.proto.environment = environment
components = job.proto_pipeline.components
print(json.dumps({
    "job": type(job.proto).to_dict(job.proto),
    "transforms": sorted(t.unique_name for t in components.transforms.values()),
    "artifacts": sorted(d.role_payload.decode("latin-1") for e in components.environments.values()
                        for d in e.dependencies),
    "container_images": sorted(e.payload.decode("latin-1") for e in components.environments.values()),
}, default=str))
"""


def _run(command: list[str], cwd: Path, env: dict | None = None, timeout: float = _PIP_TIMEOUT_S):
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env or dict(os.environ)
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def worker_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment with the project installed from its sdist, as a Dataflow worker has it."""
    root = tmp_path_factory.mktemp("worker")
    _run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(root / "dist")], REPO)
    sdist = next((root / "dist").glob("beam?token?counts-*.tar.gz"))
    _run([sys.executable, "-m", "venv", str(root / "venv")], root)
    python = root / "venv" / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"{sdist}[dataflow]"], root)
    yield python


def test_the_installed_package_runs_the_pipeline_outside_the_checkout(
    worker_venv, kafka_broker, fresh_topic, prism_location, use_nltk_data, tmp_path
):
    topic = fresh_topic(partitions=2)
    produce_messages(
        kafka_broker.bootstrap_servers,
        topic,
        [ProducerRecord(f"installed from the sdist {i}", None, None) for i in range(12)],
    )
    out = tmp_path / "out.jsonl"
    where = _run([str(worker_venv), "-c", "import pipeline, transforms; print(pipeline.__file__)"], tmp_path)
    assert where.stdout.startswith(str(worker_venv.parent.parent)), where.stdout
    result = _run(
        [
            str(worker_venv),
            "-m",
            "pipeline",
            "run",
            "--config",
            str(REPO / "run_configs" / "direct.yaml"),
            *config_overrides(
                source__bootstrap_servers=kafka_broker.bootstrap_servers,
                source__topics=[topic],
                source__stop="latest",
                tokenize__punkt="installed",
                sink__type="jsonl",
                sink__path=str(out),
            ),
        ],
        tmp_path,
        timeout=300,
    )
    assert records_accounting(result.stderr) == (12, 12, 0, "ok")
    counts = {r["token"]: r["count"] for r in read_rows(out, "count")}
    assert counts["sdist"] == 12 and counts["installed"] == 12


def test_beam_builds_the_complete_dataflow_job_request_without_submitting(worker_venv, tmp_path):
    script = tmp_path / "dry_run.py"
    script.write_text(_DRY_RUN, encoding="utf-8")
    # From the repository root, as docs/runners.md says, because setup_file is ./setup.py.
    result = _run(
        [str(worker_venv), str(script), str(REPO / "run_configs" / "dataflow.yaml")],
        REPO,
        env={**os.environ, **DATAFLOW_ENV},
        timeout=300,
    )
    request = json.loads(result.stdout.strip().splitlines()[-1])
    job, transforms = request["job"], request["transforms"]
    assert job["name"] == "token-counts" and job["type_"] == 2  # JOB_TYPE_STREAMING
    for step in ("ReadFromKafka", "DecodeMessages", "TokenizeText", "WindowTokens", "CountTokens", "WriteResults"):
        assert step in transforms
    assert "ReadFromKafka/ReadShards" in transforms
    environment = job["environment"]
    options = environment["sdk_pipeline_options"]["options"]
    assert options["project"] == "token-counts-test" and options["region"] == "europe-west1"
    assert options["streaming"] is True and options["enable_streaming_engine"] is True
    assert options["setup_file"] == "./setup.py" and options["machine_type"] == "n2-standard-2"
    assert "token-counts-test-bucket/tmp" in environment["temp_storage_prefix"]
    assert environment["worker_pools"][0]["machine_type"] == "n2-standard-2"
    assert any("beam_python3.11_sdk:2.77.0" in image for image in request["container_images"])
    assert any("workflow.tar.gz" in artifact for artifact in request["artifacts"]), request["artifacts"]
    assert "not-a-real-password" not in json.dumps(environment)
