"""Motion gate: run the detector on a camera only while something moves or is being tracked.

A running-average background at low resolution (160 px wide, grey, blurred) is compared with
each frame; pixels that differ by more than `threshold` and lie outside the masks count as
change, and motion is when they cover more than `min_area` of the frame. Without motion or
live tracks the detector still runs every `full_check_interval` seconds (frame time), so
objects that stand still stay known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.config.cameras import MotionConfig
from edge_agent.events.vision_types import Frame

ANALYSIS_WIDTH = 160
# The background absorbs change with this time constant (frame time): short enough that the
# "ghost" a departed person leaves fades in a few seconds, long enough that a walker stands out.
BACKGROUND_TAU_S = 1.0


@dataclass(slots=True)
class GateCounters:
    frames: int = 0
    detect_first: int = 0
    detect_motion: int = 0
    detect_tracks: int = 0
    detect_periodic: int = 0
    skipped: int = 0

    @property
    def detector_calls(self) -> int:
        return self.detect_first + self.detect_motion + self.detect_tracks + self.detect_periodic


class MotionGate:
    """One per camera; not thread-safe (the camera's own loop calls it)."""

    def __init__(self, motion_cfg: MotionConfig):
        self.config = motion_cfg
        self.counters = GateCounters()
        self.last_motion_fraction = 0.0
        self.last_changed: np.ndarray | None = None  # the last frame's changed pixels (analysis size), for the page
        self._background: np.ndarray | None = None
        self._keep: np.ndarray | None = None  # 1 where motion counts, 0 under masks
        self._keep_pixels = 0
        self._last_detect: float | None = None
        self._last_seen: float | None = None

    def should_detect(self, frame: Frame, has_live_tracks: bool) -> bool:
        counters = self.counters
        counters.frames += 1
        if not self.config.enabled:
            counters.detect_motion += 1
            return True
        moving = self._measure(frame.image, frame.monotonic)
        if self._last_detect is None:
            reason = "first"
        elif moving:
            reason = "motion"
        elif has_live_tracks:
            reason = "tracks"
        elif frame.monotonic - self._last_detect >= self.config.full_check_interval:
            reason = "periodic"
        else:
            counters.skipped += 1
            return False
        setattr(counters, f"detect_{reason}", getattr(counters, f"detect_{reason}") + 1)
        self._last_detect = frame.monotonic
        return True

    def _measure(self, image: np.ndarray, now: float) -> bool:
        small = self._small_grey(image)
        elapsed = 0.0 if self._last_seen is None else max(0.0, now - self._last_seen)
        self._last_seen = now
        if self._background is None or self._background.shape != small.shape:
            self._background = small.astype(np.float32)
            self._keep = self._keep_mask(small.shape)
            self._keep_pixels = max(1, int(self._keep.sum()))
            self.last_motion_fraction = 0.0
            return False
        diff = cv2.absdiff(small, cv2.convertScaleAbs(self._background))
        changed = (diff > self.config.threshold) & self._keep
        self.last_changed = changed  # a new array each frame: a reader on another thread sees a whole one
        self.last_motion_fraction = float(changed.sum()) / self._keep_pixels
        cv2.accumulateWeighted(small, self._background, 1.0 - math.exp(-elapsed / BACKGROUND_TAU_S))
        return self.last_motion_fraction > self.config.min_area

    @staticmethod
    def _small_grey(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        size = (ANALYSIS_WIDTH, max(1, round(height * ANALYSIS_WIDTH / width)))
        grey = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(grey, (5, 5), 0)

    def _keep_mask(self, shape: tuple[int, int]) -> np.ndarray:
        height, width = shape
        mask = np.ones((height, width), np.uint8)
        for polygon in self.config.masks:
            points = np.array([[x * width, y * height] for x, y in polygon], np.float32).round().astype(np.int32)
            cv2.fillPoly(mask, [points], 0)
        return mask.astype(bool)


def changed_regions(changed: np.ndarray | None, min_pixels: int = 4, limit: int = 32) -> list[list[float]]:
    """Bounding boxes (normalized xyxy) of the connected areas of change, largest first: what the gate saw move.

    Specks smaller than `min_pixels` (analysis pixels) are left out; at most `limit` boxes.
    """
    if changed is None or not changed.any():
        return []
    height, width = changed.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats(changed.astype(np.uint8), connectivity=8)
    boxes = [stats[i] for i in range(1, count) if stats[i][cv2.CC_STAT_AREA] >= min_pixels]
    boxes.sort(key=lambda s: -int(s[cv2.CC_STAT_AREA]))
    return [
        [round(x / width, 4), round(y / height, 4), round((x + w) / width, 4), round((y + h) / height, 4)]
        for x, y, w, h, _ in (map(int, box) for box in boxes[:limit])
    ]
