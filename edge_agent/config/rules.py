"""Video rules: one small model per rule type, chosen by `type`."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from edge_agent.config.base import Name, Section
from edge_agent.config.evidence import RuleEvidence
from edge_agent.config.policy import REMOTE, local
from edge_agent.config.schedule import TimeRange
from edge_agent.events.alert import Severity


class Escalation(Section):
    """What the box does itself when nobody acknowledges a start of this rule in time (docs/response.md)."""

    remote_change: ClassVar[str] = REMOTE

    after: float = Field(
        gt=0,
        le=86_400,
        description="Seconds a start (or instant) alert of this rule may wait for a disposition before it escalates.",
    )
    actions: list[Name] = Field(
        default_factory=list,
        max_length=8,
        json_schema_extra=local("what makes the box act: a remote sender could make any action run"),
        description="Actions (`actions[].name`) run when it escalates, beside the `alert.unanswered` alert.",
    )


class _VideoRule(Section):
    remote_change: ClassVar[str] = REMOTE

    name: Name = Field(description="Rule name, carried in its alerts.")
    camera: Name = Field(description="Camera id the rule watches.")
    classes: list[str] = Field(default_factory=lambda: ["person"], description="Object classes the rule counts.")
    min_score: float = Field(default=0.0, ge=0, le=1, description="Ignore objects scored below this.")
    min_area: float = Field(
        default=0.0, ge=0, le=1, description="Ignore boxes smaller than this fraction of the frame."
    )
    schedule: list[TimeRange] = Field(
        default_factory=list, description="When the rule is armed (site time); empty = always."
    )
    cooldown: float = Field(
        default=30.0,
        ge=0,
        description="Seconds after an alert before the same rule may fire again for the same object or zone.",
    )
    clear_after: float = Field(
        default=2.0,
        ge=0,
        description="Seconds the condition must stay false before its end alert, so a missed detection or a step out "
        "and back does not split one event in two.",
    )
    severity: Severity = Field(default=Severity.minor, description="Severity of the alerts.")
    enabled: bool = Field(default=True, description="Set false to keep the rule configured but idle.")
    escalate: Escalation | None = Field(
        default=None,
        description="Escalate an alert of this rule nobody acknowledged: run actions, raise `alert.unanswered`.",
    )
    evidence: RuleEvidence = Field(
        default_factory=RuleEvidence,
        description="Evidence kept on the box for this rule's alerts (off by default; docs/evidence.md).",
    )


class IntrusionRule(_VideoRule):
    type: Literal["intrusion"]
    zone: Name = Field(description="Zone name on the camera.")
    min_dwell: float = Field(default=1.0, ge=0, description="Seconds inside before it counts, against flicker.")


class LoiteringRule(_VideoRule):
    type: Literal["loitering"]
    zone: Name = Field(description="Zone name on the camera.")
    max_dwell: float = Field(default=60.0, gt=0, description="Seconds a track may stay before it is loitering.")
    handover_window: float = Field(
        default=10.0,
        ge=0,
        description="Seconds a person's dwell time is kept after their track vanishes inside the zone, for a new "
        "track starting at the same place (an occlusion that broke the track); 0 = off.",
    )


class CrowdRule(_VideoRule):
    type: Literal["crowd"]
    zone: Name = Field(description="Zone name on the camera.")
    min_count: int = Field(ge=1, description="Count at or above which the zone is crowded.")
    hold: float = Field(
        default=5.0, ge=0, description="Seconds the count must hold at or above min_count before the alert starts."
    )
    end_below: int | None = Field(
        default=None,
        ge=0,
        description="The condition ends when the count drops below this (held for clear_after s); default min_count. "
        "Lower than min_count gives count hysteresis.",
    )


class OccupancyRule(_VideoRule):
    type: Literal["occupancy"]
    zone: Name = Field(description="Zone name on the camera.")
    capacity: int = Field(ge=0, description="Alert when the count exceeds this.")
    hold: float = Field(default=2.0, ge=0, description="Seconds above capacity before the alert starts.")


FORECAST_SEGMENTS = 4  # rules/forecast.py judges the window in this many equal parts
FORECAST_MIN_SEGMENT_S = 2  # seconds (one-second buckets) each part needs for its mean to mean anything


class CrowdForecastRule(_VideoRule):
    """Early warning: the zone's count is building toward `capacity` (rules/forecast.py)."""

    type: Literal["crowd.forecast"]
    zone: Name = Field(description="Zone name on the camera.")
    capacity: int = Field(
        ge=1,
        description="Count the zone is full at. The warning starts when the forecast reaches it while the count is "
        "still below it; an `occupancy` rule with the same capacity raises the alarm once it is exceeded.",
    )
    horizon: float = Field(
        default=60.0, gt=0, le=3600, description="Seconds ahead the forecast looks: how early the warning may come."
    )
    window: int = Field(
        default=60,
        ge=FORECAST_SEGMENTS * FORECAST_MIN_SEGMENT_S,
        le=3600,
        description="Seconds of occupancy history fitted and judged (whole seconds). Nothing is judged until a "
        "full window has been seen, and a build-up counts only once it has risen through about a whole window: "
        "60 s sees a few arrivals a minute; a shorter window sees faster build-ups at the price of more false "
        "starts on a wandering count, a longer one slower build-ups (bench/README.md).",
    )
    alpha: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Holt level smoothing per one-second bucket: higher follows the count faster and noisier.",
    )
    beta: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Holt trend smoothing per one-second bucket: higher reacts to a new trend sooner and noisier.",
    )
    hold: float = Field(
        default=10.0,
        ge=0,
        description="Seconds the warning condition (sustained rise, forecast at capacity, count below it) must hold "
        "before the start: a real build-up persists, a chance run in the noise does not. Lapses shorter than "
        "clear_after do not restart it.",
    )
    max_gap: float = Field(
        default=10.0,
        ge=1,
        description="Seconds without a processed frame the history bridges by carrying the last count (the motion "
        "gate pauses detection only while nothing moves and no track is live); a longer gap (camera outage) "
        "starts the history and the warm-up again.",
    )
    clear_after: float = Field(
        default=5.0,
        ge=0,
        description="Seconds the forecast must stay below capacity before the end alert, so a forecast wavering "
        "around capacity does not split one warning in two.",
    )

    @model_validator(mode="after")
    def _gap_shorter_than_window(self) -> CrowdForecastRule:
        if self.max_gap >= self.window:
            raise ValueError(
                f"max_gap ({self.max_gap} s) must be shorter than window ({self.window} s): a history mostly "
                "carried over a gap is not a measured trend"
            )
        return self


