"""Hikvision-style `AccessControllerEvent` posts mapped to door events.

Hikvision controllers in "HTTP listening" mode POST a JSON document (or a
multipart form whose first JSON part is that document; pictures are dropped
unread) with `AccessControllerEvent.majorEventType` / `subEventType` codes from
the HCNetSDK list. Only the codes below are mapped; any other pair is refused
as `unmapped_code` (counted), so a firmware with new codes is visible in
telemetry rather than silently misread. Names and employee numbers in the post
are personal data and are never kept; the card number becomes a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge_agent.events import DoorEvent
from edge_agent.sources.access.base import Rejected
from edge_agent.sources.access.normalize import EventContext, parse_time

MAJOR_ALARM, MAJOR_EXCEPTION, MAJOR_EVENT = 0x1, 0x3, 0x5


@dataclass(frozen=True)
class Mapping:
    type: str
    reason: str | None = None
    credential: bool = False


# (major, minor) -> door event. Minor codes per HCNetSDK MINOR_* constants.
EVENT_CODES: dict[tuple[int, int], Mapping] = {
    (MAJOR_EVENT, 0x01): Mapping("access.granted", credential=True),  # valid card
    (MAJOR_EVENT, 0x02): Mapping("access.granted", credential=True),  # card + password
    (MAJOR_EVENT, 0x03): Mapping("access.denied", "no_permission", True),  # card + wrong password
    (MAJOR_EVENT, 0x06): Mapping("access.denied", "no_permission", True),  # card has no right
    (MAJOR_EVENT, 0x07): Mapping("access.denied", "schedule", True),  # outside the card's period
    (MAJOR_EVENT, 0x08): Mapping("access.denied", "expired", True),  # card out of date
    (MAJOR_EVENT, 0x09): Mapping("access.denied", "unknown_card", True),  # no such card
    (MAJOR_EVENT, 0x0A): Mapping("access.denied", "anti_passback", True),  # anti-passback
    (MAJOR_EVENT, 0x17): Mapping("exit_request"),  # exit button pressed
    (MAJOR_EVENT, 0x19): Mapping("door.opened"),  # door contact open, normal
    (MAJOR_EVENT, 0x1A): Mapping("door.closed"),  # door contact closed
    (MAJOR_EVENT, 0x1B): Mapping("door.forced"),  # door open abnormally
    (MAJOR_EVENT, 0x1C): Mapping("door.held_open"),  # door open timeout
    (MAJOR_EVENT, 0x26): Mapping("access.granted", credential=True),  # fingerprint match
    (MAJOR_EVENT, 0x27): Mapping("access.denied", "unknown_card", True),  # fingerprint mismatch
    (MAJOR_EVENT, 0x4B): Mapping("access.granted", credential=True),  # face verified
    (MAJOR_EVENT, 0x4C): Mapping("access.denied", "unknown_card", True),  # face not verified
    (MAJOR_ALARM, 0x404): Mapping("tamper"),  # controller tamper
    (MAJOR_ALARM, 0x405): Mapping("tamper.cleared"),
    (MAJOR_ALARM, 0x406): Mapping("tamper"),  # reader tamper
    (MAJOR_ALARM, 0x407): Mapping("tamper.cleared"),
    (MAJOR_ALARM, 0x40A): Mapping("duress", credential=True),  # duress card / code
    (MAJOR_EXCEPTION, 0x27): Mapping("power.fault"),  # mains lost
    (MAJOR_EXCEPTION, 0x28): Mapping("power.restored"),
    (MAJOR_EXCEPTION, 0x2B): Mapping("reader.offline"),  # card reader offline
    (MAJOR_EXCEPTION, 0x2C): Mapping("reader.online"),  # card reader back
}

_MAX_NUMBER = 1 << 32


@dataclass(frozen=True)
class HikvisionLayout:
    """Adapter settings the mapping needs: door and reader numbering."""

    doors: dict[int, str]
    reader_directions: dict[int, str]


def parse_hikvision(document: Any, ctx: EventContext, layout: HikvisionLayout) -> DoorEvent:
    where = "body"
    if not isinstance(document, dict):
        raise Rejected("invalid_event", f"{where}: expected a JSON object")
    if document.get("eventType") not in (None, "AccessControllerEvent"):
        raise Rejected("unmapped_code", f"{where}.eventType: only AccessControllerEvent is mapped")
    event = document.get("AccessControllerEvent")
    if not isinstance(event, dict):
        raise Rejected("invalid_event", f"{where}.AccessControllerEvent: missing or not an object")
    where = f"{where}.AccessControllerEvent"
    major = _number(event, "majorEventType", where, required=True)
    minor = _number(event, "subEventType", where, required=True)
    mapping = EVENT_CODES.get((major, minor))
    if mapping is None:
        raise Rejected("unmapped_code", f"{where}: major 0x{major:x} minor 0x{minor:x} is not mapped")
    door_no = _number(event, "doorNo", where)
    reader_no = _number(event, "cardReaderNo", where)
    door = layout.doors.get(door_no) if door_no is not None else None
    door = door or ctx.default_door
    if door is None:
        raise Rejected(
            "invalid_event", f"{where}.doorNo: door {door_no} is not in hikvision_doors and there is no default_door"
        )
    token = None
    if mapping.credential:
        card = event.get("cardNo")
        if card is not None and not (isinstance(card, str) and 0 < len(card.strip()) <= 40 and card.strip().isalnum()):
            raise Rejected("invalid_event", f"{where}.cardNo: expected 1-40 letters or digits")
        if card:
            token = ctx.tokenizer.card(card)
    raw: dict[str, Any] = {"major": major, "minor": minor}
    serial = _number(event, "serialNo", where)
    if serial is not None:
        raw["serial"] = serial
    if door_no is not None:
        raw["door_no"] = door_no
    return DoorEvent(
        type=mapping.type,
        door=door,
        adapter=ctx.adapter,
        edge_time=ctx.edge_time,
        device_time=parse_time(document.get("dateTime"), "body.dateTime"),
        reader=None if reader_no is None else f"{ctx.adapter}-{reader_no}",
        direction=layout.reader_directions.get(reader_no) if reader_no is not None else None,
        credential_token=token,
        reason=mapping.reason,
        raw=raw,
    )


def _number(obj: dict, key: str, where: str, required: bool = False) -> int | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise Rejected("invalid_event", f"{where}.{key}: missing")
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value) < 12:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_NUMBER:
        raise Rejected("invalid_event", f"{where}.{key}: expected a whole number 0..2^32")
    return value
