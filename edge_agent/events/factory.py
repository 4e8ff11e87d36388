"""Builds alerts with the device's identity and clock filled in, so rules state only the facts."""

from __future__ import annotations

from edge_agent.clock import Clock, SystemClock, iso_utc
from edge_agent.events.alert import Alert, AlertDetails, Severity, Source


class AlertFactory:
    def __init__(self, device_id: str, site: str, clock: Clock | None = None):
        self.device_id = device_id
        self.site = site
        self.clock = clock or SystemClock()

    def make(
        self,
        type: str,
        severity: Severity | str,
        source: Source | tuple[str, str],
        *,
        started_at: float | None = None,
        ended_at: float | None = None,
        phase: str = "instant",
        rule: str | None = None,
        related_event_id: str | None = None,
        details: AlertDetails | dict | None = None,
    ) -> Alert:
        """`started_at`/`ended_at` are wall-clock epoch seconds; default: now (`ended_at` only on an end,
        which always carries it: docs/mqtt-api.md)."""
        now = self.clock.wall()
        if isinstance(source, tuple):
            source = Source(kind=source[0], id=source[1])
        if isinstance(details, dict):
            details = AlertDetails(**details)
        return Alert(
            device_id=self.device_id,
            site=self.site,
            source=source,
            type=type,
            severity=Severity(severity),
            phase=phase,
            rule=rule,
            related_event_id=related_event_id,
            started_at=iso_utc(now if started_at is None else started_at),
            ended_at=iso_utc(now if ended_at is None else ended_at) if phase == "end" or ended_at is not None else None,
            created_at=iso_utc(now),
            details=details or AlertDetails(),
        )
