from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from edge_agent.config.base import Section
from edge_agent.config.policy import REMOTE


class TrackerConfig(Section):
    """ByteTrack-style tracker settings (per camera; the defaults suit 5-25 detector runs per second)."""

    remote_change: ClassVar[str] = REMOTE

    high_score: float = Field(
        default=0.5, ge=0, le=1, description="Detections at or above this score are matched first and may start tracks."
    )
    start_score: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="Unmatched detections at or above this (and high_score) start a new track; above high_score so a "
        "doubtful box can extend a track but not invent one.",
    )
    low_score: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Detections between this and high_score only keep existing tracks alive (occlusion, blur).",
    )
    match_iou: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Minimum IoU between a track's predicted box and a detection to match them.",
    )
    min_hits: int = Field(
        default=2, ge=1, description="Matched detector runs before a new track is confirmed and reported."
    )
    max_lost: float = Field(
        default=2.0,
        ge=0,
        description="Seconds a track survives without a match (short occlusions) before it is dropped.",
    )
    history: int = Field(default=32, ge=2, le=1024, description="Foot points kept per track.")
