"""transforms/compat.py against the installed Beam, NLTK and gRPC: an upgrade that removes what it uses fails here.

Each test names the private thing it relies on, so the failure says what to look at.
"""

from __future__ import annotations

import os
import subprocess
import sys

import apache_beam as beam
import nltk
from apache_beam.options.pipeline_options import PipelineOptions

from transforms import compat


def test_checked_versions_are_the_installed_ones():
    assert compat.CHECKED_AGAINST["apache-beam"] == beam.__version__, "re-check transforms/compat.py for this Beam"
    assert compat.CHECKED_AGAINST["nltk"] == nltk.__version__, "re-check transforms/compat.py for this NLTK"


def test_fn_api_runner_runs_a_job_and_its_result_names_it():
    pipeline = beam.Pipeline(runner=compat.fn_api_runner_with_options(PipelineOptions()))
    _ = pipeline | beam.Create([1, 2, 3]) | beam.Map(lambda x: x + 1)
    result = pipeline.run()
    result.wait_until_finish()
    assert "fn_api_runner" in compat.runner_module_of(result)
    assert compat.result_runs_on_job_service(result) is False


def test_portable_results_keep_their_job_service_and_id():
    from apache_beam.runners.portability.portable_runner import PipelineResult

    source = open(sys.modules[PipelineResult.__module__].__file__).read()
    assert "self._job_service = job_service" in source and "self._job_id = job_id" in source


def test_punkt_parameters_and_wordnet_morphy_exist(nltk_data_dir, monkeypatch):
    from nltk.tokenize.punkt import PunktParameters, PunktTokenizer

    monkeypatch.setattr(nltk.data, "path", [nltk_data_dir, *nltk.data.path])
    assert isinstance(compat.punkt_parameters_of(PunktTokenizer("english")), PunktParameters)
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    assert callable(getattr(WordNetCorpusReader, "_morphy", None)), "WordNetCorpusReader._morphy is gone"


def test_grpc_server_class_binds_ports():
    server_class = compat.grpc_server_class()
    assert callable(server_class.add_insecure_port) and callable(server_class.add_secure_port)


def test_descendants_and_running_state_from_proc():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in compat.descendants(os.getpid())
        assert compat.is_process_running(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not compat.is_process_running(child.pid)


def test_re_compiled_template_is_what_sub_runs():
    import re
    import sys

    pattern = re.compile(r"(a)(b)")
    compiled = compat.re_compiled_template(pattern, r" \2\1 ")
    if sys.version_info[:2] == (3, 11):
        assert compiled is not None, "CPython 3.11 has re._subx: re-check transforms/compat.py"
        assert pattern.sub(compiled, "xaby") == pattern.sub(r" \2\1 ", "xaby") == "x ba y"
    else:
        assert compiled is None or pattern.sub(compiled, "xaby") == "x ba y"
