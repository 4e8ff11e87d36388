"""Camera health: offline/online after a grace period, reconnect back-off, frozen-frame stalls.

A CameraSource reports `CameraHealthEvent`s (no device identity needed); the agent turns them
into published Alerts with `HealthAlerts` (camera.offline and camera.tamper as start/end pairs,
source kind "camera"). An outage or tamper is a start/end pair: the end alert carries the
start alert's event_id in `related_event_id`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from edge_agent.config.cameras import CameraHealthConfig
from edge_agent.events.alert import Alert
from edge_agent.events.factory import AlertFactory

HealthKind = Literal["offline", "online", "tamper", "tamper_cleared"]


@dataclass(frozen=True, slots=True)
class CameraHealthEvent:
    camera_id: str
    kind: HealthKind
    at: float  # wall time
    monotonic: float
    reason: str = ""  # tamper: covered | blurred | moved; offline: last error
    details: dict = field(default_factory=dict)


_ALERT_SHAPE = {  # kind -> (alert type, severity, phase)
    "offline": ("camera.offline", "major", "start"),
    "online": ("camera.offline", "info", "end"),  # an end alert of the offline condition, like reader.offline
    "tamper": ("camera.tamper", "major", "start"),
    "tamper_cleared": ("camera.tamper", "info", "end"),
}
_STARTS = {"online": "offline", "tamper_cleared": "tamper"}


class HealthAlerts:
    """Converts health events to Alerts, linking each end to its start."""

    def __init__(self, factory: AlertFactory):
        self.factory = factory
        self._open: dict[tuple[str, str], Alert] = {}

    def convert(self, event: CameraHealthEvent) -> Alert:
        alert_type, severity, phase = _ALERT_SHAPE[event.kind]
        start = self._open.pop((event.camera_id, _STARTS[event.kind]), None) if event.kind in _STARTS else None
        started_at = event.at
        extra = dict(event.details) or None
        alert = self.factory.make(
            alert_type,
            severity,
            ("camera", event.camera_id),
            started_at=started_at,
            ended_at=event.at if phase == "end" else None,
            phase=phase,
            related_event_id=start.event_id if start else None,
            details={"reason": event.reason or None, "extra": extra},
        )
        if start is not None:
            alert = alert.model_copy(update={"started_at": start.started_at})
        if phase == "start":
            self._open[(event.camera_id, event.kind)] = alert
        return alert

    def is_offline(self, camera_id: str) -> bool:
        """A camera.offline start was published and its end not yet: a new reader must continue it."""
        return (camera_id, "offline") in self._open


class Backoff:
    """Exponential back-off with jitter: each delay is drawn from [min, min * 2^attempt] capped at max."""

    def __init__(self, min_delay: float, max_delay: float, rng: random.Random | None = None):
        self.min_delay, self.max_delay = min_delay, max(max_delay, min_delay)
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.max_delay, self.min_delay * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return self.rng.uniform(self.min_delay, ceiling)

    def reset(self) -> None:
        self.attempt = 0


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
            self.camera_id, "offline", wall, monotonic, reason=self.last_error,
            details={"silent_s": round(silent, 3)},
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
