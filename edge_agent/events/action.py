"""The `action` message (what the agent did on its own, published like an alert) and the template language.

An action's templates (an HTTP body, URL path or header; a command's arguments) name alert fields as
`{field}`, from the fixed list `TEMPLATE_FIELDS`. Nothing else is interpreted: no attribute access, no
format specs, no expressions, so an alert's content (a zone name, a message) only ever becomes data.
`{{` and `}}` stand for literal braces.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.events.alert import SCHEMA_VERSION, Alert, RFC3339Time

TEMPLATE_FIELDS: dict[str, str] = {
    "action": "The action's own name.",
    "event_id": "The alert's event_id.",
    "related_event_id": "End alerts: the event_id of their start.",
    "type": "Alert type, e.g. ebike_in_lift.",
    "phase": "start, end or instant.",
    "severity": "info, minor, major or critical.",
    "rule": "Name of the rule that fired (video rules).",
    "site": "The device's site.",
    "device_id": "The device id.",
    "source_kind": "camera, door or device.",
    "source_id": "Camera id, door id or device id.",
    "zone": "Zone name (zone rules).",
    "line": "Line name (line rules, tailgating).",
    "door": "Door id (door alerts).",
    "reader": "Reader id (door alerts).",
    "direction": "in or out, when known.",
    "object_class": "Class of the object involved.",
    "count": "Objects counted (start alerts).",
    "peak_count": "Highest count (end alerts).",
    "duration_s": "Seconds the condition lasted (end alerts).",
    "reason": "Machine-readable reason.",
    "message": "The alert's human-readable summary.",
    "started_at": "RFC 3339 UTC start of the condition.",
    "ended_at": "RFC 3339 UTC end (end alerts).",
    "created_at": "RFC 3339 UTC time the alert was made.",
    "disposition": "Runs bound to a disposition: its state (acknowledged, dispatched, resolved, false_alarm).",
}

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class TemplateError(ValueError):
    pass


def template_parts(text: str) -> list[tuple[str, str]]:
    """The template as pieces in order: ("text", literal) and ("field", name); raises TemplateError naming what is
    wrong. Renderers (actions/templates.py) join these; nothing else reads a template."""
    parts: list[tuple[str, str]] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        token = match.group(0)
        literal = text[position : match.start()]
        position = match.end()
        if token in ("{{", "}}"):
            parts.append(("text", literal + token[0]))
            continue
        name = match.group(1)
        if name is None:
            raise TemplateError(f"unbalanced {token!r} at character {match.start()} (write {token * 2} for a brace)")
        if name not in TEMPLATE_FIELDS:
            raise TemplateError(f"unknown field {{{name}}} (known: {', '.join(sorted(TEMPLATE_FIELDS))})")
        if literal:
            parts.append(("text", literal))
        parts.append(("field", name))
    if position < len(text):
        parts.append(("text", text[position:]))
    return parts


def template_fields(text: str) -> list[str]:
    """The field names a template uses, in order; raises TemplateError naming what is wrong."""
    return [value for kind, value in template_parts(text) if kind == "field"]


def alert_fields(alert: Alert, action: str) -> dict[str, str | int | float | None]:
    """The values `TEMPLATE_FIELDS` name, read off an alert (None where the alert has no such fact)."""
    details = alert.details
    return {
        "action": action,
        "event_id": alert.event_id,
        "related_event_id": alert.related_event_id,
        "type": alert.type,
        "phase": alert.phase,
        "severity": alert.severity.value,
        "rule": alert.rule,
        "site": alert.site,
        "device_id": alert.device_id,
        "source_kind": alert.source.kind,
        "source_id": alert.source.id,
        "zone": details.zone,
        "line": details.line,
        "door": details.door,
        "reader": details.reader,
        "direction": details.direction,
        "object_class": details.object_class,
        "count": details.count,
        "peak_count": details.peak_count,
        "duration_s": details.duration_s,
        "reason": details.reason,
        "message": details.message,
        "started_at": alert.started_at,
        "ended_at": alert.ended_at,
        "created_at": alert.created_at,
        "disposition": None,
    }


Outcome = Literal["ok", "failed", "timeout", "dropped", "rate_limited", "cooldown", "stopped"]
OUTCOMES: tuple[str, ...] = Outcome.__args__


class ActionRecord(BaseModel):
    """One run (or refusal) of a configured action, published on `…/actions/{action}`; dedupe on event_id."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(default=SCHEMA_VERSION, description="Contract version, MAJOR.MINOR.")
    event_id: str = Field(description="UUIDv7 of this record; stable across re-deliveries, dedupe on it.")
    device_id: str
    site: str
    action: str = Field(description="Name of the configured action.")
    kind: Literal["http", "command", "osdp_output"] = Field(description="What the action does.")
    trigger: Literal["alert", "remote", "technician", "disposition", "escalation"] = Field(
        description="An alert matched the action, a `run-action` command, a Test on the technician's page, a "
        "disposition of an alert (`on: [{dispositions: [...]}]`), or an unanswered alert's escalation "
        "(`escalate.actions`)."
    )
    alert_event_id: str | None = Field(
        default=None,
        description="event_id of the alert that triggered it (remote and technician runs: the alert named, if any).",
    )
    alert_type: str | None = Field(default=None, description="Type of that alert.")
    rule: str | None = Field(default=None, description="Rule that raised that alert, when a video rule did.")
    phase: Literal["start", "end", "instant"] | None = Field(default=None, description="Phase of that alert.")
    request_id: str | None = Field(default=None, description="Remote runs: the command's request_id.")
    outcome: Outcome = Field(
        description="ok; failed (the target refused or errored: see error); timeout; dropped (the action's queue was "
        "full); rate_limited / cooldown (not run: its limits); stopped (the agent stopped or reloaded first)."
    )
    attempts: int = Field(ge=0, description="Tries made (0 when not run).")
    error: str | None = Field(default=None, description="What went wrong, for people (never a secret).")
    status_code: int | None = Field(default=None, description="http: the last HTTP status received.")
    exit_code: int | None = Field(default=None, description="command: the exit status.")
    queued_ms: float | None = Field(default=None, ge=0, description="From the alert being stored to the first try.")
    run_ms: float | None = Field(default=None, ge=0, description="From the first try to the outcome.")
    latency_ms: float | None = Field(
        default=None, ge=0, description="From the alert's creation (its detection) to the outcome."
    )
    started_at: RFC3339Time | None = Field(default=None, description="RFC 3339 UTC time of the first try.")
    finished_at: RFC3339Time = Field(description="RFC 3339 UTC time the outcome was known.")
