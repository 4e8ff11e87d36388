"""The response to alerts on the box: dispositions, escalation of what nobody answers, arm/disarm/snooze.

`ResponseDesk` belongs to the delivery (it outlives reloads, like the outbox and the state store it
writes to) and is the `EpisodeSink`'s response hooks: it keeps back what a control covers
(actions/response_controls.py) and gives a start of an escalating rule its timer. The pipeline's
`response` stage hands it the running config and action runner (`configure`) and ticks it: due
escalations run their actions and raise `alert.unanswered`; expired snoozes report what they hid.

`dispose` is the one way a disposition is made, from the platform (`dispose` command) or the guards'
console: the alert must be on the box, the state may not repeat nor go back (events/disposition.py);
then the message is committed to the outbox (published when the uplink is up), recorded in the state
store, the escalation timer deleted, and the actions bound to that state queued.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from edge_agent.actions.response_controls import ControlRefused, Controls, SnoozeReport
from edge_agent.actions.response_figures import open_alerts
from edge_agent.actions.runner import ActionRunner
from edge_agent.clock import Clock, iso_utc, parse_utc
from edge_agent.config import AgentConfig
from edge_agent.config.policy import REMOTE, field_policy
from edge_agent.events import Alert, AlertFactory, Severity, Topics, new_event_id
from edge_agent.events.disposition import Disposition, order_problem
from edge_agent.store.response_ledger import ResponseLedger
from edge_agent.store.state_store import StateStore

log = logging.getLogger(__name__)

AUDIT = "response.audit"
RESPONSE_TYPES = ("alert.unanswered", "rule.snoozed_report")


class ResponseRefused(ValueError):
    """A disposition or control that was not applied; says why, and `result` says what stands."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result


