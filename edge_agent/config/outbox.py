from __future__ import annotations

from pathlib import Path

from pydantic import Field

from edge_agent.config.base import Section
from edge_agent.config.policy import PATH


class ExpiryConfig(Section):
    """How long an undelivered message is worth sending, per class (seconds, 0 = never expires)."""

    alarm: int = Field(default=0, ge=0, description="Alarms never expire by default.")
    event: int = Field(default=7 * 24 * 3600, ge=0, description="Events expire after a week undelivered.")
    telemetry: int = Field(default=3600, ge=0, description="Telemetry expires after an hour undelivered.")


class OutboxConfig(Section):
    """The durable SQLite store every outgoing message passes."""

    path: Path | None = Field(
        default=None, json_schema_extra=PATH, description="Database file. Default: {device.state_dir}/outbox.db."
    )
    max_rows: int = Field(default=200_000, ge=10, description="Cap on stored rows.")
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=64 * 1024, description="Cap on stored payload bytes.")
    retention_hours: float = Field(default=72.0, ge=0, description="Delivered rows are pruned after this many hours.")
    min_free_disk_mb: int = Field(
        default=200, ge=0, description="Below this free space, telemetry is no longer stored."
    )
    expiry: ExpiryConfig = Field(default_factory=ExpiryConfig)
