"""Every private Beam, NLTK, gRPC, Python and Linux call of the project, in one place.

Each function here reaches into something its owner does not promise to keep:
an attribute with a leading underscore, an internal module, or the /proc file
system. They are gathered here so that an upgrade is checked in one file: each
says the version it was checked against, and tests/test_compat.py fails loudly
(naming the function) when the installed version no longer has what it uses.

It lives in transforms/ because transforms use NLTK's private parts and never
import pipeline/; pipeline/ imports it from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

__all__ = [
    "CHECKED_AGAINST",
    "descendants",
    "fn_api_runner_with_options",
    "grpc_server_class",
    "is_process_running",
    "job_service_counters",
    "punkt_parameters_of",
    "re_compiled_template",
    "job_service_gauges",
    "result_runs_on_job_service",
    "runner_module_of",
    "wordnet_morphy",
]

CHECKED_AGAINST = {
    "apache-beam": "2.77.0",
    "nltk": "3.10.4",
    "grpcio": "1.7x",
    "python": "3.11",
    "linux": "/proc/<pid>/stat",
}


# --- Beam 2.77 -------------------------------------------------------------------------


def fn_api_runner_with_options(options) -> Any:
    """Beam's FnApiRunner set up as Beam's DirectRunner sets it up for a batch job (Beam 2.77).

    The provision info carries the pipeline options to the worker processes; the
    runner reads direct_num_workers and direct_running_mode from them. Beam has no
    public way to build this runner with worker processes outside its DirectRunner.
    """
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(
        provision_info=fn_runner.ExtendedProvisionInfo(beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded))
    )


def runner_module_of(result) -> str:
    """The module of the runner that returned this result: which runner really executes (Beam 2.77).

    Beam's DirectRunner picks Prism, the FnApiRunner or its own bundle runner without
    saying which; the kind of result it returns does.
    """
    return type(result).__module__


def result_runs_on_job_service(result) -> bool:
    """Whether the job runs behind a portable job service (Prism, Flink), so it can be asked while it runs."""
    return getattr(result, "_job_service", None) is not None and getattr(result, "_job_id", None) is not None


def _job_service_metrics(result, kind: str, timeout_s: float) -> Optional[list]:
    if not result_runs_on_job_service(result):
        return None
    from apache_beam.portability.api import beam_job_api_pb2
    from apache_beam.runners.portability.portable_runner import PortableMetrics

    request = beam_job_api_pb2.GetJobMetricsRequest(job_id=result._job_id)
    response = result._job_service.GetJobMetrics(request, timeout=timeout_s)
    return PortableMetrics(response).query()[kind]


def job_service_counters(result, timeout_s: float) -> Optional[list]:
    """The job's counters, asked of the job service now; None when it cannot say (Beam 2.77).

    `result.metrics()` asks once and keeps the answer, which would freeze the counters a
    run ends with; the job service answers afresh each time.
    """
    return _job_service_metrics(result, "counters", timeout_s)


def job_service_gauges(result, timeout_s: float) -> Optional[list]:
    """The job's gauges, asked of the job service now, as job_service_counters asks for counters."""
    return _job_service_metrics(result, "gauges", timeout_s)


# --- NLTK 3.10.4 -----------------------------------------------------------------------


def punkt_parameters_of(tokenizer) -> Any:
    """The trained parameters of a PunktTokenizer: the model word_tokenize loads, as it loads it (NLTK 3.10.4)."""
    return tokenizer._params


def wordnet_morphy(reader, word: str, pos: str) -> list:
    """WordNet's morphy candidates for a word, as WordNetLemmatizer computes them (NLTK 3.10.4)."""
    return reader._morphy(word, pos)


# --- Python 3.11 ----------------------------------------------------------------------


def re_compiled_template(pattern, template: str):
    """What `pattern.sub(template, ...)` runs for `template`: `re._subx`'s result (CPython 3.11).

    CPython 3.11 calls `re._subx` on every `sub` call whose template holds a backslash; it
    returns the literal, or re's own expander over re's own parse of the template. None where
    this Python has no `re._subx` (3.12 parses templates differently): keep the template.
    """
    import re

    subx = getattr(re, "_subx", None)
    return None if subx is None else subx(pattern, template)


def re_parsed(pattern) -> list:
    """`re`'s own parse of a compiled pattern: [(opcode name, argument)], nested lists for
    groups, as `re._parser` (CPython 3.11) reads it. Used only to find what a match must
    contain; a form this does not know reads as ("UNKNOWN", None)."""
    from re import _parser

    def items(parsed) -> list:
        found = []
        for op, arg in parsed:
            name = str(op)
            if name == "SUBPATTERN":
                group, add_flags, del_flags, body = arg
                found.append((name, items(body) if not (add_flags or del_flags) else None))
            elif name in ("LITERAL", "AT", "ASSERT", "ASSERT_NOT"):
                found.append((name, arg if name == "LITERAL" else None))
            else:
                found.append(("UNKNOWN", None))
        return found

    return items(_parser.parse(pattern.pattern, pattern.flags))


# --- gRPC ------------------------------------------------------------------------------


def grpc_server_class() -> type:
    """gRPC's server class, whose port binding the local stack keeps on the loopback interface."""
    from grpc import _server

    return _server._Server


# --- Linux -----------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[int]:
    """A process's children, grandchildren, ... (Linux /proc), parents first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(_stat_fields(int(stat.parent.name))[1])  # the field after the state
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def is_process_running(pid: int) -> bool:
    """Whether a process exists and is neither a zombie nor dead (Linux /proc)."""
    try:
        return _stat_fields(pid)[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False
