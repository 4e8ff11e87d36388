"""The `details` model of each alert type: what its payload may carry, field by field.

One small model per type (video rules, camera health, doors, the agent itself); the registry in
alert_types.py pairs each with its type, phases and source kinds. `extra` is typed wherever its keys
are known; it stays open only for a door controller's own codes (vendor formats passed through for
diagnosis).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from edge_agent.events.alert import BoxOut, EvidenceRef
from edge_agent.events.door_event import DENY_REASONS as DOOR_DENY_REASONS

EPISODE_END_REASONS = ("config_changed", "agent_restarted")  # ends decided by the agent, not by the rule
VIDEO_END_REASONS = ("disarmed", "camera_stopped", "source_ended")
DENY_REASONS = tuple(sorted(DOOR_DENY_REASONS))
TAMPER_REASONS = ("covered", "blurred", "moved")
HEALTH_REASONS = (
    "stage_crashed",
    "stage_stalled",
    "stage_gave_up",
    "config_rejected",
    "config_rolled_back",
    "config_reverted",
    "outbox.corrupt",
    "state.corrupt",
    "adapter_offline",
    "adapter_online",
    "evidence.disk_low",
)


EVIDENCE_TEXT = "Evidence kept on the box for this alert (rules with `evidence:`); fetched only by `get-evidence`."


class _Details(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str | None = Field(default=None, description="Short human-readable summary.")


class _Extra(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- video rules ----------------------------------------------------------------------------


class _VideoExtra(_Extra):
    reason: Literal[VIDEO_END_REASONS] | None = Field(
        default=None, description="End alerts only: why the agent ended the episode before the condition cleared."
    )


class _VideoDetails(_Details):
    object_class: str | None = Field(default=None, description="Class the rule watches (the most common involved).")
    count: int | None = Field(default=None, ge=0, description="Objects counted at alert time (start alerts).")
    peak_count: int | None = Field(default=None, ge=0, description="Highest count during the episode (end alerts).")
    duration_s: float | None = Field(default=None, ge=0, description="Seconds the episode lasted (end alerts).")
    zone: str | None = Field(default=None, description="Zone the rule watches.")
    track_ids: list[int] | None = Field(default=None, description="Tracks involved.")
    objects: list[BoxOut] | None = Field(default=None, description="Boxes of the objects involved (start alerts).")
    confidence: float | None = Field(default=None, ge=0, le=1, description="Highest detector score involved.")
    reason: Literal[EPISODE_END_REASONS] | None = Field(
        default=None, description="End alerts the agent decided: a reload changed the rule, or the agent restarted."
    )
    evidence: EvidenceRef | None = Field(default=None, description=EVIDENCE_TEXT)


def _video_details(name: str, **facts: tuple[type, str]) -> type[BaseModel]:
    """A zone rule's details: the shared video fields plus its own `extra` facts (all optional)."""
    extra_fields = {key: (kind | None, Field(default=None, description=text)) for key, (kind, text) in facts.items()}
    extra = create_model(f"{name}Extra", __base__=_VideoExtra, **extra_fields)
    return create_model(
        f"{name}Details",
        __base__=_VideoDetails,
        extra=(extra | None, Field(default=None, description="The rule's thresholds at alert time; end reasons.")),
    )


IntrusionDetails = _video_details("Intrusion", min_dwell_s=(float, "Configured dwell before an intrusion starts."))
LoiteringDetails = _video_details(
    "Loitering",
    max_dwell_s=(float, "Configured dwell that counts as loitering."),
    dwell_s=(float, "Longest dwell among the loiterers when it fired."),
)
CrowdDetails = _video_details(
    "Crowd", min_count=(int, "Configured count that starts a crowd."), hold_s=(float, "Seconds the count must hold.")
)
OccupancyDetails = _video_details("Occupancy", capacity=(int, "Configured capacity of the zone."))
CrowdForecastDetails = _video_details(
    "CrowdForecast",
    capacity=(int, "Configured capacity of the zone."),
    horizon_s=(float, "Configured seconds ahead the forecast looks."),
    window_s=(int, "Configured seconds of occupancy history fitted."),
    forecast_count=(float, "Count forecast `horizon_s` ahead (Holt's linear trend)."),
    forecast_at=(str, "RFC 3339 UTC time the fitted trend reaches capacity."),
    rate_per_min=(float, "Fitted rate of change of the count, objects per minute."),
)
StationaryVehicleDetails = _video_details(
    "StationaryVehicle",
    max_stationary_s=(float, "Configured seconds a vehicle may stand."),
    stationary_s=(float, "Longest standing time when it fired."),
)
EbikeInLiftDetails = _video_details("EbikeInLift", min_consecutive=(int, "Consecutive detections needed to start."))


