"""Config types for zones and lines, in normalized image coordinates [0, 1]."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from edge_agent.config.base import Section
from edge_agent.config.policy import REMOTE

Coordinate = Annotated[float, Field(ge=0.0, le=1.0)]
Point = Annotated[list[Coordinate], Field(min_length=2, max_length=2, description="[x, y], normalized.")]


class ZoneConfig(Section):
    remote_change: ClassVar[str] = REMOTE

    points: list[Point] = Field(min_length=3, description="Polygon corners, normalized [x, y], in order.")


class LineConfig(Section):
    """A directed counting line. Crossing toward `in_side` counts as inward."""

    remote_change: ClassVar[str] = REMOTE

    points: list[Point] = Field(min_length=2, max_length=2, description="The two ends of the line, normalized [x, y].")
    in_side: Point = Field(description="Any point on the side objects move toward when they come in.")
    margin: float = Field(
        default=0.01,
        ge=0,
        le=0.25,
        description="Half-width (normalized) of the band around the line in which a foot point keeps its previous "
        "side, so standing on the line or jittering across it is not a crossing. The default is the best of "
        "bench/bench_counts.py's sweep (bench/README.md).",
    )
    min_frames: int = Field(
        default=2,
        ge=1,
        le=30,
        description="Consecutive detector runs a foot point must stay on the new side before the crossing counts, so "
        "a one-frame stride or box glitch is not a crossing; a person who vanishes sooner (out of the picture, "
        "behind someone) on the new side still counts once unseen for 3 s. The default is the bench's best.",
    )
    classes: list[str] = Field(
        default_factory=lambda: ["person"],
        min_length=1,
        description="Object classes counted on this line (in/out counters and crossing events).",
    )

    @model_validator(mode="after")
    def _in_side_off_the_line(self) -> LineConfig:
        (ax, ay), (bx, by) = self.points
        px, py = self.in_side
        if (ax, ay) == (bx, by):
            raise ValueError("the two line points must differ")
        if abs((bx - ax) * (py - ay) - (by - ay) * (px - ax)) < 1e-9:
            raise ValueError("in_side must not lie on the line")
        return self
