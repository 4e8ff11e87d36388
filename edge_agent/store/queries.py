"""Read-side queries shared by the live outbox and the read-only CLI view.

Written with sqlite-utils (named columns, no SQL strings to assemble): they run
for the CLI, telemetry and /metrics, never per message. The per-message
statements stay raw sqlite3 in outbox.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import sqlite_utils

from edge_agent.store.database import connect
from edge_agent.store.outbox_rows import OutboxRow, OutboxStats
from edge_agent.store.outbox_schema import CLASSES, PRIORITY

_CLASS_BY_PRIORITY = {priority: cls for cls, priority in PRIORITY.items()}
ROW_COLUMNS = "seq, event_id, topic, payload, class, created_at, expires_at, attempts, state, delivered_at"


def row_from_tuple(values) -> OutboxRow:
    seq, event_id, topic, payload, cls, created_at, expires_at, attempts, state, delivered_at = values
    return OutboxRow(seq, event_id, topic, bytes(payload), cls, created_at, expires_at, attempts, state, delivered_at)


def row_from_dict(row: dict) -> OutboxRow:
    return row_from_tuple(row[column] for column in ROW_COLUMNS.split(", "))


def meta_value(db: sqlite_utils.Database, key: str):
    found = list(db["meta"].rows_where("key = ?", [key], select="value"))
    return found[0]["value"] if found else None


def _oldest_undelivered(db: sqlite_utils.Database) -> float | None:
    # One index seek per (state, priority) instead of a scan of the table.
    oldest = None
    for state in ("pending", "inflight"):
        for priority in PRIORITY.values():
            for row in db["outbox"].rows_where(
                "state = ? AND priority = ?", [state, priority], order_by="seq", limit=1, select="created_at"
            ):
                if oldest is None or row["created_at"] < oldest:
                    oldest = row["created_at"]
    return oldest


def read_stats(
    db: sqlite_utils.Database, now: float, totals: tuple[int, int] | None = None, low_disk: bool = False
) -> OutboxStats:
    counts = {state: dict.fromkeys(CLASSES, 0) for state in ("pending", "inflight", "delivered")}
    for row in db.query("SELECT state, priority, count(*) AS n FROM outbox GROUP BY state, priority"):
        counts[row["state"]][_CLASS_BY_PRIORITY[row["priority"]]] = row["n"]
    if totals is None:
        totals = db.execute("SELECT count(*), coalesce(sum(size), 0) FROM outbox").fetchone()
    drops = dict.fromkeys(CLASSES, 0)
    drops_by_reason: dict[str, int] = {}
    for row in db["drops"].rows:
        drops[row["class"]] = drops.get(row["class"], 0) + row["count"]
        drops_by_reason[row["reason"]] = drops_by_reason.get(row["reason"], 0) + row["count"]
    oldest = _oldest_undelivered(db)
    return OutboxStats(
        pending=counts["pending"],
        inflight=counts["inflight"],
        delivered=counts["delivered"],
        rows=totals[0],
        bytes=totals[1],
        oldest_pending_age_s=None if oldest is None else max(0.0, now - oldest),
        last_delivery_at=meta_value(db, "last_delivery_at"),
        drops=drops,
        drops_by_reason=drops_by_reason,
        low_disk=low_disk,
    )


def read_tail(db: sqlite_utils.Database, count: int, include_telemetry: bool = False) -> list[OutboxRow]:
    """The `count` most recently stored rows, oldest first."""
    where = None if include_telemetry else "class != 'telemetry'"
    rows = db["outbox"].rows_where(where, order_by="seq DESC", limit=count, select=ROW_COLUMNS)
    return [row_from_dict(row) for row in reversed(list(rows))]


def read_newest_on(db: sqlite_utils.Database, topics: Iterable[str], since: float, limit: int) -> list[OutboxRow]:
    """Rows on one of `topics` stored at `since` or later, newest first, at most `limit`.

    Walks back from the newest row (seq order is storage order) and stops at the first row older than `since`, so
    it reads only the window asked for, not the whole outbox; rows are not indexed by topic.
    """
    wanted, found = set(topics), []
    cursor = db.execute(f"SELECT {ROW_COLUMNS} FROM outbox WHERE class != 'telemetry' ORDER BY seq DESC")
    for values in cursor:
        row = row_from_tuple(values)
        if row.created_at < since:
            break
        if row.topic in wanted:
            found.append(row)
            if len(found) >= limit:
                break
    return found


class OutboxReader:
    """A read-only view of an outbox another process may be writing (the CLI uses it)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no outbox database at {self.path}")
        self._db = sqlite_utils.Database(connect(self.path, read_only=True))

    def stats(self, now: float) -> OutboxStats:
        return read_stats(self._db, now)

    def tail(self, count: int, include_telemetry: bool = False) -> list[OutboxRow]:
        return read_tail(self._db, count, include_telemetry)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> OutboxReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
