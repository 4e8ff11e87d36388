"""The platform's record of the fleet in SQLite: alerts and action records once per event_id, episodes,
device status, counts.

One connection, used under a lock (the consumer's network thread writes, the summary reads).
Several consumer processes may share the file: WAL and a busy timeout let them take turns,
and every write is an idempotent upsert (ddl.py), so the order in which instances apply
messages does not change the result.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edge_agent.events.action import ActionRecord
from edge_agent.platform import ddl

BUSY_TIMEOUT_MS = 10_000
# Outcomes an operator should look at: the action did not happen (ok is done; rate_limited and cooldown are
# the action's own limits doing what they were configured to do, counted in the summary).
ATTENTION_OUTCOMES = ("failed", "timeout", "dropped", "stopped")


class StoreVersionError(RuntimeError):
    """The file was written by a newer consumer: this one would not know its tables."""


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
    actions: int = 0
    action_deliveries: int = 0
    actions_by_outcome: dict[str, int] = field(default_factory=dict)
    actions_awaiting_alert: int = 0  # a record stored before its alert (another instance, or still in flight)
    alerts_with_failed_actions: int = 0  # alerts with at least one record in ATTENTION_OUTCOMES

    @property
    def duplicates(self) -> int:
        return self.deliveries - self.alerts

    @property
    def action_duplicates(self) -> int:
        return self.action_deliveries - self.actions

    @property
    def actions_to_check(self) -> int:
        return sum(self.actions_by_outcome.get(outcome, 0) for outcome in ATTENTION_OUTCOMES)

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "duplicates": self.duplicates,
            "action_duplicates": self.action_duplicates,
            "actions_to_check": self.actions_to_check,
        }

    def text(self) -> str:
        types = ", ".join(f"{name}={count}" for name, count in sorted(self.alerts_by_type.items())) or "none"
        offline = ", ".join(self.offline[:10]) + (" ..." if len(self.offline) > 10 else "")
        outcomes = ", ".join(f"{name}={count}" for name, count in sorted(self.actions_by_outcome.items())) or "none"
        return "\n".join(
            [
                f"alerts: {self.alerts} unique, {self.duplicates} duplicate deliveries ({types})",
                f"episodes: {self.episodes_open} open, {self.episodes_closed} closed,"
                f" {self.ends_awaiting_start} ends awaiting their start",
                f"devices: {self.devices_online} online, {self.devices_offline} offline"
                + (f" ({offline})" if offline else ""),
                f"counts intervals: {self.counts}",
                f"actions: {self.actions} unique, {self.action_duplicates} duplicate deliveries ({outcomes});"
                f" {self.actions_to_check} to check ({'/'.join(ATTENTION_OUTCOMES)})"
                f" on {self.alerts_with_failed_actions} alerts, {self.actions_awaiting_alert} awaiting their alert",
            ]
        )


class PlatformStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._lock:
            self._migrate()

    def _migrate(self) -> None:
        """Create or upgrade the tables in one transaction: one instance migrates, others wait and find it done."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in ddl.DDL:  # the first version's tables (a new store has nothing else)
                self._db.execute(statement)
            found = self._db.execute(ddl.STORED_VERSION).fetchone()
            stored = 1 if found is None else found[0]
            if stored > ddl.SCHEMA_VERSION:
                raise StoreVersionError(
                    f"{self.path}: platform store schema version {stored}, written by a newer consumer;"
                    f" this one knows up to {ddl.SCHEMA_VERSION}: upgrade it"
                )
            for version in range(stored + 1, ddl.SCHEMA_VERSION + 1):
                for statement in ddl.MIGRATIONS[version]:
                    self._db.execute(statement)
            self._db.execute(ddl.RECORD_SCHEMA, (ddl.SCHEMA_VERSION,))
        except BaseException:
            self._db.rollback()
            self._db.close()
            raise
        self._db.commit()

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
            before = self._deliveries("alerts", alert["event_id"])
            self._db.execute(ddl.INSERT_ALERT, row)
            self._pair(alert)
        return before == 0

    def _deliveries(self, table: str, event_id: str) -> int:
        found = self._db.execute(f"SELECT deliveries FROM {table} WHERE event_id = ?", (event_id,)).fetchone()
        return 0 if found is None else found[0]

    def add_action(self, record: ActionRecord, payload: str, received_at: float | None = None) -> bool:
        """Store an action record (checked by the caller, see message_checks.py); False when its event_id was already
        stored (only the delivery is counted). Its alert need not be stored yet: reads join on alert_event_id."""
        received_at = time.time() if received_at is None else received_at
        row = (
            record.event_id,
            record.device_id,
            record.site,
            record.action,
            record.kind,
            record.trigger,
            record.alert_event_id,
            record.alert_type,
            record.outcome,
            record.attempts,
            record.error,
            record.latency_ms,
            record.finished_at,
            received_at,
            payload,
        )
        with self._lock, self._db:
            before = self._deliveries("actions", record.event_id)
            self._db.execute(ddl.INSERT_ACTION, row)
        return before == 0

    def _pair(self, alert: dict) -> None:
        phase = alert.get("phase", "instant")
        if phase == "start":
            self._db.execute(
                ddl.UPSERT_EPISODE_START, (alert["event_id"], alert["device_id"], alert["type"], alert["started_at"])
            )
        elif phase == "end" and alert.get("related_event_id"):
            self._db.execute(
                ddl.UPSERT_EPISODE_END,
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
            self._db.execute(ddl.UPSERT_DEVICE, row)

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
            self._db.execute(ddl.INSERT_COUNTS, row)

    # -- reads ---------------------------------------------------------------------

    def episode(self, start_event_id: str) -> dict | None:
        with self._lock:
            cursor = self._db.execute("SELECT * FROM episodes WHERE start_event_id = ?", (start_event_id,))
            found = cursor.fetchone()
            return None if found is None else dict(zip([c[0] for c in cursor.description], found))

    def add_evidence_kept(self, kept: dict, payload: str, received_at: float | None = None) -> None:
        """A clip's `evidence_kept` record (the hash `platform evidence` checks a fetched clip against)."""
        row = (kept["alert_event_id"], kept["device_id"], kept["kind"], kept["sha256"], kept["bytes"])
        with self._lock, self._db:
            self._db.execute(
                ddl.INSERT_EVIDENCE_KEPT, (*row, time.time() if received_at is None else received_at, payload)
            )

    def alert_origin(self, event_id: str) -> tuple[str, str] | None:
        """(site, device_id) of a stored alert."""
        with self._lock:
            found = self._db.execute("SELECT site, device_id FROM alerts WHERE event_id = ?", (event_id,)).fetchone()
        return None if found is None else (found[0], found[1])

    def evidence_sha256(self, alert_event_id: str, kind: str) -> str | None:
        """The hash the agent published for an alert's evidence: the alert's own `details.evidence` (a snapshot),
        or its clip's `evidence_kept` record."""
        with self._lock:
            if kind == "clip":
                found = self._db.execute(
                    "SELECT sha256 FROM evidence_kept WHERE alert_event_id = ?", (alert_event_id,)
                ).fetchone()
                return None if found is None else found[0]
            found = self._db.execute("SELECT payload FROM alerts WHERE event_id = ?", (alert_event_id,)).fetchone()
        evidence = (parse_json(found[0].encode()) or {}).get("details", {}).get("evidence") if found else None
        return evidence.get("sha256") if isinstance(evidence, dict) and evidence.get("kind") == kind else None

    def device_state(self, device_id: str) -> str | None:
        with self._lock:
            found = self._db.execute("SELECT state FROM devices WHERE device_id = ?", (device_id,)).fetchone()
        return None if found is None else found[0]

    def alert_deliveries(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT event_id, deliveries FROM alerts"))

    def action(self, event_id: str) -> dict | None:
        """One action record with its alert's facts when that alert is stored (`alert_stored`)."""
        found = self._action_rows(" WHERE actions.event_id = ?", (event_id,))
        return found[0] if found else None

    def actions_of_alert(self, alert_event_id: str) -> list[dict]:
        return self._action_rows(" WHERE actions.alert_event_id = ? ORDER BY actions.finished_at", (alert_event_id,))

    def actions_to_check(self, limit: int = 50, every_outcome: bool = False) -> list[dict]:
        """The newest records an operator should look at (ATTENTION_OUTCOMES), or the newest of any outcome."""
        if every_outcome:
            return self._action_rows(" ORDER BY actions.finished_at DESC LIMIT ?", (limit,))
        marks = ", ".join("?" * len(ATTENTION_OUTCOMES))
        where = f" WHERE actions.outcome IN ({marks}) ORDER BY actions.finished_at DESC LIMIT ?"
        return self._action_rows(where, (*ATTENTION_OUTCOMES, limit))

    def _action_rows(self, where: str, parameters: tuple) -> list[dict]:
        with self._lock:
            cursor = self._db.execute(ddl.SELECT_ACTIONS + where, parameters)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

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
            actions = self._action_summary()
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
            **actions,
        )

    def _action_summary(self) -> dict:
        query = self._db.execute
        actions, deliveries = query("SELECT count(*), coalesce(sum(deliveries), 0) FROM actions").fetchone()
        awaiting = query(
            "SELECT count(*) FROM actions WHERE alert_event_id IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM alerts WHERE alerts.event_id = actions.alert_event_id)"
        ).fetchone()[0]
        marks = ", ".join("?" * len(ATTENTION_OUTCOMES))
        failed = query(
            f"SELECT count(DISTINCT alert_event_id) FROM actions WHERE outcome IN ({marks})", ATTENTION_OUTCOMES
        ).fetchone()[0]
        return {
            "actions": actions,
            "action_deliveries": deliveries,
            "actions_by_outcome": dict(query("SELECT outcome, count(*) FROM actions GROUP BY outcome")),
            "actions_awaiting_alert": awaiting,
            "alerts_with_failed_actions": failed,
        }

    def close(self) -> None:
        with self._lock:
            self._db.close()


def parse_json(payload: bytes) -> dict | None:
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
