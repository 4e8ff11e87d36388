"""What the platform store holds, in one read: `edge-agent platform summary` and the consumer's periodic line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

# Outcomes an operator should look at: the action did not happen (ok is done; rate_limited and cooldown are
# the action's own limits doing what they were configured to do, counted in the summary).
ATTENTION_OUTCOMES = ("failed", "timeout", "dropped", "stopped")

Query = Callable[[str, Sequence], object]


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


def read_summary(query: Query) -> Summary:
    """What the store holds; `query(sql, parameters=())` returns a cursor (the store's, under its lock)."""
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
    actions = _action_summary(query)
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


def _action_summary(query: Query) -> dict:
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
