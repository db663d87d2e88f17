"""Helpers of the integration tests: run the CLI, read its JSON-lines output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DIRECT_CONFIG = str(REPO / "run_configs" / "direct.yaml")
_RECORDS_LINE = re.compile(r"records read (\d+) = decoded (\d+) \+ dead letters (\d+): (\w+)")


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs `python -m pipeline ...` from the repository, as a user would."""
    return subprocess.run(cli_command(*args), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))


def start_cli(*args: str, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")
    return subprocess.Popen(cli_command(*args), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ))


def config_overrides(**settings) -> list[str]:
    """--set arguments from keyword settings: source__topics=['t'] -> source.topics=['t']."""
    pairs = []
    for key, value in settings.items():
        pairs += ["--set", f"{key.replace('__', '.')}={json.dumps(value)}"]
    return pairs


def read_rows(path: Path, kind: str | None = None) -> list[dict]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row for row in rows if kind is None or row["kind"] == kind]


def records_accounting(output: str) -> tuple[int, int, int, str]:
    """(read, decoded, dead letters, verdict) from the run's closing lines."""
    match = _RECORDS_LINE.search(output)
    assert match, f"no records line in the CLI output:\n{output[-3000:]}"
    read, decoded, dead, verdict = match.groups()
    return int(read), int(decoded), int(dead), verdict
