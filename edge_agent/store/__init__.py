"""Store-and-forward: the durable SQLite outbox every outgoing message passes through."""

from edge_agent.store.database import NewerSchemaError
from edge_agent.store.outbox import DiskGuard, Outbox
from edge_agent.store.queries import OutboxReader
from edge_agent.store.records import OutboxRow, OutboxStats
from edge_agent.store.schema import CLASSES

__all__ = ["CLASSES", "DiskGuard", "NewerSchemaError", "Outbox", "OutboxReader", "OutboxRow", "OutboxStats"]
