"""Making room in a full outbox, in a fixed order, never at a higher class's expense.

Order: delivered rows (no loss), then expired rows, then pending telemetry,
then pending events, then pending alarms, oldest first within each step. A
step is only taken for an incoming row of the same or a higher class, so an
alarm is never evicted for an event and an event never for telemetry; when
only higher-class rows remain the incoming row is refused. In-flight rows are
never evicted: the publisher is waiting for their PUBACK.

Besides rows and bytes, the disk: below `outbox.min_free_disk_mb` free (DiskGuard) telemetry is no longer
stored, so a filling disk costs figures before it can cost an alarm.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.clock import Clock
from edge_agent.store.outbox_schema import PRIORITY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Step:
    reason: str | None  # None: not a loss (already delivered)
    where: str
    order: str
    lowest_incoming_priority: int  # the step runs for incoming rows of this priority or higher (smaller number)


_STEPS = (
    _Step(None, "state = 'delivered'", "delivered_at, seq", PRIORITY["telemetry"]),
    _Step(
        "expired", "state = 'pending' AND expires_at IS NOT NULL AND expires_at <= :now", "seq", PRIORITY["telemetry"]
    ),
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


def make_room(
    connection: sqlite3.Connection, incoming_class: str, rows_over: int, bytes_over: int, now: float
) -> Eviction:
    """Free `rows_over` rows and `bytes_over` bytes; call inside a write transaction.

    When the room cannot be made, only free deletions (delivered and expired
    rows) happen: pending rows are not sacrificed for a row that is refused anyway.
    """
    incoming = PRIORITY[incoming_class]
    chosen: list[tuple[int, int, str, str | None]] = []  # seq, size, class, reason
    freed_rows = freed_bytes = 0
    for step in _STEPS:
        if incoming > step.lowest_incoming_priority:
            continue
        cursor = connection.execute(
            f"SELECT seq, size, class FROM outbox WHERE {step.where} ORDER BY {step.order}", {"now": now}
        )
        for seq, size, cls in cursor:  # lazy: stops reading once enough is found
            if freed_rows >= rows_over and freed_bytes >= bytes_over:
                break
            chosen.append((seq, size, cls, step.reason))
            freed_rows += 1
            freed_bytes += size
        cursor.close()
        if freed_rows >= rows_over and freed_bytes >= bytes_over:
            break
    fits = freed_rows >= rows_over and freed_bytes >= bytes_over
    if not fits:
        chosen = [item for item in chosen if item[3] in (None, "expired")]
    return _delete(connection, chosen, fits)


def _delete(connection: sqlite3.Connection, chosen: list[tuple[int, int, str, str | None]], fits: bool) -> Eviction:
    eviction = Eviction(fits=fits)
    connection.executemany("DELETE FROM outbox WHERE seq = ?", [(seq,) for seq, _, _, _ in chosen])
    for _, size, cls, reason in chosen:
        eviction.rows += 1
        eviction.bytes += size
        if reason is not None:
            eviction.losses[(reason, cls)] = eviction.losses.get((reason, cls), 0) + 1
    return eviction


_DISK_CHECK_INTERVAL_S = 5.0


class DiskGuard:
    """Free space of the outbox's file system, re-read at most every few seconds."""

    def __init__(self, directory: Path, min_free_mb: int, clock: Clock, disk_usage=shutil.disk_usage):
        self._directory = directory
        self._min_free = min_free_mb * 1024 * 1024
        self._clock = clock
        self._disk_usage = disk_usage
        self._checked_at: float | None = None
        self._low = False

    @property
    def low(self) -> bool:
        if self._min_free <= 0:
            return False
        now = self._clock.monotonic()
        if self._checked_at is None or now - self._checked_at >= _DISK_CHECK_INTERVAL_S:
            self._checked_at = now
            low = self._disk_usage(self._directory).free < self._min_free
            if low and not self._low:
                log.warning(
                    "free disk below %d MB at %s: telemetry is no longer stored", self._min_free >> 20, self._directory
                )
            self._low = low
        return self._low
