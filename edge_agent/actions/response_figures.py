"""The open alerts on the box, for the guards' console and `status`: what still waits for a disposition.

Read from the outbox's newest rows (alerts stay there a while after delivery) and the dispositions
recorded in the state store: an alert is open until it is `resolved` or closed as `false_alarm`.
Agent health and the response's own alerts are not listed (they are the technician's, or follow an alert
that is listed); neither are `info` alerts (forwarded door events).
"""

from __future__ import annotations

from edge_agent.clock import parse_utc
from edge_agent.events import Alert
from edge_agent.store.response_ledger import ResponseLedger

NOT_LISTED = ("agent.health", "alert.unanswered", "rule.snoozed_report")
CLOSING = ("resolved", "false_alarm")


def open_alerts(outbox, ledger: ResponseLedger, now: float, limit: int) -> list[dict]:
    """Open alerts, oldest first: event id, type, severity, rule, source, age, states so far, episode ended,
    escalated (an `alert.unanswered` names it)."""
    alerts: list[Alert] = []
    ended: set[str] = set()
    escalated: set[str] = set()
    for row in outbox.tail(limit):
        if "/alerts/" not in row.topic:
            continue
        try:
            alert = Alert.model_validate_json(row.payload)
        except ValueError:
            continue
        if alert.phase == "end":
            ended.add(alert.related_event_id or "")
        elif alert.type == "alert.unanswered":
            escalated.add((alert.details.extra or {}).get("unanswered_event_id", ""))
        elif alert.type not in NOT_LISTED and alert.severity.value != "info":
            alerts.append(alert)
    states = ledger.answered([alert.event_id for alert in alerts])
    listed = []
    for alert in sorted(alerts, key=lambda a: a.created_at):
        done = states.get(alert.event_id, [])
        if any(state in CLOSING for state in done):
            continue
        listed.append(
            {
                "event_id": alert.event_id,
                "type": alert.type,
                "severity": alert.severity.value,
                "rule": alert.rule,
                "source": f"{alert.source.kind}:{alert.source.id}",
                "zone": alert.details.zone,
                "door": alert.details.door,
                "message": alert.details.message,
                "created_at": alert.created_at,
                "age_s": round(max(0.0, now - parse_utc(alert.created_at)), 1),
                "states": done,
                "ended": alert.phase == "instant" or alert.event_id in ended,
                "escalated": alert.event_id in escalated,
            }
        )
    return listed
