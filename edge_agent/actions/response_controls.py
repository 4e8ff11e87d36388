"""Arm, disarm and snooze without a config change: which alerts are kept back, and what each snooze hid.

A target is `rule:<name>`, `camera:<id>` or `all`. `disarm` keeps back every start and instant alert of
its target until `arm`; `snooze` does the same for one rule until its time is up. Agent health, and the
response's own alerts (`alert.unanswered`, `rule.snoozed_report`), are never kept back. The end of a start
that was kept back is kept back too (the platform never saw the start). Every kept-back alert is counted
on its control; a snooze's count, by type, goes out in a `rule.snoozed_report` alert when it ends, expired
or armed again, so a snooze is never silent about what it hid.

The controls live in the state store's facts (scopes below), written as they change, so they hold across
reloads and restarts, and a snooze expires on its wall-clock time whether or not the agent ran meanwhile.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from edge_agent.clock import iso_utc
from edge_agent.events import Alert
from edge_agent.store.state_store import StateStore

DISARMED = "response.disarmed"
SNOOZED = "response.snoozed"
NEVER_KEPT_BACK = ("agent.health", "alert.unanswered", "rule.snoozed_report")


class ControlRefused(ValueError):
    """A control that cannot be applied (unknown target, nothing to arm); says why."""


@dataclass(frozen=True)
class SnoozeReport:
    """A snooze that ended: its target and what it kept back."""

    target: str
    entry: dict[str, Any]
    ended_by: str


def targets_of(alert: Alert) -> tuple[str, ...]:
    """The control targets that cover `alert`."""
    found = ["all"]
    if alert.rule:
        found.append(f"rule:{alert.rule}")
    if alert.source.kind == "camera":
        found.append(f"camera:{alert.source.id}")
    return tuple(found)


class Controls:
    """Thread-safe: `admit` runs on every storing thread, the commands and the console change the controls."""

    def __init__(self, state: StateStore):
        self.state = state
        self._lock = threading.Lock()
        self._disarmed: dict[str, dict] = state.facts(DISARMED)
        self._snoozed: dict[str, dict] = state.facts(SNOOZED)
        self._kept_back_starts: set[str] = set()

    def admit(self, alert: Alert, now: float) -> bool:
        """False when a control keeps `alert` back (counted on that control)."""
        if alert.type in NEVER_KEPT_BACK:
            return True
        with self._lock:
            if alert.phase == "end":
                return alert.related_event_id not in self._kept_back_starts
            for target in targets_of(alert):
                entry = self._snoozed.get(target)
                scope = SNOOZED
                if entry is None or entry["until"] <= now:
                    entry, scope = self._disarmed.get(target), DISARMED
                if entry is not None:
                    self._count(scope, target, entry, alert, now)
                    return False
        return True

    def _count(self, scope: str, target: str, entry: dict, alert: Alert, now: float) -> None:
        entry["suppressed"] = entry.get("suppressed", 0) + 1
        types = entry.setdefault("suppressed_types", {})
        types[alert.type] = types.get(alert.type, 0) + 1
        if alert.phase == "start":
            self._kept_back_starts.add(alert.event_id)
        self.state.put(scope, target, entry, now)

    def disarm(self, target: str, by: str, origin: str, now: float) -> dict:
        with self._lock:
            entry = self._disarmed.get(target) or {"by": by, "origin": origin, "at": iso_utc(now), "suppressed": 0}
            self._disarmed[target] = entry
            self.state.put(DISARMED, target, entry, now)
            return dict(entry)

    def snooze(self, target: str, minutes: float, reason: str, by: str, origin: str, now: float) -> dict:
        """A new snooze of `target` (a running one is replaced: its count carries on under the new time)."""
        with self._lock:
            previous = self._snoozed.get(target, {})
            entry = {
                "by": by,
                "origin": origin,
                "reason": reason,
                "at": previous.get("at", iso_utc(now)),
                "until": now + minutes * 60.0,
                "suppressed": previous.get("suppressed", 0),
                "suppressed_types": previous.get("suppressed_types", {}),
            }
            self._snoozed[target] = entry
            self.state.put(SNOOZED, target, entry, now)
            return dict(entry)

    def arm(self, target: str, by: str, now: float) -> tuple[dict | None, SnoozeReport | None]:
        """Lift the disarm and the snooze of `target`; (the disarm lifted, the snooze's report). Raises
        ControlRefused when neither was there."""
        with self._lock:
            disarmed = self._disarmed.pop(target, None)
            snoozed = self._snoozed.pop(target, None)
            if disarmed is None and snoozed is None:
                raise ControlRefused(f"{target} is neither disarmed nor snoozed; nothing changed")
            if disarmed is not None:
                self.state.drop(DISARMED, target)
            if snoozed is not None:
                self.state.drop(SNOOZED, target)
        return disarmed, SnoozeReport(target, snoozed, by) if snoozed is not None else None

    def expired(self, now: float) -> list[SnoozeReport]:
        """The snoozes whose time is up, removed."""
        with self._lock:
            done = [target for target, entry in self._snoozed.items() if entry["until"] <= now]
            reports = [SnoozeReport(target, self._snoozed.pop(target), "expired") for target in done]
            for target in done:
                self.state.drop(SNOOZED, target)
        return reports

    def snapshot(self, now: float) -> dict:
        """For status, telemetry and the page: what is disarmed and snoozed, and what each kept back so far."""
        with self._lock:
            snoozed = {
                target: {
                    **entry,
                    "until": iso_utc(entry["until"]),
                    "remaining_s": round(max(0.0, entry["until"] - now)),
                }
                for target, entry in self._snoozed.items()
            }
            return {"disarmed": {t: dict(e) for t, e in self._disarmed.items()}, "snoozed": snoozed}