class LineCrossingExtra(_Extra):
    in_: int = Field(alias="in", ge=0, description="Inward crossings of this line since the pipeline started.")
    out: int = Field(ge=0, description="Outward crossings of this line since the pipeline started.")


class LineCrossingDetails(_Details):
    line: str = Field(description="Line crossed.")
    direction: Literal["in", "out"] = Field(description="Direction of this crossing.")
    count: int = Field(ge=0, description="Crossings in this direction since the pipeline started.")
    object_class: str = Field(description="Class of the object that crossed.")
    track_ids: list[int] = Field(description="The crossing track.")
    objects: list[BoxOut] = Field(description="Its box.")
    confidence: float | None = Field(default=None, ge=0, le=1, description="Its detector score.")
    extra: LineCrossingExtra = Field(description="Both directions' counters.")
    evidence: EvidenceRef | None = Field(default=None, description=EVIDENCE_TEXT)


# -- camera health ----------------------------------------------------------------------------


class CameraOfflineExtra(_Extra):
    silent_s: float | None = Field(default=None, ge=0, description="Start: seconds without a frame when raised.")
    offline_s: float | None = Field(default=None, ge=0, description="End: seconds the camera was offline.")


class CameraOfflineDetails(_Details):
    reason: str | None = Field(
        default=None,
        description="Start: the reader's last error (free text from OpenCV or the stream, for people); "
        "end: `config_changed` or `agent_restarted` when the agent ended it.",
    )
    extra: CameraOfflineExtra | None = None


class CameraTamperExtra(_Extra):
    brightness_baseline: float | None = Field(default=None, description="Learned mean brightness of the view.")
    sharpness_baseline: float | None = Field(default=None, description="Learned sharpness of the view.")


class CameraTamperDetails(_Details):
    reason: Literal[TAMPER_REASONS + EPISODE_END_REASONS] | None = Field(
        default=None, description="What the view shows (start and its end), or why the agent ended it."
    )
    extra: CameraTamperExtra | None = None


# -- doors ------------------------------------------------------------------------------------


class DoorEventExtra(_Extra):
    adapter: str | None = Field(default=None, description="Access adapter that delivered the event.")
    device_time: str | None = Field(default=None, description="The controller's own time stamp (RFC 3339 UTC).")
    codes: dict[str, Any] | None = Field(
        default=None,
        description="The controller's own event codes (e.g. Hikvision major/minor, OSDP event and card format), "
        "passed through for diagnosis. Open because each vendor has its own; never card data.",
    )


class DoorEventDetails(_Details):
    door: str | None = Field(default=None, description="Door id (`access.doors`).")
    reader: str | None = Field(default=None, description="Reader id, when the event names one.")
    direction: Literal["in", "out"] | None = Field(default=None, description="Direction of passage, when known.")
    credential_token: str | None = Field(
        default=None, description="Keyed HMAC token of the credential, never the card number."
    )
    reason: Literal[DENY_REASONS + EPISODE_END_REASONS] | None = Field(
        default=None,
        description="access.denied (and a burst of them): the controller's deny reason; end alerts: "
        "`config_changed` or `agent_restarted` when the agent ended them.",
    )
    extra: DoorEventExtra | None = None


class DoorForcedExtra(DoorEventExtra):
    inferred: bool | None = Field(default=None, description="True when inferred from a door contact.")


class DoorForcedDetails(DoorEventDetails):
    reason: Literal["opened_without_grant"] | None = Field(
        default=None, description="`opened_without_grant` when inferred from a door contact, not the controller."
    )
    extra: DoorForcedExtra | None = None


class DeniedBurstDetails(DoorEventDetails):
    count: int = Field(ge=1, description="Denials at the reader within the window.")


class DoorEpisodeDetails(DoorEventDetails):
    duration_s: float | None = Field(
        default=None, ge=0, description="End: seconds it lasted; door.held_open start: seconds open when raised."
    )


class DeniedRisingExtra(_Extra):
    window_s: float | None = Field(default=None, gt=0, description="Configured window the denials are counted over.")
    expected: float | None = Field(
        default=None,
        ge=0,
        description="Denials the door's usual rate predicts in the window (its learned rate, or "
        "`access.denied_rising.prior_rate` when that is higher).",
    )
    baseline_per_hour: float | None = Field(
        default=None, ge=0, description="The door's own denial rate, learned from its history before the window."
    )
    p_value: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Probability of at least `count` denials in the window at the expected rate (Poisson); "
        "below `access.denied_rising.p_value` at the start.",
    )
    reasons: dict[str, int] | None = Field(
        default=None, description="Deny reasons of the window's denials, counted (`unspecified` when none was given)."
    )


