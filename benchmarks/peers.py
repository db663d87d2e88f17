"""The peers' environments: Quix Streams gets a virtual environment of its own.

Quix Streams 3.x requires confluent-kafka < 2.13 while the project pins 2.16.1,
so it cannot share the project's environment. The harness makes a venv in the
project cache with pip (`quixstreams`, the project's NLTK pin, psutil) on first
use and reuses it; the Quix app imports the project's tokenizer from the work tree.
Bytewax has no such conflict: it comes with the `bench` extra.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from typing import Optional

from pipeline.stack.paths import cache_dir

__all__ = ["QUIX_REQUIREMENTS", "quix_python"]

QUIX_REQUIREMENTS = ["quixstreams==3.28.1", "nltk==3.10.4"]


def quix_python(progress=print) -> Optional[str]:
    """The python of the Quix Streams venv, made on first use; None when it cannot be made."""
    home = cache_dir() / "bench" / "venv-quix"
    python = home / "bin" / "python"
    stamp = home / ".requirements"
    wanted = "\n".join(QUIX_REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return str(python)
    progress(f"Preparing the Quix Streams environment in {home} (first run only)...")
    try:
        if not python.exists():
            venv.EnvBuilder(with_pip=True).create(home)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *QUIX_REQUIREMENTS],
            check=True,
            stdin=subprocess.DEVNULL,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as e:
        print(f"warning: cannot prepare Quix Streams ({e}); its row is not measured", file=sys.stderr)
        return None
    stamp.write_text(wanted)
    return str(python)
