"""What the platform store writes: one row type per message kind, built only from a checked message
(message_checks.py) and written in batches (store.py `PlatformStore.write`)."""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.events.action import ActionRecord


@dataclass(frozen=True)
class AlertRow:
    event_id: str
    device_id: str
    site: str
    type: str
    severity: str
    phase: str
    related_event_id: str | None
    started_at: str
    ended_at: str | None
    created_at: str
    received_at: float
    payload: str
    kind = "alert"

    @property
    def key(self) -> str:
        return self.event_id

    def values(self) -> tuple:
        """ddl.INSERT_ALERT's parameters."""
        return (
            self.event_id,
            self.device_id,
            self.site,
            self.type,
            self.severity,
            self.phase,
            self.related_event_id,
            self.started_at,
            self.created_at,
            self.received_at,
            self.payload,
        )


@dataclass(frozen=True)
class ActionRow:
    record: ActionRecord
    received_at: float
    payload: str
    kind = "action"

    @property
    def key(self) -> str:
        return self.record.event_id

    def values(self) -> tuple:
        """ddl.INSERT_ACTION's parameters."""
        record = self.record
        return (
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
            self.received_at,
            self.payload,
        )


@dataclass(frozen=True)
class CountsRow:
    event_id: str
    device_id: str
    site: str
    interval_start: str
    interval_end: str
    complete: bool
    received_at: float
    payload: str
    kind = "counts"

    @property
    def key(self) -> str:
        return self.event_id

    def values(self) -> tuple:
        """ddl.INSERT_COUNTS's parameters."""
        return (
            self.event_id,
            self.device_id,
            self.site,
            self.interval_start,
            self.interval_end,
            int(self.complete),
            self.received_at,
            self.payload,
        )


@dataclass(frozen=True)
class StatusRow:
    device_id: str
    site: str
    state: str
    agent_version: str | None
    started_at: str | None
    at: str | None
    received_at: float
    kind = "status"

    @property
    def key(self) -> str:
        return self.device_id

    def values(self) -> tuple:
        """ddl.UPSERT_DEVICE's parameters."""
        return (self.device_id, self.site, self.state, self.agent_version, self.started_at, self.at, self.received_at)


StoredRow = AlertRow | ActionRow | CountsRow | StatusRow
