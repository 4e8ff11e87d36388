"""Store-and-forward: the durable SQLite outbox every outgoing message passes through."""

import importlib
import sys

# sqlite-utils imports pandas at import time when it is installed (motmetrics brings it into dev and eval
# installs), for DataFrame support the store never uses: 34 MB resident in the agent (bench/README.md, "Memory
# by component"). It is imported here first, with pandas hidden; pandas stays importable afterwards for whoever
# wants it (`eval-tracks` through motmetrics).
if "sqlite_utils" not in sys.modules and "pandas" not in sys.modules:
    sys.modules["pandas"] = None  # type: ignore[assignment] - `import pandas` now raises ImportError
    try:
        importlib.import_module("sqlite_utils")
    finally:
        del sys.modules["pandas"]

from edge_agent.store.database import NewerSchemaError  # after sqlite-utils, above
from edge_agent.store.outbox import DiskGuard, Outbox
from edge_agent.store.outbox_rows import OutboxRow, OutboxStats
from edge_agent.store.outbox_schema import CLASSES
from edge_agent.store.queries import OutboxReader

__all__ = ["CLASSES", "DiskGuard", "NewerSchemaError", "Outbox", "OutboxReader", "OutboxRow", "OutboxStats"]