class DeniedRisingDetails(_Details):
    door: str = Field(description="Door id.")
    count: int | None = Field(
        default=None, ge=0, description="Denials counted in the window: when it started, or when it cleared (end)."
    )
    peak_count: int | None = Field(default=None, ge=0, description="End: the most denials the window held.")
    duration_s: float | None = Field(default=None, ge=0, description="End: seconds the count stayed significant.")
    reason: Literal[EPISODE_END_REASONS + ("disarmed",)] | None = Field(
        default=None,
        description="End alerts ended before the count was back to usual: the rule's schedule disarmed, a reload "
        "changed the rule, or the agent restarted.",
    )
    extra: DeniedRisingExtra | None = None


class WelfareExtra(_Extra):
    watch: str = Field(description="Name of the welfare watch.")


class WelfareDetails(_Details):
    credential_token: str | None = Field(default=None, description="The watched credential, when there is one.")
    door: str | None = Field(default=None, description="The watched door, when there is one.")
    duration_s: float = Field(ge=0, description="Seconds of silence counted (quiet hours excluded).")
    extra: WelfareExtra


class TailgatingExtra(_Extra):
    camera: str = Field(description="Camera whose line saw the crossings.")
    window_s: float = Field(description="Configured window grants and crossings are compared over.")


class TailgatingDetails(_Details):
    door: str = Field(description="Door id.")
    line: str = Field(description="The door camera's line.")
    direction: Literal["in"] = Field(description="Always inward.")
    object_class: str = Field(description="Class of the crossing object.")
    track_ids: list[int] = Field(description="The crossing track.")
    grants: int = Field(ge=0, description="Access grants within the window.")
    crossings: int = Field(ge=0, description="Inward crossings within the window.")
    extra: TailgatingExtra


# -- the agent itself -------------------------------------------------------------------------


class AgentHealthExtra(_Extra):
    stage: str | None = Field(default=None, description="stage_*: the supervised stage.")
    restarts: int | None = Field(default=None, ge=0, description="stage_*: its restarts so far.")
    adapter: str | None = Field(default=None, description="adapter_*: the access adapter's id.")
    adapter_type: str | None = Field(default=None, description="adapter_*: its type.")
    error: str | None = Field(default=None, description="The error seen (adapter_offline, *.corrupt).")
    moved_to: str | None = Field(default=None, description="*.corrupt: where the corrupt file was moved.")


class AgentHealthDetails(_Details):
    reason: Literal[HEALTH_REASONS + EPISODE_END_REASONS] = Field(description="What happened (see docs/mqtt-api.md).")
    extra: AgentHealthExtra | None = None


# -- the response on the box (dispositions, escalation, snooze) -----------------------------------


class UnansweredExtra(_Extra):
    unanswered_event_id: str = Field(description="The alert nobody acknowledged.")
    unanswered_type: str = Field(description="Its type.")
    after_s: float = Field(ge=0, description="The rule's `escalate.after`: seconds it waited for an answer.")
    actions: list[str] = Field(default_factory=list, description="The escalation actions run (`escalate.actions`).")


class UnansweredDetails(_Details):
    reason: Literal["not_acknowledged"] = Field(description="Always not_acknowledged.")
    zone: str | None = Field(default=None, description="The unanswered alert's zone, if it has one.")
    door: str | None = Field(default=None, description="The unanswered alert's door, if it has one.")
    extra: UnansweredExtra


class SnoozeEndedExtra(_Extra):
    target: str = Field(description="What was snoozed: `rule:<name>`.")
    suppressed: int = Field(ge=0, description="Alerts (starts and instants) the snooze kept from going out.")
    suppressed_types: dict[str, int] = Field(default_factory=dict, description="The same, by alert type.")
    reason: str = Field(description="The reason given with the snooze.")
    by: str = Field(description="Who snoozed it (the page's user, or `remote:` and the sender's name).")
    snoozed_at: str = Field(description="RFC 3339 UTC time the snooze began.")
    until: str = Field(description="RFC 3339 UTC time it was due to end.")
    ended_by: str = Field(description="`expired`, or who armed the rule again before then.")


class SnoozeEndedDetails(_Details):
    reason: Literal["snooze_ended"] = Field(description="Always snooze_ended.")
    extra: SnoozeEndedExtra
