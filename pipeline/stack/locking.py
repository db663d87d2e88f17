"""Inter-process locks, so concurrent runs never fetch, build or start the same thing twice."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

__all__ = ["exclusive_lock"]


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Holds an exclusive advisory lock on ``path`` for the duration of the block.

    Blocks until the lock is free. The lock file is created if missing and left
    in place afterwards (removing it would race with the next locker). The OS
    drops the lock if the holder dies.

    Args:
        path: Lock file; its parent directory is created if needed.

    Yields:
        Nothing; the lock is held while the block runs.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
