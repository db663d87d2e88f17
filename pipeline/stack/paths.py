"""Where the local development stack keeps its files.

Everything lives under one project home: ``$BEAM_TOKEN_COUNTS_HOME`` when that
environment variable is set, otherwise ``~/.cache/beam-token-counts``. The home
holds two trees:

* ``cache/``: things that are expensive to get and safe to share (Maven jars,
  the Prism binary). Deleting it only costs a re-download or a rebuild.
* ``state/``: things that belong to running services (pid files, logs, Kafka
  data). Deleting it while services run is a mistake; deleting it while they
  are stopped resets them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HOME_ENV_VAR", "cache_dir", "home_dir", "state_dir"]

HOME_ENV_VAR = "BEAM_TOKEN_COUNTS_HOME"
"""Environment variable that overrides the project home directory."""

_DEFAULT_HOME = Path("~/.cache/beam-token-counts")


def home_dir() -> Path:
    """Returns the project home directory, creating it if needed.

    Returns:
        ``$BEAM_TOKEN_COUNTS_HOME`` if set and non-empty, else
        ``~/.cache/beam-token-counts``, as an absolute path.
    """
    configured = os.environ.get(HOME_ENV_VAR, "").strip()
    home = Path(configured or _DEFAULT_HOME).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def cache_dir() -> Path:
    """Returns the shared cache directory (jars, binaries), creating it if needed."""
    path = home_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir() -> Path:
    """Returns the service state directory (pid files, logs, data), creating it if needed."""
    path = home_dir() / "state"
    path.mkdir(parents=True, exist_ok=True)
    return path
