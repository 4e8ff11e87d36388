"""Checking a message before the platform stores it, and the row it becomes (stored_rows.py).

The broker's ACL (configs/mosquitto/) lets a device write only under its own topics; it does not read
payloads. So an alert or a record is believed only where its body agrees with its topic: site, device
and alert type or action name. A record from a newer minor version may carry fields this consumer does
not know: they are left out of the check (the payload is stored whole), as docs/mqtt-api.md Versioning
asks.

Every column the store fills is checked for its type and shape here, before it joins a batch: ids as the
agent's config allows them, event ids as UUIDs, times as RFC 3339, enumerations as published, text without
NUL or lone surrogates (which PostgreSQL refuses), numbers within their column. A message is refused whole
(RejectedMessage) rather than stored in part, and a bad one never reaches the database, where one refused
row would cost the rest of its transaction.
"""

from __future__ import annotations

import math
import re

from pydantic import ValidationError

from edge_agent.config.errors import describe_validation_errors
from edge_agent.events.action import ActionRecord
from edge_agent.events.alert import SCHEMA_VERSION, Severity
from edge_agent.events.disposition import Disposition
from edge_agent.events.evidence_messages import EvidenceKept
from edge_agent.platform.enrolment_ca import RESERVED_IDS
from edge_agent.platform.stored_rows import ActionRow, AlertRow, CountsRow, StatusRow

# Far above any message the agent sends (an alert is under 4 KiB; a counts message of 100 lines ~20 KiB).
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_TEXT = 1024  # a free-text column (an action's error, an agent version)
MAX_INTEGER = 2**31 - 1  # INTEGER columns
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")  # device and site ids (config/device.py), alert types
EVENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})\Z")
SHAPES = {ID: "an id", EVENT_ID: "an event id (a UUID, lower case)", TIME: "an RFC 3339 time"}
SEVERITIES = frozenset(severity.value for severity in Severity)
PHASES = frozenset(("start", "end", "instant"))
STATES = frozenset(("online", "offline"))


class RejectedMessage(ValueError):
    """A message the platform does not store; the text says what is wrong, for the log."""