class ResponseDesk:
    max_audit = 1000  # audit entries kept, the newest

    def __init__(self, state: StateStore, outbox, emit: Callable[[Alert], None], factory: AlertFactory, topics: Topics):
        """`outbox`: where dispositions are committed and alerts read back; `emit`: the EpisodeSink (for the
        response's own alerts)."""
        self.ledger = ResponseLedger(state)
        self.controls = Controls(state)
        self.state = state
        self.outbox = outbox
        self.emit = emit
        self.factory = factory
        self.topics = topics
        self.clock: Clock = factory.clock
        self.config: AgentConfig | None = None
        self.runner: Callable[[], ActionRunner | None] = lambda: None
        self.counts = {"dispositions": 0, "refused": 0, "escalated": 0, "kept_back": 0}
        self._lock = threading.Lock()

    def configure(self, config: AgentConfig, runner: Callable[[], ActionRunner | None]) -> None:
        self.config, self.runner = config, runner

    # -- the EpisodeSink's hooks ---------------------------------------------------------------
    def admit(self, alert: Alert) -> bool:
        admitted = self.controls.admit(alert, self.clock.wall())
        if not admitted:
            self.counts["kept_back"] += 1
        return admitted

    def escalation(self, alert: Alert) -> tuple[float, list[str]] | None:
        if alert.phase == "end" or not alert.rule or alert.type in RESPONSE_TYPES or self.config is None:
            return None
        rule = next((r for r in self.config.rules if r.name == alert.rule), None)
        if rule is None or rule.escalate is None:
            return None
        return self.clock.wall() + rule.escalate.after, list(rule.escalate.actions)

    # -- dispositions --------------------------------------------------------------------------
    def dispose(self, event_id: str, state: str, by: str, note: str, origin: str) -> dict:
        """Record one disposition; raises ResponseRefused (unknown alert, a repeat, out of order): nothing changed."""
        alert = self._alert(event_id)
        with self._lock:
            recorded = self.ledger.dispositions(event_id)
            same = next((d for d in recorded if d.state == state), None)
            if same is not None:
                self.counts["refused"] += 1
                raise ResponseRefused(
                    f"alert {event_id} is already {state} (by {same.by} at {same.at}); nothing changed",
                    {"outcome": "duplicate", "disposition": same.model_dump(mode="json")},
                )
            problem = order_problem([d.state for d in recorded], state)
            if problem is not None:
                self.counts["refused"] += 1
                raise ResponseRefused(
                    f"{state} refused for alert {event_id}: {problem}; nothing changed",
                    {"outcome": "out_of_order", "states": [d.state for d in recorded]},
                )
            disposition = self._disposition(alert, state, by, note, origin)
            self.outbox.enqueue(self.topics.dispositions, disposition.model_dump_json(), "alarm", disposition.event_id)
            self.ledger.record(disposition, self.clock.wall())
            cancelled = self.ledger.cancel_escalation(event_id)
            self.counts["dispositions"] += 1
        runner = self.runner()
        jobs = runner.offer_disposition(alert, state) if runner is not None else []
        log.info("alert %s %s by %s (%s)%s", event_id, state, by, origin, ", escalation cancelled" if cancelled else "")
        return {
            "outcome": "recorded",
            "disposition": disposition.model_dump(mode="json"),
            "escalation_cancelled": cancelled,
            "actions": [{"action": job.fields["action"], "record_event_id": job.record_id} for job in jobs],
        }

    def _alert(self, event_id: str) -> Alert:
        row = self.outbox.get(event_id)
        if row is None or "/alerts/" not in row.topic:
            self.counts["refused"] += 1
            raise ResponseRefused(
                f"no alert {event_id} on this box (unknown, not an alert, or delivered long enough ago to be pruned)",
                {"outcome": "unknown_event"},
            )
        alert = Alert.model_validate_json(row.payload)
        if alert.phase == "end":
            self.counts["refused"] += 1
            raise ResponseRefused(
                f"{event_id} is an end alert; dispose its start {alert.related_event_id}", {"outcome": "end_alert"}
            )
        return alert

    def _disposition(self, alert: Alert, state: str, by: str, note: str, origin: str) -> Disposition:
        return Disposition(
            event_id=new_event_id(),
            device_id=alert.device_id,
            site=alert.site,
            alert_event_id=alert.event_id,
            alert_type=alert.type,
            rule=alert.rule,
            source_id=alert.source.id,
            severity=alert.severity.value,
            alert_created_at=alert.created_at,
            state=state,
            by=by,
            note=note,
            origin=origin,
            at=iso_utc(self.clock.wall()),
        )

    # -- the tick: escalations and snoozes -------------------------------------------------------
    def tick(self) -> None:
        now = self.clock.wall()
        for due in self.ledger.due(now):
            self._escalate(due.alert, due.actions, due.due_at)
        for report in self.controls.expired(now):
            self._report_snooze(report)

    def _escalate(self, alert: Alert, actions: list[str], due_at: float) -> None:
        if not self.ledger.cancel_escalation(alert.event_id):
            return  # answered meanwhile
        if self.outbox.get(alert.event_id) is None:
            return  # the agent died between the timer and the outbox commit: nothing was promised
        after = max(0.0, due_at - _created(alert))
        runner = self.runner()
        if runner is not None:
            runner.offer_escalation(alert, actions)
        severity = Severity.critical if alert.severity == Severity.critical else Severity.major
        details = {
            "reason": "not_acknowledged",
            "zone": alert.details.zone,
            "door": alert.details.door,
            "message": f"{alert.type} from {alert.source.id} not acknowledged within {after:g} s",
            "extra": {
                "unanswered_event_id": alert.event_id,
                "unanswered_type": alert.type,
                "after_s": round(after, 3),
                "actions": actions,
            },
        }
        self.emit(self.factory.make("alert.unanswered", severity, alert.source, details=details))
        self.counts["escalated"] += 1
        log.warning("alert %s was not acknowledged within %g s: escalated (%s)", alert.event_id, after, actions)

    def _report_snooze(self, report: SnoozeReport) -> None:
        entry = report.entry
        details = {
            "reason": "snooze_ended",
            "message": f"snooze of {report.target} ended ({report.ended_by}): {entry.get('suppressed', 0)} alert(s) "
            "kept back",
            "extra": {
                "target": report.target,
                "suppressed": entry.get("suppressed", 0),
                "suppressed_types": entry.get("suppressed_types", {}),
                "reason": entry["reason"],
                "by": entry["by"],
                "snoozed_at": entry["at"],
                "until": iso_utc(entry["until"]),
                "ended_by": report.ended_by,
            },
        }
        severity = Severity.minor if entry.get("suppressed") else Severity.info
        self.emit(
            self.factory.make("rule.snoozed_report", severity, ("device", self.factory.device_id), details=details)
        )

    # -- controls ---------------------------------------------------------------------------------
    def control(self, command: str, target: str, by: str, origin: str, minutes: float = 0, reason: str = "") -> dict:
        """`arm`, `disarm` or `snooze` a target (`rule:<name>`, `camera:<id>`, `all`); audited. Raises
        ResponseRefused (an unknown target; a remote sender, a target the remote-change policy keeps local)."""
        self._check_target(command, target, origin)
        now = self.clock.wall()
        try:
            if command == "disarm":
                result = {"disarmed": self.controls.disarm(target, by, origin, now)}
            elif command == "snooze":
                result = {"snoozed": self.controls.snooze(target, minutes, reason, by, origin, now)}
                result["snoozed"]["until"] = iso_utc(result["snoozed"]["until"])
            else:
                lifted, report = self.controls.arm(target, by, now)
                if report is not None:
                    self._report_snooze(report)
                result = {"armed": target, "was_disarmed": lifted is not None, "snooze_ended": report is not None}
        except ControlRefused as exc:
            raise ResponseRefused(str(exc), {"outcome": "unchanged"}) from None
        self._audit(command, target, by, origin, reason or None, now)
        return {"outcome": "applied", "target": target, **result}

    def _check_target(self, command: str, target: str, origin: str) -> None:
        config = self.config
        if config is None:
            raise ResponseRefused("the agent is starting; try again in a moment", {"outcome": "unchanged"})
        kind, _, name = target.partition(":")
        rules = {rule.name: rule for rule in config.rules}
        cameras = {camera.id: camera for camera in config.cameras}
        if command == "snooze" and kind != "rule":
            raise ResponseRefused(f"snooze takes a rule (rule:<name>), not {target!r}", {"outcome": "unchanged"})
        known = (kind == "rule" and name in rules) or (kind == "camera" and name in cameras) or target == "all"
        if not known:
            raise ResponseRefused(
                f"unknown target {target!r} (rules: {sorted(rules)}, cameras: {sorted(cameras)}, or all)",
                {"outcome": "unchanged"},
            )
        if origin == "remote":
            parts = list(rules.values()) + list(cameras.values()) if target == "all" else [(rules | cameras)[name]]
            local = [
                p.name if hasattr(p, "name") else p.id for p in parts if field_policy(type(p), "enabled")[0] != REMOTE
            ]
            if local:
                raise ResponseRefused(
                    f"{command} {target}: the remote-change policy keeps {', '.join(local)} local; do it on the box",
                    {"outcome": "refused", "fields": local},
                )

    def _audit(self, command: str, target: str, by: str, origin: str, reason: str | None, now: float) -> None:
        entry = {"at": iso_utc(now), "command": command, "target": target, "by": by, "origin": origin}
        if reason:
            entry["reason"] = reason
        self.state.put(AUDIT, new_event_id(), entry, now)
        # the newest max_audit only (keys are time-ordered UUIDv7s): a sender repeating disarm/arm must not fill the
        # disk, nor the console's every read
        self.state.write(
            "DELETE FROM facts WHERE scope = ? AND key < "
            "(SELECT key FROM facts WHERE scope = ? ORDER BY key DESC LIMIT 1 OFFSET ?)",
            (AUDIT, AUDIT, self.max_audit - 1),
        )
        log.info("response control: %s %s by %s (%s)%s", command, target, by, origin, f": {reason}" if reason else "")

    # -- what it shows ------------------------------------------------------------------------------
    def open_alerts(self, limit: int = 500) -> list[dict]:
        return open_alerts(self.outbox, self.ledger, self.clock.wall(), limit)

    def audit_trail(self, limit: int = 50) -> list[dict]:
        entries = sorted(self.state.facts(AUDIT).items())
        return [entry for _, entry in entries[-limit:]]

    def snapshot(self) -> dict:
        """For status, telemetry and the page."""
        return {
            **self.controls.snapshot(self.clock.wall()),
            "escalations_waiting": self.ledger.pending_escalations(),
            **self.counts,
        }


def _created(alert: Alert) -> float:
    return parse_utc(alert.created_at)
