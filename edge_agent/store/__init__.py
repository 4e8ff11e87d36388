"""Store-and-forward: the durable SQLite outbox every outgoing message passes through."""

from edge_agent.store.database import NewerSchemaError
from edge_agent.store.outbox import DiskGuard, Outbox
from edge_agent.store.outbox_rows import OutboxRow, OutboxStats
from edge_agent.store.outbox_schema import CLASSES
from edge_agent.store.queries import OutboxReader

__all__ = ["CLASSES", "DiskGuard", "NewerSchemaError", "Outbox", "OutboxReader", "OutboxRow", "OutboxStats"]
