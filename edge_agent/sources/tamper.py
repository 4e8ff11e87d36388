"""Tamper detection against the camera's own running baseline and a reference view.

Each sampled frame is reduced to a small grey image and measured: brightness (mean),
contrast (std), sharpness (variance of the Laplacian) and edge layout (Canny edge density on
a 32x18 grid). A running baseline (EMA over `baseline_seconds`) learns only from frames that
look normal. A view is
- covered when contrast or brightness collapses (black tape, a hand, paint),
- blurred when sharpness falls far below the baseline (vaseline, defocus),
- moved when the edge layout no longer correlates with the reference view.
The reference view is the baseline's layout, taken once the baseline is learned and re-taken
only after `reference_refresh_seconds` of an unchanged view: compared with the running baseline
itself a slow pan was learned before it was judged. The layout is compared by zero-mean
correlation, not by cosine of the raw (all-positive) densities, which stayed at 0.8 for a flip.
A condition must hold for `hold_seconds` (frame time) before `tamper` fires, and be gone as
long before `tamper_cleared`. Thresholds are in TamperConfig.
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
# 32x18 cells of 5x5 analysis pixels: fine enough that a quarter-frame shift moves whole
# structures to other cells, coarse enough that one passing person touches few of them.
LAYOUT_GRID = (32, 18)


@dataclass(frozen=True, slots=True)
class ViewMeasure:
    brightness: float
    contrast: float
    sharpness: float
    layout: np.ndarray  # edge density per grid cell

    @classmethod
    def of(cls, image_bgr: np.ndarray) -> ViewMeasure:
        grey = cv2.cvtColor(cv2.resize(image_bgr, ANALYSIS_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        sharpness = float(cv2.Laplacian(grey, cv2.CV_32F).var())
        edges = cv2.Canny(grey, 50, 150)
        layout = cv2.resize(edges.astype(np.float32), LAYOUT_GRID, interpolation=cv2.INTER_AREA)
        return cls(float(grey.mean()), float(grey.std()), sharpness, layout)


def layout_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Zero-mean correlation of two edge layouts, -1..1 (0 when featureless), best over +-1 cell offsets.

    The offsets forgive a mount swaying by up to 1/32 of the frame, which alone moved edges into
    neighbouring cells; a quarter-frame shift is 8 cells.
    """
    rows, cols = a.shape
    best = -1.0
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            part_a = a[max(0, dy) : rows + min(0, dy), max(0, dx) : cols + min(0, dx)]
            part_b = b[max(0, -dy) : rows + min(0, -dy), max(0, -dx) : cols + min(0, -dx)]
            best = max(best, _correlation(part_a.ravel(), part_b.ravel()))
    return best


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    scale = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / scale if scale > 0 else 0.0


class TamperDetector:
    def __init__(self, camera_id: str, config: TamperConfig):
        self.camera_id = camera_id
        self.config = config
        self.baseline: ViewMeasure | None = None
        self.reference_layout: np.ndarray | None = None
        self.learned_s = 0.0
        self._steady_s = 0.0  # unchanged view since the reference was taken
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
            self._keep_reference(elapsed)
        else:
            self._steady_s = 0.0
        return self._transition(reason, frame)

    def _keep_reference(self, elapsed: float) -> None:
        if self.learned_s < self.config.baseline_seconds:
            return
        self._steady_s += elapsed
        if self.reference_layout is None or self._steady_s >= self.config.reference_refresh_seconds:
            self.reference_layout, self._steady_s = self.baseline.layout.copy(), 0.0

    def judge(self, measure: ViewMeasure) -> str | None:
        base = self.baseline
        if base is None:
            return None
        config = self.config
        if (
            measure.contrast < config.covered_contrast_ratio * base.contrast
            or measure.brightness < config.covered_brightness_ratio * base.brightness
        ):
            return "covered"
        if measure.sharpness < config.blurred_sharpness_ratio * base.sharpness:
            return "blurred"
        reference = self.reference_layout if self.reference_layout is not None else base.layout
        if layout_similarity(measure.layout, reference) < config.moved_similarity:
            return "moved"
        return None

    def _learn(self, measure: ViewMeasure, elapsed: float) -> None:
        if self.baseline is None:
            self.baseline = measure
            return
        self.learned_s += elapsed
        alpha = min(1.0, max(elapsed, SAMPLE_INTERVAL_S) / self.config.baseline_seconds)
        base = self.baseline
        self.baseline = ViewMeasure(
            brightness=(1 - alpha) * base.brightness + alpha * measure.brightness,
            contrast=(1 - alpha) * base.contrast + alpha * measure.contrast,
            sharpness=(1 - alpha) * base.sharpness + alpha * measure.sharpness,
            layout=(1 - alpha) * base.layout + alpha * measure.layout,
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
