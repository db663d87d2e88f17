"""Start-up of the Python worker processes a `run` starts (the FnApiRunner's SDK workers).

`run` puts this directory first on the workers' PYTHONPATH (pipeline.runner_noise.
prepare_worker_processes), so Python imports this module before anything else:

* SIGINT is ignored: a terminal's Ctrl-C goes to the whole foreground process group,
  and it is `run` that stops the job and then ends its workers (SIGTERM). Without
  this, each worker would print a KeyboardInterrupt traceback.
* Beam's import-time note "apitools not found" (logged on the root logger, which
  would also make the root logger print every INFO line of the worker's start-up to
  the terminal) is dropped; the worker's log lines reach `run` through Beam's
  logging service as before, and `run` shows them at its own verbosity.

Any other sitecustomize module on the path is imported after this one, as it would
have been without it.
"""

import logging
import os
import signal
import sys


class _DropImportNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


def _start() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    root = logging.getLogger()
    root.addFilter(_DropImportNoise())
    # A handler, so that logging.warning() does not install one on stderr (basicConfig).
    root.addHandler(logging.NullHandler())


def _chain() -> None:
    """Imports the next sitecustomize on the path, if there is one."""
    here = os.path.dirname(os.path.abspath(__file__))
    module = sys.modules.pop("sitecustomize", None)
    saved = list(sys.path)
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
    try:
        import sitecustomize  # noqa: F401
    except ImportError:
        if module is not None:
            sys.modules["sitecustomize"] = module
    finally:
        sys.path[:] = saved


_start()
_chain()
