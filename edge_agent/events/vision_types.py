"""Frames, detections and tracks: the types the video stages pass to each other.

Boxes are normalized xyxy in [0, 1] so rules and zones do not care about a
camera's resolution. An object is placed by its foot point (bottom-centre).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Box:
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def foot(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, self.y2)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    @property
    def width(self) -> float:
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        return self.width * self.height

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def as_list(self, ndigits: int = 4) -> list[float]:
        return [round(v, ndigits) for v in (self.x1, self.y1, self.x2, self.y2)]


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded image. `captured_at` is wall time, `monotonic` is for durations."""

    camera_id: str
    seq: int
    captured_at: float
    monotonic: float
    image: np.ndarray
    source_index: int | None = None  # 1-based frame number in the source clip (files only: track export)

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.image.shape[:2]
        return width, height


@dataclass(frozen=True, slots=True)
class Detection:
    class_name: str
    score: float
    box: Box


@dataclass(frozen=True, slots=True)
class FrameDetections:
    """What the detector saw in one frame; the unit the tracker consumes."""

    camera_id: str
    seq: int
    captured_at: float
    monotonic: float
    detections: tuple[Detection, ...]
    frame_size: tuple[int, int] = (0, 0)


@dataclass(slots=True)
class Track:
    """An object followed across frames. `foot_points` keeps recent (t, x, y)."""

    track_id: int
    class_name: str
    box: Box
    score: float
    first_seen: float
    last_seen: float
    hits: int = 1
    missed: int = 0
    foot_points: deque = field(default_factory=lambda: deque(maxlen=32))

    @property
    def age(self) -> float:
        return self.last_seen - self.first_seen


@dataclass(frozen=True, slots=True)
class LineCrossing:
    """A track crossed a directed line; counters and tailgating fusion consume these."""

    camera_id: str
    line: str
    track_id: int
    class_name: str
    direction: str  # "in" | "out"
    at: float  # wall time of the frame where the crossing completed
    monotonic: float


CrossingListener = Callable[[LineCrossing], None]


class CrossingFeed(Protocol):
    """Where line crossings can be heard (the video rule engine): all a listener such as tailgating fusion or the
    counts ledger needs of the video side, so the door path is handed this, not the engine."""

    def add_crossing_listener(self, listener: CrossingListener) -> None: ...
