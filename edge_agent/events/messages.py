"""Non-alert messages the agent publishes: status (retained), telemetry and counts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.events.alert import SCHEMA_VERSION, RFC3339Time


class Status(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(default=SCHEMA_VERSION)
    device_id: str
    state: Literal["online", "offline"] = Field(description="offline is the Last Will, sent by the broker.")
    agent_version: str | None = Field(default=None)
    started_at: RFC3339Time | None = Field(default=None, description="RFC 3339 UTC start time of this agent process.")
    at: RFC3339Time | None = Field(default=None, description="RFC 3339 UTC time of this status.")


class Telemetry(BaseModel):
    """Periodic health figures. Sections are open objects so stages can add figures."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(default=SCHEMA_VERSION)
    device_id: str
    at: RFC3339Time = Field(description="RFC 3339 UTC time of the sample.")
    uptime_s: float = Field(ge=0)
    cameras: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per camera: capture_fps, processed_fps, detector_ms, motion_gate_ratio, reconnects, online.",
    )
    lines: dict[str, dict[str, int]] = Field(default_factory=dict, description="Per camera/line: in and out counters.")
    outbox: dict[str, Any] = Field(
        default_factory=dict, description="depth by state and class, oldest_pending_age_s, drops by class."
    )
    adapters: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per access adapter: online, counters by reason."
    )
    system: dict[str, Any] = Field(
        default_factory=dict, description="cpu_percent, rss_mb, disk_free_mb, soc_temp_c where readable."
    )
    stages: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per supervised stage: status, restarts, idle_s, last_error."
    )
    detector: dict[str, Any] = Field(
        default_factory=dict, description="Shared detector worker: inferences, mean ms, queue depth, frames replaced."
    )


class LineCount(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    camera: str
    line: str
    in_: int = Field(alias="in", ge=0, description="Inward crossings counted in this interval.")
    out: int = Field(ge=0, description="Outward crossings counted in this interval.")
    total_in: int = Field(ge=0, description="Inward crossings since `total_since`, up to interval_end.")
    total_out: int = Field(ge=0, description="Outward crossings since `total_since`, up to interval_end.")
    total_since: RFC3339Time = Field(
        description="RFC 3339 UTC time the cumulative counters started (first seen, or the line's geometry changed)."
    )


class ZoneOccupancy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera: str
    zone: str
    current: int = Field(ge=0, description="Objects in the zone at the last sample of the interval.")
    peak: int = Field(ge=0, description="Most objects in the zone at any sample of the interval.")
    mean: float = Field(ge=0, description="Mean objects in the zone over the interval's samples.")
    samples: int = Field(ge=0, description="Samples taken (one per counts.sample_every s while the agent ran).")


class Counts(BaseModel):
    """Line and zone counts for one wall-clock-aligned interval; event_id is stable per (device, interval)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(default=SCHEMA_VERSION)
    event_id: str = Field(description="UUIDv7, the same for every send of this device's interval: dedupe on it.")
    device_id: str
    site: str
    interval_start: RFC3339Time = Field(description="RFC 3339 UTC start of the interval (inclusive), on a boundary.")
    interval_end: RFC3339Time = Field(description="RFC 3339 UTC end of the interval (exclusive).")
    complete: bool = Field(
        description="False when the agent did not watch the whole interval without a break (it started or restarted "
        "in it, or a reload in it made it count something new): crossings stored before a restart are still "
        "included, but none could be seen while it was down."
    )
    lines: list[LineCount] = Field(default_factory=list, description="Every configured counting line.")
    zones: list[ZoneOccupancy] = Field(
        default_factory=list, description="Every configured zone: objects of counts.zone_classes whose foot is inside."
    )
    created_at: RFC3339Time = Field(description="RFC 3339 UTC time this message was built.")


class CommandRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=128, description="Echoed in the reply.")
    args: dict[str, Any] = Field(default_factory=dict)


class CommandReply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(default=SCHEMA_VERSION)
    request_id: str | None
    command: str
    ok: bool
    error: str | None = None
    result: dict[str, Any] | None = None
    at: RFC3339Time = Field(description="RFC 3339 UTC time of the reply.")
