"""Non-alert messages the agent publishes: status (retained) and telemetry."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.events.alert import SCHEMA_VERSION


class Status(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(default=SCHEMA_VERSION)
    device_id: str
    state: Literal["online", "offline"] = Field(description="offline is the Last Will, sent by the broker.")
    agent_version: str | None = Field(default=None)
    started_at: str | None = Field(default=None, description="RFC 3339 UTC start time of this agent process.")
    at: str | None = Field(default=None, description="RFC 3339 UTC time of this status.")


class Telemetry(BaseModel):
    """Periodic health figures. Sections are open objects so stages can add figures."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(default=SCHEMA_VERSION)
    device_id: str
    at: str = Field(description="RFC 3339 UTC time of the sample.")
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
    at: str