def check_payload(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise RejectedMessage(f"payload of {len(payload)} bytes; at most {MAX_PAYLOAD_BYTES}")


def check_topic_ids(site: str, device_id: str) -> None:
    """The site and device levels of a topic, as the agent's config allows them (a topic may hold anything else)."""
    for name, value in (("site", site), ("device", device_id)):
        if not ID.match(value):
            raise RejectedMessage(f"topic {name} level {value[:80]!r} is not an id ({ID.pattern})")
    if device_id in RESERVED_IDS:  # the ACL's patterns let these accounts write there too: never a box's words
        raise RejectedMessage(f"topic device level {device_id!r} is reserved for a broker account, not a box")


def alert_row(body: dict, levels: list[str], payload: str, received_at: float) -> AlertRow:
    """The row of the alert `body` published on `…/{site}/{device_id}/alerts/{type}`; raises RejectedMessage."""
    site, device_id, alert_type = levels[-4], levels[-3], levels[-1]
    check_alert_origin(body, site=site, device_id=device_id, alert_type=alert_type)
    _check_major(body)
    what = f"alert {str(body.get('event_id'))[:40]!r}"
    row = AlertRow(
        event_id=_matching(body, "event_id", EVENT_ID, what),
        device_id=device_id,
        site=site,
        type=_matching(body, "type", ID, what),
        severity=_one_of(body, "severity", SEVERITIES, what),
        phase=_one_of(body | {"phase": body.get("phase", "instant")}, "phase", PHASES, what),
        related_event_id=_matching(body, "related_event_id", EVENT_ID, what, optional=True),
        started_at=_matching(body, "started_at", TIME, what),
        ended_at=_matching(body, "ended_at", TIME, what, optional=True),
        created_at=_matching(body, "created_at", TIME, what),
        received_at=received_at,
        payload=payload,
    )
    return row


def counts_row(body: dict, levels: list[str], payload: str, received_at: float) -> CountsRow:
    """The row of the counts message `body` published on `…/{site}/{device_id}/counts`; raises RejectedMessage."""
    site, device_id = levels[-3], levels[-2]
    _agrees_with_topic(
        "counts", {key: body.get(key) for key in ("site", "device_id")}, {"site": site, "device_id": device_id}
    )
    _check_major(body)
    if not isinstance(body.get("complete"), bool):
        raise RejectedMessage(f"counts: complete {body.get('complete')!r} is not true or false")
    return CountsRow(
        event_id=_matching(body, "event_id", EVENT_ID, "counts"),
        device_id=device_id,
        site=site,
        interval_start=_matching(body, "interval_start", TIME, "counts"),
        interval_end=_matching(body, "interval_end", TIME, "counts"),
        complete=body["complete"],
        received_at=received_at,
        payload=payload,
    )


def status_row(body: dict, levels: list[str], received_at: float) -> StatusRow:
    """The row of the status `body` published on `…/{site}/{device_id}/status`; raises RejectedMessage."""
    site, device_id = levels[-3], levels[-2]
    _agrees_with_topic("status", {"device_id": body.get("device_id")}, {"device_id": device_id})
    _check_major(body)
    return StatusRow(
        device_id=device_id,
        site=site,
        state=_one_of(body, "state", STATES, "status"),
        agent_version=_text(body.get("agent_version"), "status agent_version", optional=True),
        started_at=_matching(body, "started_at", TIME, "status", optional=True),
        at=_matching(body, "at", TIME, "status", optional=True),
        received_at=received_at,
    )


def action_row(body: dict, levels: list[str], payload: str, received_at: float) -> ActionRow:
    record = action_record(body, site=levels[-4], device_id=levels[-3], action=levels[-1])
    what = f"record {record.event_id[:40]!r}"
    _matching({"event_id": record.event_id}, "event_id", EVENT_ID, what)
    _matching({"alert_event_id": record.alert_event_id}, "alert_event_id", EVENT_ID, what, optional=True)
    _matching({"finished_at": record.finished_at}, "finished_at", TIME, what)
    for name in ("action", "alert_type", "error"):
        _text(getattr(record, name), f"{what} {name}", optional=True)
    if record.attempts > MAX_INTEGER:
        raise RejectedMessage(f"{what}: attempts {record.attempts} is out of range")
    if record.latency_ms is not None and not math.isfinite(record.latency_ms):
        raise RejectedMessage(f"{what}: latency_ms {record.latency_ms} is not a finite number")
    return ActionRow(record=record, received_at=received_at, payload=payload)


def _check_major(body: dict) -> None:
    major, _ = _version(body.get("schema_version", SCHEMA_VERSION))
    known_major, _ = _version(SCHEMA_VERSION)
    if major != known_major:
        raise RejectedMessage(f"schema_version {body['schema_version']!r}: this consumer reads major {known_major}")


def _matching(body: dict, key: str, pattern: re.Pattern, what: str, optional: bool = False) -> str | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise RejectedMessage(
            f"{what}: {key} {_shown(value)} is not {'a time' if pattern is TIME else 'an id'} ({pattern.pattern})"
        )
    return value


def _one_of(body: dict, key: str, allowed: frozenset, what: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or value not in allowed:
        raise RejectedMessage(f"{what}: {key} {_shown(value)} is not one of {', '.join(sorted(allowed))}")
    return value


def _text(value: object, what: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
        raise RejectedMessage(f"{what}: {_shown(value)} is not text of at most {MAX_TEXT} characters without NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RejectedMessage(f"{what}: {_shown(value)} holds a lone surrogate") from None
    return value


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def action_record(body: dict, site: str, device_id: str, action: str) -> ActionRecord:
    """The record in `body`, published on `…/{site}/{device_id}/actions/{action}`; raises RejectedMessage."""
    major, minor = _version(body.get("schema_version", SCHEMA_VERSION))
    known_major, known_minor = _version(SCHEMA_VERSION)
    if major != known_major:
        raise RejectedMessage(f"schema_version {body['schema_version']!r}: this consumer reads major {known_major}")
    if minor > known_minor:
        body = {key: value for key, value in body.items() if key in ActionRecord.model_fields}
    try:
        record = ActionRecord.model_validate(body)
    except ValidationError as exc:
        raise RejectedMessage("not an action record: " + describe_validation_errors(exc.errors(), limit=3)) from None
    claimed = {"site": record.site, "device_id": record.device_id, "action": record.action}
    _agrees_with_topic(f"record {record.event_id}", claimed, {"site": site, "device_id": device_id, "action": action})
    return record


def check_alert_origin(body: dict, site: str, device_id: str, alert_type: str) -> None:
    """Raise RejectedMessage unless the alert published on `…/{site}/{device_id}/alerts/{alert_type}` says the same."""
    claimed = {key: body.get(key) for key in ("site", "device_id", "type")}
    topic = {"site": site, "device_id": device_id, "type": alert_type}
    _agrees_with_topic(f"alert {body.get('event_id')}", claimed, topic)


def _agrees_with_topic(what: str, claimed: dict, topic: dict) -> None:
    differing = [f"{key} {claimed[key]!r} (topic: {topic[key]!r})" for key in topic if claimed[key] != topic[key]]
    if differing:
        raise RejectedMessage(f"{what} disagrees with its topic: {', '.join(differing)}")


def _version(value: object) -> tuple[int, int]:
    try:
        major, minor = str(value).split(".")
        return int(major), int(minor)
    except ValueError:
        raise RejectedMessage(f"schema_version {value!r} is not MAJOR.MINOR") from None


def disposition(body: dict, site: str, device_id: str) -> Disposition:
    """The disposition in `body`, published on `…/{site}/{device_id}/dispositions`; raises RejectedMessage."""
    major, minor = _version(body.get("schema_version", SCHEMA_VERSION))
    known_major, _ = _version(SCHEMA_VERSION)
    if major != known_major:
        raise RejectedMessage(f"schema_version {body['schema_version']!r}: this consumer reads major {known_major}")
    body = {key: value for key, value in body.items() if key in Disposition.model_fields}
    try:
        found = Disposition.model_validate(body)
    except ValidationError as exc:
        raise RejectedMessage("not a disposition: " + describe_validation_errors(exc.errors(), limit=3)) from None
    claimed = {"site": found.site, "device_id": found.device_id}
    _agrees_with_topic(f"disposition {found.event_id}", claimed, {"site": site, "device_id": device_id})
    return found


def evidence_kept(body: dict, site: str, device_id: str) -> dict:
    """An `evidence_kept` record that validates and names the device and site its topic does."""
    try:
        kept = EvidenceKept.model_validate(body)
    except ValidationError as exc:
        raise RejectedMessage(f"evidence_kept: {describe_validation_errors(exc.errors())}") from None
    _agrees_with_topic(
        "evidence_kept", {"site": kept.site, "device_id": kept.device_id}, {"site": site, "device_id": device_id}
    )
    return kept.model_dump()
