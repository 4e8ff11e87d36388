"""The platform's side of the response: dispositions stored, open alerts by age, and the response figures.

`ResponseStore` keeps every `disposition` message (once per (alert, state), the first copy wins) in a
table of its own beside the consumer's store, in SQL that PostgreSQL runs as written (`?` placeholders
become `%s` for a pyformat driver), and reads the consumer's `alerts` table (plain SELECTs) for:

- `pending()`: start and instant alerts with no `resolved` or `false_alarm` yet, oldest first, with age;
- `figures()`: per site, rule and type: time to acknowledge (the first disposition, whatever its state) and
  to resolve (`resolved` or `false_alarm`), p50 and p95, from the alert's `created_at` to the disposition's
  `at` (both the box's clock); how many escalated (`alert.unanswered`); the false-alarm rate per rule.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from edge_agent.clock import parse_utc
from edge_agent.events.disposition import Disposition

DDL = (
    """
    CREATE TABLE IF NOT EXISTS dispositions (
        alert_event_id TEXT NOT NULL,
        state TEXT NOT NULL,
        event_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        site TEXT NOT NULL,
        alert_type TEXT NOT NULL,
        rule TEXT,
        by_whom TEXT NOT NULL,
        origin TEXT NOT NULL,
        at TEXT NOT NULL,
        alert_created_at TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (alert_event_id, state)
    )
    """,
)
INSERT = """
    INSERT INTO dispositions (alert_event_id, state, event_id, device_id, site, alert_type, rule, by_whom, origin,
                              at, alert_created_at, received_at, payload)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (alert_event_id, state) DO NOTHING
"""
NOT_ANSWERED_TYPES = ("agent.health", "alert.unanswered", "rule.snoozed_report")
CLOSING = ("resolved", "false_alarm")


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """Nearest-rank percentile (the value at rank ceil(fraction * n)); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class ResponseStore:
    """Thread-safe. `connection`: a DB-API connection to the consumer's database (SQLite or PostgreSQL)."""

    def __init__(self, connection, pyformat: bool = False):
        self._db = connection
        self._pyformat = pyformat
        self._lock = threading.Lock()
        with self._lock:
            for statement in DDL:
                self._db.execute(statement)
            self._db.commit()

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self._pyformat else text

    def add(self, disposition: Disposition, payload: str, received_at: float | None = None) -> bool:
        """Store a disposition; False when its (alert, state) was stored before."""
        d = disposition
        row = (d.alert_event_id, d.state, d.event_id, d.device_id, d.site, d.alert_type, d.rule, d.by, d.origin, d.at)
        row += (d.alert_created_at, time.time() if received_at is None else received_at, payload)
        with self._lock:
            cursor = self._db.execute(self._sql(INSERT), row)
            self._db.commit()
        return cursor.rowcount > 0

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return list(self._db.execute(self._sql(sql), params).fetchall())

    def states(self) -> dict[str, dict[str, str]]:
        """alert event id -> {state: at}."""
        found: dict[str, dict[str, str]] = defaultdict(dict)
        for alert_id, state, at in self._rows("SELECT alert_event_id, state, at FROM dispositions"):
            found[alert_id][state] = at
        return found

    def alert_origin(self, event_id: str) -> tuple[str, str] | None:
        """(site, device_id) of a stored alert, or None."""
        rows = self._rows("SELECT site, device_id FROM alerts WHERE event_id = ?", (event_id,))
        return (rows[0][0], rows[0][1]) if rows else None

    def _answerable(self) -> list[dict]:
        rows = self._rows(
            "SELECT event_id, device_id, site, type, severity, created_at, payload FROM alerts"
            " WHERE phase IN ('start', 'instant') ORDER BY created_at"
        )
        alerts = []
        for event_id, device_id, site, alert_type, severity, created_at, payload in rows:
            if alert_type in NOT_ANSWERED_TYPES or severity == "info":
                continue
            body = json.loads(payload)
            alerts.append(
                {
                    "event_id": event_id,
                    "device_id": device_id,
                    "site": site,
                    "type": alert_type,
                    "severity": severity,
                    "rule": body.get("rule"),
                    "source": f"{body['source']['kind']}:{body['source']['id']}",
                    "created_at": created_at,
                }
            )
        return alerts

    def pending(self, now: float | None = None) -> list[dict]:
        """Alerts not yet resolved nor closed as false alarms, oldest first, with their age and states so far."""
        now = time.time() if now is None else now
        states = self.states()
        listed = []
        for alert in self._answerable():
            done = states.get(alert["event_id"], {})
            if not any(state in done for state in CLOSING):
                age = round(max(0.0, now - parse_utc(alert["created_at"])), 1)
                listed.append({**alert, "age_s": age, "states": sorted(done, key=done.get)})
        return listed

    def figures(self) -> list[dict[str, Any]]:
        """One row per (site, rule, type): alerts, answered, ack/resolve p50/p95 (s), unanswered, false-alarm rate."""
        states = self.states()
        escalated = self._escalated()
        groups: dict[tuple, list[dict]] = defaultdict(list)
        for alert in self._answerable():
            groups[(alert["site"], alert["rule"] or "", alert["type"])].append(alert)
        rows = []
        for (site, rule, alert_type), alerts in sorted(groups.items()):
            ack, resolve, false_alarms = [], [], 0
            for alert in alerts:
                created = parse_utc(alert["created_at"])
                done = states.get(alert["event_id"], {})
                if done:
                    ack.append(min(parse_utc(at) for at in done.values()) - created)
                closing = [parse_utc(done[state]) for state in CLOSING if state in done]
                if closing:
                    resolve.append(min(closing) - created)
                false_alarms += "false_alarm" in done
            rows.append(_figure_row(site, rule, alert_type, alerts, ack, resolve, false_alarms, escalated))
        return rows

    def _escalated(self) -> set[str]:
        found = set()
        for (payload,) in self._rows("SELECT payload FROM alerts WHERE type = 'alert.unanswered'"):
            extra = (json.loads(payload).get("details") or {}).get("extra") or {}
            if extra.get("unanswered_event_id"):
                found.add(extra["unanswered_event_id"])
        return found


def _figure_row(site, rule, alert_type, alerts, ack, resolve, false_alarms, escalated) -> dict[str, Any]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return {
        "site": site,
        "rule": rule or None,
        "type": alert_type,
        "alerts": len(alerts),
        "acknowledged": len(ack),
        "ack_p50_s": rounded(percentile(ack, 0.5)),
        "ack_p95_s": rounded(percentile(ack, 0.95)),
        "resolved": len(resolve),
        "resolve_p50_s": rounded(percentile(resolve, 0.5)),
        "resolve_p95_s": rounded(percentile(resolve, 0.95)),
        "unanswered": sum(1 for alert in alerts if alert["event_id"] in escalated),
        "false_alarms": false_alarms,
        "false_alarm_rate": round(false_alarms / len(alerts), 3) if alerts else None,
    }
