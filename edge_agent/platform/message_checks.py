"""Checking a message before the platform stores it: an action record's model and versioning; any message's topic.

The broker's ACL (configs/mosquitto/) lets a device write only under its own topics; it does not read
payloads. So an alert or a record is believed only where its body agrees with its topic: site, device
and alert type or action name. A record from a newer minor version may carry fields this consumer does
not know: they are left out of the check (the payload is stored whole), as docs/mqtt-api.md Versioning
asks.
"""

from __future__ import annotations

from pydantic import ValidationError

from edge_agent.config.errors import describe_validation_errors
from edge_agent.events.action import ActionRecord
from edge_agent.events.alert import SCHEMA_VERSION
from edge_agent.events.disposition import Disposition
from edge_agent.events.evidence_messages import EvidenceKept


class RejectedMessage(ValueError):
    """A message the platform does not store; the text says what is wrong, for the log."""


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
