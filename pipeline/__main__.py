"""`python -m pipeline ...`: see pipeline.cli."""

import logging
import sys


class _DropImportNoise(logging.Filter):
    """Drops Beam's import-time note about optional Google Cloud clients."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


# Installed before Beam is imported: the note is logged at import time.
logging.getLogger().addFilter(_DropImportNoise())

from pipeline.cli import main  # noqa: E402

sys.exit(main())
