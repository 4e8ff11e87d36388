"""The platform's record of the fleet in SQLite: alerts once per event_id, episodes, device status, counts.

One connection, used under a lock (the consumer's network thread writes, the summary reads).
Several consumer processes may share the file: WAL and a busy timeout let them take turns,
and every write is an idempotent upsert (schema.py), so the order in which instances apply
messages does not change the result.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edge_agent.platform import schema

BUSY_TIMEOUT_MS = 10_000


@dataclass
class Summary:
    alerts: int = 0
    deliveries: int = 0
    alerts_by_type: dict[str, int] = field(default_factory=dict)
    episodes_open: int = 0
    episodes_closed: int = 0
    ends_awaiting_start: int = 0  # an end stored before its start (another instance, or still in flight)
    devices_online: int = 0
    devices_offline: int = 0
    offline: list[str] = field(default_factory=list)
    counts: int = 0

    @property
    def duplicates(self) -> int:
        return self.deliveries - self.alerts

    def to_dict(self) -> dict:
        return {**asdict(self), "duplicates": self.duplicates}

    def text(self) -> str:
        types = ", ".join(f"{name}={count}" for name, count in sorted(self.alerts_by_type.items())) or "none"
        offline = ", ".join(self.offline[:10]) + (" ..." if len(self.offline) > 10 else "")
        return "\n".join(
            [
                f"alerts: {self.alerts} unique, {self.duplicates} duplicate deliveries ({types})",
                f"episodes: {self.episodes_open} open, {self.episodes_closed} closed,"
                f" {self.ends_awaiting_start} ends awaiting their start",
                f"devices: {self.devices_online} online, {self.devices_offline} offline"
                + (f" ({offline})" if offline else ""),
                f"counts intervals: {self.counts}",
            ]
        )


class PlatformStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._lock, self._db:
            for statement in schema.DDL:
                self._db.execute(statement)
            self._db.execute(schema.RECORD_SCHEMA, (schema.SCHEMA_VERSION,))

    def add_alert(self, alert: dict, payload: str, received_at: float | None = None) -> bool:
        """Store an alert; False when its event_id was already stored (only the delivery is counted)."""
        received_at = time.time() if received_at is None else received_at
        row = (
            alert["event_id"],
            alert["device_id"],
            alert["site"],
            alert["type"],
            alert["severity"],
            alert.get("phase", "instant"),
            alert.get("related_event_id"),
            alert["started_at"],
            alert["created_at"],
            received_at,
            payload,
        )
        with self._lock, self._db:
            before = self._deliveries(alert["event_id"])
            self._db.execute(schema.INSERT_ALERT, row)
            self._pair(alert)
        return before == 0

    def _deliveries(self, event_id: str) -> int:
        found = self._db.execute("SELECT deliveries FROM alerts WHERE event_id = ?", (event_id,)).fetchone()
        return 0 if found is None else found[0]

    def _pair(self, alert: dict) -> None:
        phase = alert.get("phase", "instant")
        if phase == "start":
            self._db.execute(
                schema.UPSERT_EPISODE_START, (alert["event_id"], alert["device_id"], alert["type"], alert["started_at"])
            )
        elif phase == "end" and alert.get("related_event_id"):
            self._db.execute(
                schema.UPSERT_EPISODE_END,
                (
                    alert["related_event_id"],
                    alert["device_id"],
                    alert["type"],
                    alert["event_id"],
                    alert.get("ended_at"),
                ),
            )

    def set_status(self, status: dict, site: str, received_at: float | None = None) -> None:
        received_at = time.time() if received_at is None else received_at
        row = (
            status["device_id"],
            site,
            status["state"],
            status.get("agent_version"),
            status.get("started_at"),
            status.get("at"),
            received_at,
        )
        with self._lock, self._db:
            self._db.execute(schema.UPSERT_DEVICE, row)

    def add_counts(self, counts: dict, payload: str, received_at: float | None = None) -> None:
        received_at = time.time() if received_at is None else received_at
        row = (
            counts["event_id"],
            counts["device_id"],
            counts["site"],
            counts["interval_start"],
            counts["interval_end"],
            int(bool(counts["complete"])),
            received_at,
            payload,
        )
        with self._lock, self._db:
            self._db.execute(schema.INSERT_COUNTS, row)

    # -- reads ---------------------------------------------------------------------

    def episode(self, start_event_id: str) -> dict | None:
        with self._lock:
            cursor = self._db.execute("SELECT * FROM episodes WHERE start_event_id = ?", (start_event_id,))
            found = cursor.fetchone()
            return None if found is None else dict(zip([c[0] for c in cursor.description], found))

    def device_state(self, device_id: str) -> str | None:
        with self._lock:
            found = self._db.execute("SELECT state FROM devices WHERE device_id = ?", (device_id,)).fetchone()
        return None if found is None else found[0]

    def alert_deliveries(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT event_id, deliveries FROM alerts"))

    def summary(self) -> Summary:
        query = self._db.execute
        with self._lock:
            alerts, deliveries = query("SELECT count(*), coalesce(sum(deliveries), 0) FROM alerts").fetchone()
            by_type = dict(query("SELECT type, count(*) FROM alerts GROUP BY type"))
            open_, closed, orphans = query(
                "SELECT coalesce(sum(CASE WHEN started_at IS NOT NULL AND end_event_id IS NULL THEN 1 ELSE 0 END), 0),"
                " coalesce(sum(CASE WHEN started_at IS NOT NULL AND end_event_id IS NOT NULL THEN 1 ELSE 0 END), 0),"
                " coalesce(sum(CASE WHEN started_at IS NULL THEN 1 ELSE 0 END), 0) FROM episodes"
            ).fetchone()
            states = dict(query("SELECT state, count(*) FROM devices GROUP BY state"))
            offline = [row[0] for row in query("SELECT device_id FROM devices WHERE state = 'offline' ORDER BY 1")]
            counts = query("SELECT count(*) FROM counts").fetchone()[0]
        return Summary(
            alerts=alerts,
            deliveries=deliveries,
            alerts_by_type=by_type,
            episodes_open=open_,
            episodes_closed=closed,
            ends_awaiting_start=orphans,
            devices_online=states.get("online", 0),
            devices_offline=states.get("offline", 0),
            offline=offline,
            counts=counts,
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def parse_json(payload: bytes) -> dict | None:
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
