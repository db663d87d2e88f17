"""A Flink distribution (``bin/``, ``conf/``, ``lib/``) from PyPI's apache-flink wheels, installed into the cache.

PyFlink's wheels carry a complete Flink distribution; they are installed with
``pip --no-deps --target`` into the cache, never into the project's environment
(PyFlink pins an old apache-beam).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.stack import paths
from pipeline.stack.errors import StackError, summarize_output
from pipeline.stack.flink.versions import FLINK_VERSION
from pipeline.stack.locking import exclusive_lock
from pipeline.stack.process import run_tool

__all__ = ["distribution_java_opts", "flink_home"]

_PIP_TIMEOUT_SECONDS = 30 * 60


def flink_home(progress: Callable[[str], object] = print) -> Path:
    """Returns a Flink distribution directory (``bin/``, ``conf/``, ``lib/``), installing it once.

    Installs ``apache-flink`` and ``apache-flink-libraries`` of `FLINK_VERSION`
    with ``pip install --no-deps --target`` into the cache; their ``pyflink``
    package directory is a complete Flink distribution.

    Args:
        progress: Receives a one-line message before a (slow) first install.

    Raises:
        StackError: pip fails.
    """
    entry = paths.cache_dir() / f"flink-{FLINK_VERSION}"
    home = entry / "dist" / "pyflink"
    marker = entry / "complete"
    with exclusive_lock(entry / ".lock"):
        if marker.is_file() and (home / "bin" / "jobmanager.sh").is_file():
            return home
        progress(f"Installing the Flink {FLINK_VERSION} distribution with pip (first run only)...")
        partial = entry / "dist.partial"
        shutil.rmtree(partial, ignore_errors=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-compile",
            "--target",
            str(partial),
            f"apache-flink=={FLINK_VERSION}",
            f"apache-flink-libraries=={FLINK_VERSION}",
        ]
        returncode, output = run_tool(
            command, timeout_s=_PIP_TIMEOUT_SECONDS, what=f"pip installing Flink {FLINK_VERSION}"
        )
        (entry / "pip.log").write_text(output, encoding="utf-8")
        if returncode != 0 or not (partial / "pyflink" / "bin" / "jobmanager.sh").is_file():
            shutil.rmtree(partial, ignore_errors=True)
            raise StackError(
                f"pip could not install the Flink {FLINK_VERSION} distribution "
                f"(exit {returncode}): {summarize_output(output)} "
                f"(full log: {entry / 'pip.log'})"
            )
        shutil.rmtree(entry / "dist", ignore_errors=True)
        partial.rename(entry / "dist")
        marker.write_text(FLINK_VERSION, encoding="utf-8")
        return home


def distribution_java_opts(home: Path) -> str:
    import yaml

    try:
        config = yaml.safe_load((home / "conf" / "config.yaml").read_text(encoding="utf-8")) or {}
        return str(config["env"]["java"]["opts"]["all"])
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return ""
