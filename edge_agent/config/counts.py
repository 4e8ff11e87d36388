"""The `counts` section: periodic line and zone counts for the platform."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from edge_agent.config.base import Section
from edge_agent.config.policy import REMOTE


class CountsConfig(Section):
    """Line in/out and zone occupancy published on {prefix}/{site}/{device}/counts, one message per interval.

    Intervals are aligned to wall-clock boundaries (300 s reports at :00, :05, ...). Crossing counters
    are kept in the durable state store, so a restart or reload mid-interval loses no crossing.
    """

    remote_change: ClassVar[str] = REMOTE

    enabled: bool = Field(default=True, description="Publish counts messages (only when cameras are configured).")
    interval: float = Field(
        default=300.0,
        ge=10,
        le=86400,
        description="Seconds per counts interval, aligned to the UTC epoch (60 → every minute on the minute; 3600 → "
        "on the hour). A divisor of 86400 keeps boundaries at the same times every day.",
    )
    zone_classes: list[str] = Field(
        default_factory=lambda: ["person"],
        min_length=1,
        description="Object classes counted in zone occupancy (lines count their own `classes`).",
    )
    sample_every: float = Field(
        default=1.0,
        ge=0.1,  # a floor: a remote sender tunes this, and 1e-9 spun a core
        le=60,
        description="Seconds per zone occupancy sample: one sample per slot of this length on the wall clock, so a "
        "fully watched interval has interval / sample_every samples (peak and mean are over them).",
    )
