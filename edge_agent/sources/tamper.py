"""Tamper detection against the camera's own running baseline.

Each sampled frame is reduced to a small grey image and measured: brightness (mean),
contrast (std), sharpness (variance of the Laplacian) and edge layout (Canny edge density on
an 8x8 grid). A running baseline (EMA over `baseline_seconds`) learns only from frames that
look normal. A view is
- covered when contrast or brightness collapses (black tape, a hand, paint),
- blurred when sharpness falls far below the baseline (vaseline, defocus),
- moved when the edge layout no longer resembles the baseline.
A condition must hold for `hold_seconds` (frame time) before `tamper` fires, and be gone as
long before `tamper_cleared`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.config.cameras import TamperConfig
from edge_agent.events.vision_types import Frame
from edge_agent.sources.camera_health import CameraHealthEvent

SAMPLE_INTERVAL_S = 0.25
ANALYSIS_SIZE = (160, 90)
COVERED_CONTRAST_RATIO = 0.3
COVERED_BRIGHTNESS_RATIO = 0.25
BLURRED_SHARPNESS_RATIO = 0.2
MOVED_LAYOUT_SIMILARITY = 0.5


@dataclass(frozen=True, slots=True)
class ViewMeasure:
    brightness: float
    contrast: float
    sharpness: float
    layout: np.ndarray  # unit-length edge-density grid

    @classmethod
    def of(cls, image_bgr: np.ndarray) -> ViewMeasure:
        grey = cv2.cvtColor(cv2.resize(image_bgr, ANALYSIS_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        sharpness = float(cv2.Laplacian(grey, cv2.CV_32F).var())
        edges = cv2.Canny(grey, 50, 150)
        grid = cv2.resize(edges.astype(np.float32), (8, 8), interpolation=cv2.INTER_AREA).ravel()
        norm = float(np.linalg.norm(grid))
        layout = grid / norm if norm > 0 else grid
        return cls(float(grey.mean()), float(grey.std()), sharpness, layout)


class TamperDetector:
    def __init__(self, camera_id: str, config: TamperConfig):
        self.camera_id = camera_id
        self.config = config
        self.baseline: ViewMeasure | None = None
        self.learned_s = 0.0
        self.active_reason: str | None = None
        self._candidate: str | None = None
        self._candidate_since = 0.0
        self._last_sample: float | None = None
        self.samples = 0

    def observe(self, frame: Frame) -> list[CameraHealthEvent]:
        """Feed every frame; it samples a few per second. Returns the events this frame caused."""
        if not self.config.enabled:
            return []
        if self._last_sample is not None and frame.monotonic - self._last_sample < SAMPLE_INTERVAL_S:
            return []
        elapsed = 0.0 if self._last_sample is None else frame.monotonic - self._last_sample
        self._last_sample = frame.monotonic
        self.samples += 1
        measure = ViewMeasure.of(frame.image)
        reason = self.judge(measure) if self.learned_s >= self.config.baseline_seconds else None
        if reason is None and self.active_reason is None and self._candidate is None:
            self._learn(measure, elapsed)
        return self._transition(reason, frame)

    def judge(self, measure: ViewMeasure) -> str | None:
        base = self.baseline
        if base is None:
            return None
        if (
            measure.contrast < COVERED_CONTRAST_RATIO * base.contrast
            or measure.brightness < COVERED_BRIGHTNESS_RATIO * base.brightness
        ):
            return "covered"
        if measure.sharpness < BLURRED_SHARPNESS_RATIO * base.sharpness:
            return "blurred"
        if float(measure.layout @ base.layout) < MOVED_LAYOUT_SIMILARITY:
            return "moved"
        return None

    def _learn(self, measure: ViewMeasure, elapsed: float) -> None:
        if self.baseline is None:
            self.baseline = measure
            return
        self.learned_s += elapsed
        alpha = min(1.0, max(elapsed, SAMPLE_INTERVAL_S) / self.config.baseline_seconds)
        base = self.baseline
        layout = (1 - alpha) * base.layout + alpha * measure.layout
        norm = float(np.linalg.norm(layout))
        self.baseline = ViewMeasure(
            brightness=(1 - alpha) * base.brightness + alpha * measure.brightness,
            contrast=(1 - alpha) * base.contrast + alpha * measure.contrast,
            sharpness=(1 - alpha) * base.sharpness + alpha * measure.sharpness,
            layout=layout / norm if norm > 0 else layout,
        )

    def _transition(self, reason: str | None, frame: Frame) -> list[CameraHealthEvent]:
        if reason != self._candidate:
            self._candidate, self._candidate_since = reason, frame.monotonic
        if reason == self.active_reason or frame.monotonic - self._candidate_since < self.config.hold_seconds:
            return []
        events = []
        if self.active_reason is not None:
            events.append(self._event("tamper_cleared", self.active_reason, frame))
        if reason is not None:
            events.append(self._event("tamper", reason, frame))
        self.active_reason = reason
        return events

    def _event(self, kind: str, reason: str, frame: Frame) -> CameraHealthEvent:
        base = self.baseline
        details = (
            {"brightness_baseline": round(base.brightness, 1), "sharpness_baseline": round(base.sharpness, 1)}
            if base
            else {}
        )
        return CameraHealthEvent(
            self.camera_id, kind, frame.captured_at, frame.monotonic, reason=reason, details=details
        )
