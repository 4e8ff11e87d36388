"""Camera health: offline/online after a grace period, reconnect back-off, frozen-frame stalls.

A CameraSource reports `CameraHealthEvent`s (no device identity needed); the daemon's
`daemon/health.py` turns them into published start/end alert pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from edge_agent.config.cameras import CameraHealthConfig

HealthKind = Literal["offline", "online", "tamper", "tamper_cleared"]


@dataclass(frozen=True, slots=True)
class CameraHealthEvent:
    camera_id: str
    kind: HealthKind
    at: float  # wall time
    monotonic: float
    reason: str = ""  # tamper: covered | blurred | moved; offline: last error
    details: dict = field(default_factory=dict)


class OnlineState:
    """Offline once no frame arrived for `offline_grace` s; online again on the next frame."""

    def __init__(self, camera_id: str, config: CameraHealthConfig, started_monotonic: float, offline: bool = False):
        self.camera_id = camera_id
        self.grace = config.offline_grace
        self.last_frame = started_monotonic
        # A reader restarted (stage restart, reload) during an outage continues it: no second
        # offline start, and its first frame ends the outage already published.
        self.offline_since: float | None = started_monotonic if offline else None
        self.last_error = ""

    def on_frame(self, wall: float, monotonic: float) -> CameraHealthEvent | None:
        self.last_frame = monotonic
        if self.offline_since is None:
            return None
        outage = monotonic - self.offline_since
        self.offline_since = None
        return CameraHealthEvent(self.camera_id, "online", wall, monotonic, details={"offline_s": round(outage, 3)})

    def check(self, wall: float, monotonic: float) -> CameraHealthEvent | None:
        silent = monotonic - self.last_frame
        if self.offline_since is not None or silent < self.grace:
            return None
        self.offline_since = self.last_frame
        return CameraHealthEvent(
            self.camera_id,
            "offline",
            wall,
            monotonic,
            reason=self.last_error,
            details={"silent_s": round(silent, 3)},
        )

    def hung(self, wall: float, monotonic: float, reason: str) -> CameraHealthEvent | None:
        """The reader is stuck inside OpenCV: offline now, without waiting for the grace period."""
        if self.offline_since is not None:
            return None
        self.offline_since = self.last_frame
        silent = round(monotonic - self.last_frame, 3)
        return CameraHealthEvent(
            self.camera_id, "offline", wall, monotonic, reason=reason, details={"silent_s": silent}
        )

    @property
    def is_offline(self) -> bool:
        return self.offline_since is not None


class FrozenDetector:
    """Counts consecutive frames identical to the previous one (a hung encoder repeats itself)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.repeats = 0
        self._previous: np.ndarray | None = None

    def is_frozen(self, image: np.ndarray) -> bool:
        thumb = cv2.resize(image, (32, 18), interpolation=cv2.INTER_AREA)
        if self._previous is not None and np.array_equal(thumb, self._previous):
            self.repeats += 1
        else:
            self.repeats = 0
        self._previous = thumb
        return self.repeats + 1 >= self.limit

    def reset(self) -> None:
        self.repeats, self._previous = 0, None
