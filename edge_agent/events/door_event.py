"""The normalized door event every access adapter emits.

A credential appears only as a keyed token (HMAC-SHA256 with the site key),
never as the card number the reader saw. `raw` keeps the vendor's codes
(major/minor, OSDP event and format) for diagnosis, never card data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DOOR_EVENT_TYPES = frozenset(
    {
        "access.granted",
        "access.denied",
        "credential.read",
        "door.opened",
        "door.closed",
        "door.forced",
        "door.held_open",
        "door.released",  # unlocked by an operator, remote command or key switch, not a credential
        "exit_request",
        "tamper",
        "tamper.cleared",
        "duress",
        "reader.offline",
        "reader.online",
        "keypad",
        "power.fault",
        "power.restored",
    }
)

DENY_REASONS = frozenset({"unknown_card", "expired", "no_permission", "schedule", "anti_passback", "other"})

DIRECTIONS = frozenset({"in", "out"})


@dataclass(frozen=True, slots=True)
class DoorEvent:
    """`edge_time` is our wall clock when the event arrived; `device_time` the controller's own stamp."""

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
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'in' or 'out', not {self.direction!r}")
        if not self.door:
            raise ValueError("door must not be empty")

    def occurred_at(self, clock_offset: float = 0.0) -> float:
        """Our wall time of the event: the controller's stamp corrected by its offset, else arrival."""
        if self.device_time is None:
            return self.edge_time
        return self.device_time + clock_offset
