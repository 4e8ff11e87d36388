"""The access section: its feeds (their models in access_adapters.py), the doors and the door rules."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator

from edge_agent.config.access_adapters import AdapterConfig
from edge_agent.config.base import Name, SecretFile, Section
from edge_agent.config.policy import PATH, REMOTE
from edge_agent.config.schedule import TimeRange
from edge_agent.events.alert import Severity
from edge_agent.events.door_event import DOOR_EVENT_TYPES


class CameraLineRef(Section):
    remote_change: ClassVar[str] = REMOTE

    camera: Name = Field(description="Camera id.")
    line: Name = Field(description="Line name on that camera; inward crossings are people entering.")


class DoorConfig(Section):
    remote_change: ClassVar[str] = REMOTE

    id: Name = Field(description="Door id used in events and alerts.")
    name: str | None = Field(default=None, description="Human name.")
    camera_line: CameraLineRef | None = Field(default=None, description="Camera line at this door, for tailgating.")
    held_open_after: float = Field(default=30.0, gt=0, description="Seconds open before door.held_open.")
    allowed: list[TimeRange] = Field(
        default_factory=list,
        description="When access is allowed; a grant outside raises access.off_schedule. Empty = always.",
    )
    clock_offset: float = Field(default=0.0, description="Seconds to add to the controller's clock to get ours.")
    infer_forced: bool = Field(
        default=True,
        description="Raise door.forced (details.extra.inferred: true) when the door contact opens with no grant, "
        "credential read, exit request or release around it, for feeds that report contacts but not forced doors. "
        "A controller's own door.forced for the same opening replaces it. Turn off for a door left unlocked on "
        "purpose (free-access hours) or opened by means its feeds do not report.",
    )
    # 8 s: controllers keep the strike released for about 3-5 s after a grant or exit request (their unlock
    # time), and someone may open at the end of it; the rest allows for the clocks of the feed reporting the
    # grant and the one reporting the contact, while a grant from a minute ago does not excuse a break-in.
    forced_window: float = Field(
        default=8.0,
        gt=0,
        le=300,
        description="Seconds before an opening in which a grant, read, exit request or release covers it (at least "
        "the controller's unlock time).",
    )
    # 2 s: panels post a grant within a fraction of a second of the contact changing, and report their own
    # door.forced at the moment of the opening; each second more delays the alarm by as much.
    forced_grace: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="Seconds after an opening in which a late grant still covers it, or a controller's own "
        "door.forced replaces the inferred one; the inference waits this long.",
    )


class DenialBurstConfig(Section):
    remote_change: ClassVar[str] = REMOTE

    count: int = Field(default=3, ge=2, description="Denials at one reader…")
    window: float = Field(default=60.0, gt=0, description="…within this many seconds raise an alert.")
    severity: Severity = Field(default=Severity.major)


class DeniedRisingConfig(Section):
    """door.denied_rising: denials at a door rising against the door's own rate (rules/denials.py explains the test
    and the false-alarm rates the defaults give)."""

    remote_change: ClassVar[str] = REMOTE

    enabled: bool = Field(default=True, description="Watch every configured door's denial rate.")
    window: float = Field(
        default=600.0,
        ge=10,
        le=21600,
        description="Seconds of recent denials counted and compared with what the door's usual rate predicts.",
    )
    baseline: float = Field(
        default=86400.0,
        ge=3600,
        le=7 * 86400,
        description="Seconds of the door's own history (before the window) its usual rate is learned from. A door "
        "whose denials follow the time of day is judged more fairly with a few hours than with a day.",
    )
    prior_rate: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="Denials per hour assumed at least, whatever the history says: a new or quiet door needs several "
        "denials within the window to warn (with the defaults, 4 within 10 minutes).",
    )
    p_value: float = Field(
        default=1e-4,
        gt=0,
        le=0.05,
        description="Warn when the window's count is this unlikely (Poisson at the usual rate). Smaller: fewer "
        "false warnings at busy doors, more denials needed at quiet ones.",
    )
    min_count: int = Field(
        default=3, ge=2, le=10000, description="Never warn on fewer denials than this within the window."
    )
    retry_within: float = Field(
        default=30.0,
        ge=0,
        le=300,
        description="A denial of the same credential at the same door within this many seconds of its previous "
        "denial is a retry of one attempt and not counted again (someone trying an expired card twice); 0 counts "
        "every denial.",
    )
    clear_after: float = Field(
        default=120.0,
        ge=0,
        description="Seconds the window's count must stay unremarkable before the end alert.",
    )
    cooldown: float = Field(
        default=600.0, ge=0, description="Seconds after an end before the same door may start another warning."
    )
    schedule: list[TimeRange] = Field(
        default_factory=list,
        description="When the warning is armed (site time); empty = always. Denials are learned from at all hours; "
        "a warning open when the schedule disarms ends (`disarmed`).",
    )
    severity: Severity = Field(default=Severity.minor, description="Severity of the warning (start and end).")

    @model_validator(mode="after")
    def _baseline_longer_than_window(self) -> DeniedRisingConfig:
        if self.baseline <= self.window:
            raise ValueError(
                f"baseline ({self.baseline:g} s) must be longer than window ({self.window:g} s): the usual rate is "
                "learned from the history before the window"
            )
        return self


class TailgatingConfig(Section):
    remote_change: ClassVar[str] = REMOTE

    enabled: bool = Field(default=True, description="Join door grants with camera crossings.")
    window: float = Field(default=8.0, gt=0, description="Seconds after a grant in which its crossing counts.")
    early_tolerance: float = Field(
        default=1.0, ge=0, description="Seconds a crossing may precede its grant (clock jitter, reader latency)."
    )
    settle: float = Field(default=2.0, ge=0, description="Seconds to wait for a late grant before judging a crossing.")
    severity: Severity = Field(default=Severity.major)


class WelfareWatch(Section):
    # local whole, its quiet hours too: a watch's card numbers come back as their tokens (a card-to-token lookup for
    # whoever sends one), its alerts carry its name as their rule (which local actions match on), and a remote sender
    # could silence a resident's welfare check (docs/security.md)
    remote_change_locked: ClassVar[str] = "a resident's welfare check and the cards it watches"

    name: Name = Field(description="Name of the watch, carried in alerts.")
    credential_tokens: list[str] = Field(default_factory=list, description="Tokens to watch (from enrolment).")
    card_numbers: list[SecretStr] = Field(
        default_factory=list, description="Card numbers, hashed to tokens at load time, never stored."
    )
    doors: list[Name] = Field(default_factory=list, description="Or watch any event at these doors.")
    max_silence_hours: float = Field(gt=0, description="Alert when nothing is seen for this long.")
    quiet_hours: list[TimeRange] = Field(
        default_factory=list, description="Windows in which silence does not count (night)."
    )
    severity: Severity = Field(default=Severity.major)


class AccessConfig(Section):
    site_key_file: SecretFile | None = Field(
        json_schema_extra=PATH,
        default=None,
        description="Site key for credential tokens (HMAC-SHA256). Required when any adapter is configured.",
    )
    adapters: list[AdapterConfig] = Field(default_factory=list, description="Door controller and reader feeds.")
    doors: list[DoorConfig] = Field(default_factory=list, description="Doors.")
    denials: DenialBurstConfig = Field(default_factory=DenialBurstConfig)
    denied_rising: DeniedRisingConfig = Field(default_factory=DeniedRisingConfig)
    tailgating: TailgatingConfig = Field(default_factory=TailgatingConfig)
    welfare: list[WelfareWatch] = Field(default_factory=list, description="Welfare checks.")
    retry_min_delay: float = Field(
        default=1.0,
        gt=0,
        description="An adapter that cannot start (serial device missing, port in use) runs offline and is started "
        "again after a random delay of up to this many seconds, doubling the ceiling per failure (full jitter); "
        "the other adapters and the cameras run on.",
    )
    retry_max_delay: float = Field(
        default=60.0, gt=0, description="Ceiling of the delay between start attempts of an adapter that cannot start."
    )
    forward_events: list[str] = Field(
        default_factory=lambda: ["access.granted", "access.denied", "credential.read", "exit_request"],
        description="Door event types also published as info alerts (an access log with credential tokens, never card "
        "numbers). Alarms (forced, held, tamper, duress, reader offline) always raise alerts.",
    )

    @field_validator("forward_events")
    @classmethod
    def _known_event_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - DOOR_EVENT_TYPES)
        if unknown:
            raise ValueError(f"unknown door event type(s) {unknown} (known: {sorted(DOOR_EVENT_TYPES)})")
        return value

    @model_validator(mode="after")
    def _retry_delays_ordered(self) -> AccessConfig:
        if self.retry_max_delay < self.retry_min_delay:
            raise ValueError(f"retry_max_delay {self.retry_max_delay} is below retry_min_delay {self.retry_min_delay}")
        return self


def access_reference_problems(access: AccessConfig):
    """(key path, message) for door ids the access section names but does not configure."""
    doors = {door.id for door in access.doors}
    for a_index, adapter in enumerate(access.adapters):
        where = ("access", "adapters", a_index)
        default_door = getattr(adapter, "default_door", None)
        if default_door is not None and default_door not in doors:
            yield (*where, "default_door"), f"unknown door {default_door!r} (known: {sorted(doors)})"
        for number, door in getattr(adapter, "hikvision_doors", {}).items():
            if door not in doors:
                yield (*where, "hikvision_doors", number), f"unknown door {door!r} (known: {sorted(doors)})"
    for w_index, watch in enumerate(access.welfare):
        for door in watch.doors:
            if door not in doors:
                yield ("access", "welfare", w_index, "doors"), f"unknown door {door!r} (known: {sorted(doors)})"
        if watch.card_numbers and access.site_key_file is None:
            yield (
                ("access", "site_key_file"),
                f"welfare watch {watch.name!r} lists card numbers; they are hashed with the site key",
            )
        if not (watch.credential_tokens or watch.card_numbers or watch.doors):
            yield (
                ("access", "welfare", w_index),
                f"welfare watch {watch.name!r} watches nothing (give tokens, card numbers or doors)",
            )