class LineCrossingRule(_VideoRule):
    type: Literal["line_crossing"]
    line: Name = Field(description="Line name on the camera.")
    alert_direction: Literal["in", "out", "both", "none"] = Field(
        default="none", description="Which crossings raise an alert; counters run regardless."
    )


class StationaryVehicleRule(_VideoRule):
    type: Literal["stationary_vehicle"]
    zone: Name = Field(description="Zone name (fire lane, no-parking).")
    classes: list[str] = Field(
        default_factory=lambda: ["vehicle", "car", "truck", "bus", "motorcycle"], description="Vehicle classes."
    )
    max_stationary: float = Field(default=180.0, gt=0, description="Seconds a vehicle may stand before the alert.")
    max_movement: float = Field(
        default=0.02, ge=0, description="Foot-point movement (normalized) still counted as standing."
    )
    handover_window: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a vehicle's standing time is kept after its track vanishes (hidden by passing traffic), "
        "for a new track of the same class starting at the same place; 0 = off.",
    )


class EbikeInLiftRule(_VideoRule):
    type: Literal["ebike_in_lift"]
    zone: Name = Field(description="Zone name covering the lift car.")
    classes: list[str] = Field(
        default_factory=lambda: ["bicycle", "motorcycle"], description="Classes that count as an e-bike."
    )
    min_consecutive: int = Field(default=3, ge=1, description="Consecutive detector runs with the object in the zone.")
    severity: Severity = Field(default=Severity.major, description="Severity of the alerts.")


VideoRuleConfig = Annotated[
    IntrusionRule
    | LoiteringRule
    | CrowdRule
    | OccupancyRule
    | CrowdForecastRule
    | LineCrossingRule
    | StationaryVehicleRule
    | EbikeInLiftRule,
    Field(discriminator="type"),
]
