"""The published alert contract (schema version 1).

Everything that leaves the device as an alert is an `Alert`. The JSON Schema in
docs/schemas/alert.schema.json is generated from this model; see
docs/mqtt-api.md for the versioning policy (additive changes keep the major).
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.events.ids import new_event_id

SCHEMA_VERSION = "1.0"
# Every time on the wire: RFC 3339 UTC with milliseconds (clock.iso_utc). `format: date-time` in the schemas, so a
# validator that checks formats (Ajv with ajv-formats, .ci/validate_contract.mjs) holds the agent to it.
RFC3339Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Severity(str, Enum):
    info = "info"
    minor = "minor"
    major = "major"
    critical = "critical"


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["camera", "door", "device"] = Field(description="What produced the alert.")
    id: str = Field(description="Camera id, door id, or the device id for health alerts.")


class BoxOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    track_id: int | None = Field(default=None, description="Tracker id of the object, if tracked.")
    class_name: str = Field(description="Detector class, e.g. person, car, bicycle.")
    confidence: float = Field(ge=0, le=1, description="Detector score.")
    box: list[float] = Field(min_length=4, max_length=4, description="Normalized [x1, y1, x2, y2].")


class EvidenceRef(BaseModel):
    """What the box keeps for an alert (docs/evidence.md): its description and hash, never the picture."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["snapshot", "clip"] = Field(description="snapshot: one JPEG; clip: MJPEG in AVI.")
    sha256: str = Field(pattern="^[0-9a-f]{64}$", description="SHA-256 of the file, hex: check a fetched copy.")
    bytes: int = Field(ge=0, description="Size of the file.")
    captured_at: str = Field(description="RFC 3339 UTC time of the (first) frame.")


class AlertDetails(BaseModel):
    """Structured facts of an alert; unused fields are omitted from the payload."""

    model_config = ConfigDict(extra="forbid")

    object_class: str | None = Field(default=None, description="Class the rule watches.")
    count: int | None = Field(default=None, ge=0, description="Objects counted at alert time.")
    peak_count: int | None = Field(default=None, ge=0, description="Highest count during the condition (end alerts).")
    duration_s: float | None = Field(
        default=None, ge=0, description="Seconds the condition lasted (end alerts) or had lasted when it fired."
    )
    zone: str | None = Field(default=None, description="Zone name the rule watches.")
    line: str | None = Field(default=None, description="Line name for crossing rules.")
    direction: Literal["in", "out"] | None = Field(default=None, description="Crossing or door direction.")
    track_ids: list[int] | None = Field(default=None, description="Tracks involved.")
    objects: list[BoxOut] | None = Field(default=None, description="Boxes of the objects involved.")
    confidence: float | None = Field(default=None, ge=0, le=1, description="Highest detector score involved.")
    door: str | None = Field(default=None, description="Door id for access alerts.")
    reader: str | None = Field(default=None, description="Reader id for access alerts.")
    credential_token: str | None = Field(
        default=None, description="Keyed HMAC token of a credential, never the card number."
    )
    reason: str | None = Field(default=None, description="Machine-readable reason, e.g. unknown_card, stage_restarted.")
    grants: int | None = Field(default=None, ge=0, description="Access grants counted (tailgating).")
    crossings: int | None = Field(default=None, ge=0, description="Inward crossings counted (tailgating).")
    message: str | None = Field(default=None, description="Short human-readable summary.")
    extra: dict[str, Any] | None = Field(default=None, description="Rule-specific facts not covered above.")
    evidence: EvidenceRef | None = Field(
        default=None, description="Evidence kept on the box; fetched only by `get-evidence` (docs/evidence.md)."
    )


class Alert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(default=SCHEMA_VERSION, description="Contract version, MAJOR.MINOR.")
    event_id: str = Field(
        default_factory=new_event_id, description="UUIDv7; stable across re-deliveries, dedupe on it."
    )
    device_id: str = Field(description="Device that raised the alert.")
    site: str = Field(description="Site (compound) the device belongs to.")
    source: Source
    type: str = Field(
        description="Alert type, e.g. intrusion, loitering, tailgating, door.forced, camera.offline, agent.health."
    )
    severity: Severity = Field(description="info, minor, major or critical.")
    phase: Literal["start", "end", "instant"] = Field(
        default="instant", description="start/end for conditions with a duration."
    )
    related_event_id: str | None = Field(default=None, description="For an end alert, the event_id of its start alert.")
    rule: str | None = Field(default=None, description="Name of the configured rule that fired.")
    started_at: RFC3339Time = Field(description="RFC 3339 UTC time the condition began.")
    ended_at: RFC3339Time | None = Field(default=None, description="RFC 3339 UTC time it ended (end alerts).")
    created_at: RFC3339Time = Field(description="RFC 3339 UTC time the agent created this message.")
    details: AlertDetails = Field(default_factory=AlertDetails)

    @property
    def priority_class(self) -> str:
        """Outbox class: alarms outrank events when the store is full."""
        return "alarm" if self.severity in (Severity.major, Severity.critical) else "event"

    def to_json(self) -> str:
        try:
            return self.model_dump_json(exclude_none=True)
        except ValueError:  # a lone surrogate in some text (from a sender's escape): escaped, the alert is kept
            return json.dumps(self.model_dump(mode="json", exclude_none=True), separators=(",", ":"))
