"""Making room in a full outbox, in a fixed order, never at a higher class's expense.

Order: delivered rows (no loss), then expired rows, then pending telemetry,
then pending events, then pending alarms, oldest first within each step. A
step is only taken for an incoming row of the same or a higher class, so an
alarm is never evicted for an event and an event never for telemetry; when
only higher-class rows remain the incoming row is refused. In-flight rows are
never evicted: the publisher is waiting for their PUBACK.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from edge_agent.store.schema import PRIORITY

_BATCH = 256


@dataclass(frozen=True)
class _Step:
    reason: str | None  # None: not a loss (already delivered)
    where: str
    order: str
    lowest_incoming_priority: int  # the step runs for incoming rows of this priority or higher (smaller number)


_STEPS = (
    _Step(None, "state = 'delivered'", "delivered_at, seq", PRIORITY["telemetry"]),
    _Step("expired", "state = 'pending' AND expires_at IS NOT NULL AND expires_at <= :now", "seq", PRIORITY["telemetry"]),
    _Step("evicted", "state = 'pending' AND priority = 2", "seq", PRIORITY["telemetry"]),
    _Step("evicted", "state = 'pending' AND priority = 1", "seq", PRIORITY["event"]),
    _Step("evicted", "state = 'pending' AND priority = 0", "seq", PRIORITY["alarm"]),
)


@dataclass
class Eviction:
    """What one make-room pass deleted: rows and bytes freed, losses by (reason, class)."""

    rows: int = 0
    bytes: int = 0
    losses: dict[tuple[str, str], int] = field(default_factory=dict)
    fits: bool = True


def make_room(connection: sqlite3.Connection, incoming_class: str, rows_over: int, bytes_over: int, now: float) -> Eviction:
    """Delete rows until `rows_over` rows and `bytes_over` bytes are freed; call inside a write transaction."""
    eviction = Eviction()
    incoming = PRIORITY[incoming_class]
    for step in _STEPS:
        if rows_over <= eviction.rows and bytes_over <= eviction.bytes:
            break
        if incoming > step.lowest_incoming_priority:
            continue
        _run_step(connection, step, rows_over, bytes_over, now, eviction)
    eviction.fits = rows_over <= eviction.rows and bytes_over <= eviction.bytes
    return eviction


def _run_step(connection, step: _Step, rows_over: int, bytes_over: int, now: float, eviction: Eviction) -> None:
    query = f"SELECT seq, size, class FROM outbox WHERE {step.where} ORDER BY {step.order} LIMIT {_BATCH}"
    while rows_over > eviction.rows or bytes_over > eviction.bytes:
        candidates = connection.execute(query, {"now": now}).fetchall()
        if not candidates:
            return
        chosen = []
        for seq, size, cls in candidates:
            if rows_over <= eviction.rows and bytes_over <= eviction.bytes:
                break
            chosen.append(seq)
            eviction.rows += 1
            eviction.bytes += size
            if step.reason is not None:
                key = (step.reason, cls)
                eviction.losses[key] = eviction.losses.get(key, 0) + 1
        connection.executemany("DELETE FROM outbox WHERE seq = ?", [(seq,) for seq in chosen])
