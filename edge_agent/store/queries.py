"""Read-side queries shared by the live outbox and the read-only CLI view."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge_agent.store.records import OutboxRow, OutboxStats
from edge_agent.store.schema import CLASSES, PRIORITY, connect

_CLASS_BY_PRIORITY = {priority: cls for cls, priority in PRIORITY.items()}
ROW_COLUMNS = "seq, event_id, topic, payload, class, created_at, expires_at, attempts, state, delivered_at"


def row_from_tuple(values) -> OutboxRow:
    seq, event_id, topic, payload, cls, created_at, expires_at, attempts, state, delivered_at = values
    return OutboxRow(seq, event_id, topic, bytes(payload), cls, created_at, expires_at, attempts, state, delivered_at)


def meta_value(connection: sqlite3.Connection, key: str):
    row = connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def _oldest_undelivered(connection: sqlite3.Connection) -> float | None:
    # One index seek per (state, priority) instead of a scan of the table.
    oldest = None
    for state in ("pending", "inflight"):
        for priority in PRIORITY.values():
            row = connection.execute(
                "SELECT created_at FROM outbox WHERE state = ? AND priority = ? ORDER BY seq LIMIT 1", (state, priority)
            ).fetchone()
            if row is not None and (oldest is None or row[0] < oldest):
                oldest = row[0]
    return oldest


def read_stats(connection: sqlite3.Connection, now: float, totals: tuple[int, int] | None = None, low_disk: bool = False) -> OutboxStats:
    counts = {state: dict.fromkeys(CLASSES, 0) for state in ("pending", "inflight", "delivered")}
    for state, priority, count in connection.execute("SELECT state, priority, count(*) FROM outbox GROUP BY state, priority"):
        counts[state][_CLASS_BY_PRIORITY[priority]] = count
    if totals is None:
        rows, size = connection.execute("SELECT count(*), coalesce(sum(size), 0) FROM outbox").fetchone()
    else:
        rows, size = totals
    drops = dict.fromkeys(CLASSES, 0)
    drops_by_reason: dict[str, int] = {}
    for reason, cls, count in connection.execute("SELECT reason, class, count FROM drops"):
        drops[cls] = drops.get(cls, 0) + count
        drops_by_reason[reason] = drops_by_reason.get(reason, 0) + count
    oldest = _oldest_undelivered(connection)
    return OutboxStats(
        pending=counts["pending"],
        inflight=counts["inflight"],
        delivered=counts["delivered"],
        rows=rows,
        bytes=size,
        oldest_pending_age_s=None if oldest is None else max(0.0, now - oldest),
        last_delivery_at=meta_value(connection, "last_delivery_at"),
        drops=drops,
        drops_by_reason=drops_by_reason,
        low_disk=low_disk,
    )


def read_tail(connection: sqlite3.Connection, count: int, include_telemetry: bool = False) -> list[OutboxRow]:
    """The `count` most recently stored rows, oldest first."""
    where = "" if include_telemetry else "WHERE class != 'telemetry'"
    rows = connection.execute(f"SELECT {ROW_COLUMNS} FROM outbox {where} ORDER BY seq DESC LIMIT ?", (count,)).fetchall()
    return [row_from_tuple(values) for values in reversed(rows)]


class OutboxReader:
    """A read-only view of an outbox another process may be writing (the CLI uses it)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no outbox database at {self.path}")
        self._connection = connect(self.path, read_only=True)

    def stats(self, now: float) -> OutboxStats:
        return read_stats(self._connection, now)

    def tail(self, count: int, include_telemetry: bool = False) -> list[OutboxRow]:
        return read_tail(self._connection, count, include_telemetry)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> "OutboxReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
