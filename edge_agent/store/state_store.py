"""The durable rule state beside the outbox: what must survive reloads, restarts, SIGKILL and power cuts.

One SQLite file (`state.db` in the state directory, WAL, a corrupt file set aside and
reported like the outbox's) with one table per kind of state:

- `episodes`: every start alert whose end has not been stored yet, so each start gets
  exactly one end across restarts (see store/episodes.py for the protocol);
- `dispositions` and `escalations`: the response to alerts (store/response_ledger.py): what was decided about
  each alert, and the escalation timers of starts nobody has answered yet, written in the episode's own step;
- `facts`: small JSON values rules keep by (scope, key) — door open-since, welfare last
  activity, recent grants, line counters — written when they change.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from edge_agent.events import Alert
from edge_agent.store.database import Migration, migrate, open_database, require_columns

log = logging.getLogger(__name__)

STATE_FILE = "state.db"


def create_v1(db: sqlite_utils.Database) -> None:
    db["episodes"].create(
        {"start_event_id": str, "key": str, "start_alert": str, "confirmed": int, "end_alert": str, "opened_at": float},
        pk="start_event_id",
        not_null={"key", "start_alert", "confirmed", "opened_at"},
        defaults={"confirmed": 0},
    )
    db["episodes"].create_index(["key"])
    db["facts"].create(
        {"scope": str, "key": str, "value": str, "updated_at": float},
        pk=("scope", "key"),
        not_null={"value", "updated_at"},
    )


def create_v2(db: sqlite_utils.Database) -> None:
    """The response to alerts (store/response_ledger.py): dispositions, and escalation timers beside the episodes."""
    db["dispositions"].create(
        {"alert_event_id": str, "state": str, "message": str, "recorded_at": float},
        pk=("alert_event_id", "state"),
        not_null={"message", "recorded_at"},
    )
    db["escalations"].create(
        {"alert_event_id": str, "alert": str, "due_at": float, "actions": str},
        pk="alert_event_id",
        not_null={"alert", "due_at", "actions"},
    )
    db["escalations"].create_index(["due_at"])


MIGRATIONS: tuple[Migration, ...] = (create_v1, create_v2)
LAYOUT = {
    "episodes": ("start_event_id", "key", "start_alert", "confirmed", "end_alert", "opened_at"),
    "facts": ("scope", "key", "value", "updated_at"),
    "dispositions": ("alert_event_id", "state", "message", "recorded_at"),
    "escalations": ("alert_event_id", "alert", "due_at", "actions"),
}


@dataclass(frozen=True)
class OpenEpisode:
    key: str
    start: Alert
    confirmed: bool  # the start is known to be committed to the outbox
    end: Alert | None  # set once an end was decided but maybe not yet stored


def episode_key(alert: Alert) -> str:
    """What identifies the condition an episode is about, stable across restarts and reloads."""
    extra = alert.details.extra or {}
    subject = extra.get("adapter") if alert.type == "agent.health" else None
    return "|".join((alert.type, alert.source.kind, alert.source.id, alert.rule or "", str(subject or "")))


class StateStore:
    """Thread-safe; every write is its own durable transaction."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        opened = open_database(self.path, self._ensure_schema, label="state")
        self._connection = opened.connection
        self.db = opened.db
        self.moved_aside_to = opened.moved_aside_to
        self.corruption = opened.corruption
        self._lock = threading.Lock()

    @classmethod
    def beside(cls, outbox_path: str | Path) -> StateStore:
        return cls(Path(outbox_path).with_name(STATE_FILE))

    @staticmethod
    def _ensure_schema(db: sqlite_utils.Database) -> None:
        migrate(db, MIGRATIONS, "state")
        require_columns(db, LAYOUT, "state")

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    # -- episodes ---------------------------------------------------------------------------
    def episode_opening(self, alert: Alert, now: float) -> None:
        self._write(
            "INSERT OR REPLACE INTO episodes (start_event_id, key, start_alert, confirmed, opened_at)"
            " VALUES (?, ?, ?, 0, ?)",
            (alert.event_id, episode_key(alert), alert.to_json(), now),
        )

    def episode_confirmed(self, start_event_id: str) -> None:
        self._write("UPDATE episodes SET confirmed = 1 WHERE start_event_id = ?", (start_event_id,))

    def episode_ending(self, start_event_id: str, end: Alert) -> bool:
        """Record the end about to be stored; False when no such episode is open (nothing to record)."""
        return self._write(
            "UPDATE episodes SET end_alert = ? WHERE start_event_id = ?", (end.to_json(), start_event_id)
        )

    def episode_ended(self, start_event_id: str) -> None:
        self._write("DELETE FROM episodes WHERE start_event_id = ?", (start_event_id,))

    def open_episodes(self) -> list[OpenEpisode]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT key, start_alert, confirmed, end_alert FROM episodes ORDER BY opened_at"
            ).fetchall()
        return [
            OpenEpisode(
                key, Alert.model_validate_json(start), bool(confirmed), Alert.model_validate_json(end) if end else None
            )
            for key, start, confirmed, end in rows
        ]

    # -- facts --------------------------------------------------------------------------------
    def put(self, scope: str, key: str, value: Any, now: float) -> None:
        self._write(
            "INSERT OR REPLACE INTO facts (scope, key, value, updated_at) VALUES (?, ?, ?, ?)",
            (scope, key, json.dumps(value), now),
        )

    def drop(self, scope: str, key: str | None = None) -> None:
        if key is None:
            self._write("DELETE FROM facts WHERE scope = ?", (scope,))
        else:
            self._write("DELETE FROM facts WHERE scope = ? AND key = ?", (scope, key))

    def facts(self, scope: str) -> dict[str, Any]:
        with self._lock:
            rows = self._connection.execute("SELECT key, value FROM facts WHERE scope = ?", (scope,)).fetchall()
        return {key: json.loads(value) for key, value in rows}

    def scopes(self) -> Iterator[str]:
        with self._lock:
            rows = self._connection.execute("SELECT DISTINCT scope FROM facts").fetchall()
        return iter([row[0] for row in rows])

    # -- for the ledgers kept in this file (store/response_ledger.py) -------------------------------
    def write(self, sql: str, params: tuple) -> bool:
        """One durable statement; True when it changed a row."""
        return self._write(sql, params)

    def read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._connection.execute(sql, params).fetchall()

    def _write(self, sql: str, params: tuple) -> bool:
        with self._lock:
            cursor = self._connection.execute(sql, params)
            return cursor.rowcount > 0
