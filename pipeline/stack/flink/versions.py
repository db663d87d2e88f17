"""The Flink and Beam Java versions of the FlinkRunner's stack."""

__all__ = ["BEAM_JOB_SERVER_VERSION", "FLINK_MINOR_VERSION", "FLINK_VERSION"]

FLINK_VERSION = "1.19.3"
"""Flink version of the session cluster and of the job server's embedded Flink."""

FLINK_MINOR_VERSION = "1.19"
"""The ``flink_version`` pipeline option that matches `FLINK_VERSION`."""

BEAM_JOB_SERVER_VERSION = "2.62.0"
"""Beam Java release of the job server: a Flink 1.19 runner whose parts (runner, job
service, their runtime dependencies) are all on Maven Central. It speaks the portable Fn
API to the installed Python SDK; the tests run the whole pipeline through it."""
