"""The registry of alert types: each type's `details` model (alert_details.py), phases and source kinds.

`Alert` (alert.py) stays the runtime type every producer builds; these models only describe, per
`type`, which `details` fields a payload may carry, which `phase`s and which `source.kind`. The
published schema (docs/schemas/alert.schema.json) is a `oneOf` of one subschema per type built from
them, so a platform can validate an `intrusion` differently from a `door.held_open`. `extra` is
typed wherever its keys are known; it stays open only for a door controller's own codes (vendor
formats we pass through for diagnosis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, create_model

from edge_agent.events.alert import Alert, Source
from edge_agent.events.alert_details import (
    AgentHealthDetails,
    CameraOfflineDetails,
    CameraTamperDetails,
    CrowdDetails,
    CrowdForecastDetails,
    DeniedBurstDetails,
    DeniedRisingDetails,
    DoorEpisodeDetails,
    DoorEventDetails,
    DoorForcedDetails,
    EbikeInLiftDetails,
    IntrusionDetails,
    LineCrossingDetails,
    LoiteringDetails,
    OccupancyDetails,
    SnoozeEndedDetails,
    StationaryVehicleDetails,
    TailgatingDetails,
    UnansweredDetails,
    WelfareDetails,
)

# -- the registry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertType:
    type: str
    details: type[BaseModel]
    phases: tuple[str, ...]
    sources: tuple[str, ...]
    description: str


_EPISODE = ("start", "end")
_FORWARDED = "forwarded as an info instant when listed in `access.forward_events`"
_FORWARDABLE = (  # door event types `access.forward_events` may publish that raise no alert of their own
    "access.granted",
    "access.denied",
    "credential.read",
    "door.opened",
    "door.closed",
    "door.released",
    "exit_request",
    "keypad",
    "tamper.cleared",
    "reader.online",
    "power.restored",
)

ALERT_TYPES: dict[str, AlertType] = {
    spec.type: spec
    for spec in [
        AlertType("intrusion", IntrusionDetails, _EPISODE, ("camera",), "An object stayed in the zone `min_dwell` s."),
        AlertType("loitering", LoiteringDetails, _EPISODE, ("camera",), "A track stayed longer than `max_dwell` s."),
        AlertType("crowd", CrowdDetails, _EPISODE, ("camera",), "Count in the zone held at `min_count` or more."),
        AlertType("occupancy", OccupancyDetails, _EPISODE, ("camera",), "Count above the zone's `capacity`."),
        AlertType(
            "crowd.forecast",
            CrowdForecastDetails,
            _EPISODE,
            ("camera",),
            "The count is rising toward the zone's `capacity`, forecast to reach it within `horizon` s.",
        ),
        AlertType("line_crossing", LineCrossingDetails, ("instant",), ("camera",), "A track crossed a line."),
        AlertType("stationary_vehicle", StationaryVehicleDetails, _EPISODE, ("camera",), "A vehicle stood too long."),
        AlertType("ebike_in_lift", EbikeInLiftDetails, _EPISODE, ("camera",), "A bicycle or motorcycle in the lift."),
        AlertType("camera.offline", CameraOfflineDetails, _EPISODE, ("camera",), "No frames, then frames again."),
        AlertType("camera.tamper", CameraTamperDetails, _EPISODE, ("camera",), "View covered, blurred or moved."),
        AlertType(
            "door.forced", DoorForcedDetails, ("instant",), ("door",), "Door opened without grant or exit request."
        ),
        AlertType(
            "door.held_open",
            DoorEpisodeDetails,
            _EPISODE + ("instant",),
            ("door",),
            f"Door open too long; also {_FORWARDED}.",
        ),
        AlertType("access.denied_burst", DeniedBurstDetails, ("instant",), ("door",), "Denials in a burst."),
        AlertType(
            "door.denied_rising",
            DeniedRisingDetails,
            _EPISODE,
            ("door",),
            "Denials at a door rising against its own usual rate (early warning, before a burst).",
        ),
        AlertType("access.off_schedule", DoorEventDetails, ("instant",), ("door",), "A grant outside allowed hours."),
        AlertType("duress", DoorEventDetails, ("instant",), ("door",), "Duress code, passed through."),
        AlertType("tamper", DoorEventDetails, ("instant",), ("door",), "Reader or controller tamper, passed through."),
        AlertType("power.fault", DoorEventDetails, ("instant",), ("door",), "Mains power lost, passed through."),
        AlertType(
            "reader.offline",
            DoorEpisodeDetails,
            _EPISODE + ("instant",),
            ("door",),
            f"A reader feed away; also {_FORWARDED}.",
        ),
        AlertType("welfare.check", WelfareDetails, ("instant",), ("door", "device"), "A watched resident not seen."),
        AlertType("tailgating", TailgatingDetails, ("instant",), ("door",), "More inward crossings than grants."),
        AlertType(
            "agent.health",
            AgentHealthDetails,
            ("instant",) + _EPISODE,
            ("device",),
            "The agent's own health: instants, and adapter outages as start/end.",
        ),
        AlertType(
            "alert.unanswered",
            UnansweredDetails,
            ("instant",),
            ("camera", "door", "device"),
            "A start its rule escalates (`escalate.after`) was not acknowledged in time; the escalation actions ran.",
        ),
        AlertType(
            "rule.snoozed_report",
            SnoozeEndedDetails,
            ("instant",),
            ("device",),
            "A snooze ended (expired or armed again): what it kept from going out.",
        ),
    ]
    + [
        AlertType(name, DoorEventDetails, ("instant",), ("door",), f"Door event `{name}`, {_FORWARDED}.")
        for name in _FORWARDABLE
    ]
}


def _class_name(alert_type: str) -> str:
    return "".join(part.capitalize() for part in alert_type.replace(".", "_").split("_"))


def typed_alert_model(spec: AlertType) -> type[Alert]:
    """The `Alert` model narrowed to one type: `type` a constant, its phases, sources and details."""
    name = _class_name(spec.type)
    source = create_model(
        f"{name}Source",
        __base__=Source,
        kind=(Literal[spec.sources], Field(description="What produced the alert.")),
    )
    default_phase = spec.phases[0] if len(spec.phases) == 1 else ...
    return create_model(
        f"{name}Alert",
        __base__=Alert,
        __doc__=spec.description,
        type=(Literal[spec.type], Field(description="Alert type; also the last topic level.")),
        phase=(
            Literal[spec.phases],
            Field(default=default_phase, description="start/end for conditions with a duration."),
        ),
        source=(source, ...),
        details=(spec.details, ...),
    )


TYPED_ALERTS: dict[str, type[Alert]] = {name: typed_alert_model(spec) for name, spec in ALERT_TYPES.items()}
