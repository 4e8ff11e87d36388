"""The normalized door event every access adapter emits.

A credential appears only as a keyed token (HMAC-SHA256 with the site key),
never as the card number the reader saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DOOR_EVENT_TYPES = frozenset(
    {
        "access.granted",
        "access.denied",
        "door.opened",
        "door.closed",
        "door.forced",
        "door.held_open",
        "exit_request",
        "tamper",
        "duress",
        "reader.offline",
        "reader.online",
        "keypad",
        "power.fault",
    }
)

DENY_REASONS = frozenset(
    {"unknown_card", "expired", "no_permission", "schedule", "anti_passback", "other"}
)


@dataclass(frozen=True, slots=True)
class DoorEvent:
    type: str
    door: str
    adapter: str
    edge_time: float
    device_time: float | None = None
    reader: str | None = None
    direction: str | None = None  # "in" | "out" | None
    credential_token: str | None = None
    reason: str | None = None  # for access.denied
    raw: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in DOOR_EVENT_TYPES:
            raise ValueError(f"unknown door event type {self.type!r}")
        if self.reason is not None and self.reason not in DENY_REASONS:
            raise ValueError(f"unknown deny reason {self.reason!r}")
