"""Apache Flink for the FlinkRunner: Beam's Flink job server, and a local Flink session cluster.

Three things, each fetched with its ordinary client into the project cache:

* **The Beam Flink job server** (`job_server.py`): what ``FlinkRunner`` starts
  with ``java -jar`` to translate the portable pipeline into a Flink job,
  assembled from the runner's jars that ``mvn`` fetches.
* **A Flink distribution** (`distribution.py`): ``bin/``, ``conf/``, ``lib/`` of the
  same Flink version, from PyPI's ``apache-flink`` and
  ``apache-flink-libraries`` wheels installed with ``pip --no-deps --target``
  into the cache (never into the project's environment: PyFlink pins an old
  apache-beam).
* **A session cluster** (`cluster.py`): a JobManager and a TaskManager as two
  processes from that distribution (REST on 127.0.0.1:8081 by default), plus
  Beam's Python worker pool, which starts an SDK harness process for each
  Flink task that runs Python code (``environment_type: EXTERNAL``).

and, for runs on a cluster, `jobs.py`: the jobs a cluster still runs under a
run's job name, so that a run never starts beside an orphan of an earlier one.

Beam Java and Python talk through the portable Fn API, so the job server need
not be the same Beam release as the Python SDK; the tests run the whole
pipeline through it on every change.
"""

from pipeline.stack.flink.cluster import FlinkCluster, default_flink_state_dir, run_sdk_worker
from pipeline.stack.flink.distribution import flink_home
from pipeline.stack.flink.job_server import (
    JOB_SERVER_ARTIFACTS,
    flink_option_defaults,
    job_server_jar,
    job_server_jar_path,
)
from pipeline.stack.flink.jobs import (
    FlinkJob,
    cancel_job,
    flink_job_name,
    refuse_running_job,
    running_jobs_named,
)
from pipeline.stack.flink.versions import BEAM_JOB_SERVER_VERSION, FLINK_MINOR_VERSION, FLINK_VERSION

__all__ = [
    "BEAM_JOB_SERVER_VERSION",
    "FLINK_MINOR_VERSION",
    "FLINK_VERSION",
    "JOB_SERVER_ARTIFACTS",
    "FlinkCluster",
    "FlinkJob",
    "cancel_job",
    "default_flink_state_dir",
    "flink_home",
    "flink_job_name",
    "flink_option_defaults",
    "job_server_jar",
    "job_server_jar_path",
    "refuse_running_job",
    "run_sdk_worker",
    "running_jobs_named",
]
