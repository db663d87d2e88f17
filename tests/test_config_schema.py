"""The run config's JSON Schema: generated from the models, committed, and true of every file in run_configs/.

An editor with the YAML language server reads the schema through the first line of
each run config (`# yaml-language-server: $schema=./run-config.schema.json`) and
completes and checks keys with it; these tests keep that file what the models say.
"""

from __future__ import annotations

import json

import pytest
import yaml
from jsonschema import Draft202012Validator

from pipeline.config import RunConfig
from tests.integration_helpers import REPO, run_cli

SCHEMA_FILE = REPO / "run_configs" / "run-config.schema.json"
RUN_CONFIGS = sorted((REPO / "run_configs").glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=./run-config.schema.json"


def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _errors(document) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator().iter_errors(document)]


def test_the_committed_schema_is_the_generated_one():
    generated = json.dumps(RunConfig.model_json_schema(), indent=2) + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == generated, (
        "run_configs/run-config.schema.json is stale: python -m pipeline schema > run_configs/run-config.schema.json"
    )


def test_the_cli_prints_the_schema():
    result = run_cli("schema", timeout=120)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_there_are_run_configs_to_check():
    assert {path.name for path in RUN_CONFIGS} >= {
        "direct.yaml",
        "prism.yaml",
        "flink-local.yaml",
        "flink-cluster.yaml",
        "dataflow.yaml",
    }


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=[path.name for path in RUN_CONFIGS])
def test_each_run_config_points_at_the_schema_and_follows_it(path):
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == SCHEMA_LINE
    # As an editor sees the file: `${NAME}` values are the strings they are.
    assert _errors(yaml.safe_load(text)) == []


@pytest.mark.parametrize(
    "document, where",
    [
        ({"window": {"sise": "10s"}}, "window: Additional properties are not allowed ('sise' was unexpected)"),
        ({"runner": "SparkRunner"}, "runner: 'SparkRunner' is not one of"),
        ({"window": {"size": "5 minutes"}}, "window.size: '5 minutes' is not valid under any of the given schemas"),
        ({"source": {"stop": "soon"}}, "source.stop: 'soon' is not valid under any of the given schemas"),
        ({"trigger": {"early": {"every_n": 0}}}, "trigger.early: {'every_n': 0} is not valid under any of the given"),
        ({"count": {"top_k": "ten"}}, "count.top_k: 'ten' is not of type 'integer'"),
        ({"window": {"size_s": 10}}, "window: Additional properties are not allowed ('size_s' was unexpected)"),
    ],
)
def test_the_schema_refuses_what_the_config_refuses(document, where):
    assert any(error.startswith(where) for error in _errors(document)), _errors(document)


def test_the_schema_takes_the_forms_of_every_key():
    document = {
        "extends": "direct.yaml",
        "source": {
            "topics": "one-topic",
            "start": "2024-01-02T03:04:05Z",
            "stop": {"max_read_time": "30s"},
            "timestamp": "field:ts",
            "max_out_of_orderness": 2.5,
            "shards": None,
        },
        "tokenize": {"stopwords": ["a", "the"], "nltk_data_path": "/data", "engine": "guarded"},
        "window": {"type": "sliding", "size": "1m", "period": 10},
        "trigger": {"early": "500ms", "late": {"every_n": 1}, "allowed_lateness": "1h"},
        "dead_letter": {"type": "jsonl", "path": "out/dead.jsonl"},
    }
    assert _errors(document) == []
    assert _errors({"source": {"stop": "latest"}, "trigger": {"repeat": {"every_n": 100}}}) == []
