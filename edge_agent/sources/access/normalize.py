"""The generic JSON door event (HTTP push, line stream) and its checks.

One event is a JSON object (docs/access-control.md):

    {"type": "access.granted", "door": "main-gate", "reader": "r1", "direction": "in",
     "card": "0012345678", "time": "2026-01-01T08:00:00Z", "codes": {"ctrl": 17}}

A raw `card` or `pin` is turned into a token here, at the edge, and dropped.
Every refusal is a `Rejected` naming the field, never echoing its value (it
may be a card number).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from edge_agent.clock import parse_rfc3339
from edge_agent.credentials import CredentialTokenizer
from edge_agent.events import DENY_REASONS, DOOR_EVENT_TYPES, DoorEvent
from edge_agent.events.door_event import DIRECTIONS
from edge_agent.sources.access.base import Rejected

GENERIC_FIELDS = frozenset(
    {"type", "door", "reader", "direction", "card", "pin", "credential_token", "reason", "time", "codes"}
)
MAX_BATCH = 100
MAX_CODES = 16
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_TOKEN = re.compile(r"^[0-9a-f]{64}$")
_CARD = re.compile(r"^[0-9A-Za-z]{1,40}$")
_PIN = re.compile(r"^[0-9*#]{1,16}$")
_MAX_EPOCH = 32503680000.0  # year 3000: anything later is a unit mistake (ms?)
# Patterns are applied with fullmatch: `$` alone also matches before a trailing newline,
# which would let "main-gate\n" through as a door id.


@dataclass(frozen=True)
class EventContext:
    """Where events come from: the adapter, its fallback door, our clock reading at arrival."""

    adapter: str
    edge_time: float
    tokenizer: CredentialTokenizer
    default_door: str | None = None


def decode_json(data: bytes, where: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected("malformed", f"{where}: not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected(
            "malformed", f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise Rejected("malformed", f"{where}: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise Rejected("malformed", f"{where}: invalid JSON ({str(exc)[:80]})") from None


def event_objects(document: Any, where: str) -> list[tuple[str, Any]]:
    """A single event, a list of events, or {"events": [...]}, each with its place for messages."""
    if isinstance(document, dict) and set(document) == {"events"}:
        document = document["events"]
        where = f"{where}.events"
    if isinstance(document, dict):
        return [(where, document)]
    if isinstance(document, list):
        if not document:
            raise Rejected("invalid_event", f"{where}: empty event list")
        if len(document) > MAX_BATCH:
            raise Rejected("invalid_event", f"{where}: {len(document)} events in one batch (limit {MAX_BATCH})")
        return [(f"{where}[{index}]", item) for index, item in enumerate(document)]
    raise Rejected("invalid_event", f"{where}: expected a JSON object or a list of them, found {_kind(document)}")


def parse_generic(obj: Any, ctx: EventContext, where: str = "event") -> DoorEvent:
    if not isinstance(obj, dict):
        raise Rejected("invalid_event", f"{where}: expected a JSON object, found {_kind(obj)}")
    unknown = sorted(str(key)[:32] for key in obj if key not in GENERIC_FIELDS)
    if unknown:
        raise Rejected("invalid_event", f"{where}: unknown field(s) {unknown} (known: {sorted(GENERIC_FIELDS)})")
    event_type = obj.get("type")
    if not isinstance(event_type, str) or event_type not in DOOR_EVENT_TYPES:
        raise Rejected("invalid_event", f"{where}.type: must be one of {sorted(DOOR_EVENT_TYPES)}")
    door = _identifier(obj, "door", where) or ctx.default_door
    if door is None:
        raise Rejected("invalid_event", f"{where}.door: missing and the adapter has no default_door")
    direction = obj.get("direction")
    if direction is not None and (not isinstance(direction, str) or direction not in DIRECTIONS):
        raise Rejected("invalid_event", f"{where}.direction: must be 'in' or 'out'")
    reason = obj.get("reason")
    if reason is not None and (
        event_type != "access.denied" or not isinstance(reason, str) or reason not in DENY_REASONS
    ):
        raise Rejected("invalid_event", f"{where}.reason: only for access.denied, one of {sorted(DENY_REASONS)}")
    if event_type == "access.denied" and reason is None:
        reason = "other"
    return DoorEvent(
        type=event_type,
        door=door,
        adapter=ctx.adapter,
        edge_time=ctx.edge_time,
        device_time=parse_time(obj.get("time"), f"{where}.time"),
        reader=_identifier(obj, "reader", where),
        direction=direction,
        credential_token=_credential(obj, ctx.tokenizer, where),
        reason=reason,
        raw=_codes(obj.get("codes"), f"{where}.codes"),
    )


def parse_time(value: Any, where: str) -> float | None:
    """Epoch seconds, or RFC 3339 text with a zone offset."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Rejected("invalid_event", f"{where}: expected epoch seconds or RFC 3339 text, found a boolean")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    elif isinstance(value, str) and len(value) <= 40:
        try:
            moment = parse_rfc3339(value)
        except ValueError:
            raise Rejected("invalid_event", f"{where}: not an RFC 3339 time") from None
        if moment.tzinfo is None:
            raise Rejected("invalid_event", f"{where}: time has no zone offset (add Z or +hh:mm)")
        seconds = moment.timestamp()
    else:
        raise Rejected("invalid_event", f"{where}: expected epoch seconds or RFC 3339 text, found {_kind(value)}")
    if not math.isfinite(seconds) or not 0 < seconds < _MAX_EPOCH:
        raise Rejected("invalid_event", f"{where}: outside year 1970..3000 (milliseconds instead of seconds?)")
    return seconds


def _identifier(obj: dict, key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise Rejected("invalid_event", f"{where}.{key}: expected an id of letters, digits, '_.:-' (at most 64)")
    return value


def _credential(obj: dict, tokenizer: CredentialTokenizer, where: str) -> str | None:
    given = [key for key in ("card", "pin", "credential_token") if obj.get(key) is not None]
    if len(given) > 1:
        raise Rejected("invalid_event", f"{where}: give one of card, pin, credential_token (found {given})")
    if not given:
        return None
    key = given[0]
    value = obj[key]
    if key == "card":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            value = str(value)
        if not isinstance(value, str) or not _CARD.fullmatch(value.strip()):
            raise Rejected("invalid_event", f"{where}.card: expected 1-40 letters or digits")
        return tokenizer.card(value)
    if key == "pin":
        if not isinstance(value, str) or not _PIN.fullmatch(value):
            raise Rejected("invalid_event", f"{where}.pin: expected 1-16 of 0-9 * #")
        return tokenizer.pin(value)
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise Rejected("invalid_event", f"{where}.credential_token: expected 64 lowercase hex digits")
    return value


def _codes(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_CODES:
        raise Rejected("invalid_event", f"{where}: expected an object of at most {MAX_CODES} vendor codes")
    codes = {}
    for key, item in value.items():
        if len(key) > 32 or not (isinstance(item, (int, float, bool)) or (isinstance(item, str) and len(item) <= 32)):
            raise Rejected("invalid_event", f"{where}: keys up to 32 characters, values numbers or short text")
        codes[key] = item
    return codes


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )
