"""The response to alerts, kept in the state store beside the episodes: dispositions and escalation timers.

- `dispositions`: one row per (alert, state), holding the published `disposition` message, so the
  same answer twice is recognised (idempotent on that pair) and the order of states is checked
  against what was recorded, across reloads and restarts;
- `escalations`: one timer per start (or instant) whose rule escalates, written by `EpisodeSink` in the
  same ledger step as the episode (before the outbox commit), deleted by any disposition or once it fired.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from edge_agent.events import Alert
from edge_agent.events.disposition import Disposition
from edge_agent.store.state_store import StateStore


@dataclass(frozen=True)
class DueEscalation:
    alert: Alert
    due_at: float
    actions: list[str]


class ResponseLedger:
    """Thread-safe (each call is one statement of the state store's)."""

    def __init__(self, state: StateStore):
        self.state = state

    # -- dispositions ------------------------------------------------------------------------------
    def dispositions(self, alert_event_id: str) -> list[Disposition]:
        rows = self.state.read(
            "SELECT message FROM dispositions WHERE alert_event_id = ? ORDER BY recorded_at", (alert_event_id,)
        )
        return [Disposition.model_validate_json(message) for (message,) in rows]

    def record(self, disposition: Disposition, now: float) -> bool:
        """Keep `disposition`; False when its (alert, state) was recorded before (nothing changed)."""
        return self.state.write(
            "INSERT OR IGNORE INTO dispositions (alert_event_id, state, message, recorded_at) VALUES (?, ?, ?, ?)",
            (disposition.alert_event_id, disposition.state, disposition.model_dump_json(), now),
        )

    def answered(self, alert_event_ids: list[str]) -> dict[str, list[str]]:
        """Per alert of `alert_event_ids`, the states recorded (alerts with none are left out)."""
        states: dict[str, list[str]] = {}
        for start in range(0, len(alert_event_ids), 500):
            chunk = alert_event_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for alert_id, state in self.state.read(
                f"SELECT alert_event_id, state FROM dispositions WHERE alert_event_id IN ({marks})"
                " ORDER BY recorded_at",
                tuple(chunk),
            ):
                states.setdefault(alert_id, []).append(state)
        return states

    def all_messages(self) -> list[Disposition]:
        return [Disposition.model_validate_json(m) for (m,) in self.state.read("SELECT message FROM dispositions")]

    # -- escalation timers -------------------------------------------------------------------------
    def escalation_due(self, alert: Alert, due_at: float, actions: list[str]) -> None:
        self.state.write(
            "INSERT OR REPLACE INTO escalations (alert_event_id, alert, due_at, actions) VALUES (?, ?, ?, ?)",
            (alert.event_id, alert.to_json(), due_at, json.dumps(actions)),
        )

    def cancel_escalation(self, alert_event_id: str) -> bool:
        return self.state.write("DELETE FROM escalations WHERE alert_event_id = ?", (alert_event_id,))

    def due(self, now: float) -> list[DueEscalation]:
        rows = self.state.read(
            "SELECT alert, due_at, actions FROM escalations WHERE due_at <= ? ORDER BY due_at", (now,)
        )
        return [DueEscalation(Alert.model_validate_json(a), due, json.loads(names)) for a, due, names in rows]

    def pending_escalations(self) -> int:
        return self.state.read("SELECT count(*) FROM escalations")[0][0]
