from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from edge_agent.config.base import Section
from edge_agent.config.policy import PATH


class DeviceConfig(Section):
    """Who this box is and where it keeps its state."""

    id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Device id used in topics and as MQTT client id. Default: derived from /etc/machine-id by a hash.",
    )
    site: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Site (compound) id used in topics.",
    )
    timezone: str = Field(
        default="UTC", description="IANA time zone of the site, for rule schedules, e.g. Asia/Singapore."
    )
    state_dir: Path = Field(
        default=Path("/var/lib/edge-agent"),
        json_schema_extra=PATH,
        description="Directory for the outbox database, models and runtime state.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value
