"""One camera's video chain: motion gate → detector → tracker → rule engine → AlertSink.

`CameraChain` is shared by `edge-agent run` and `edge-agent replay`, so a clip
replayed on a laptop goes through exactly the code the box runs:

- replay (edge_agent/replay) and any single-threaded caller call `chain.process(frame, detect)`;
- the daemon, whose DetectorWorker serves several cameras from one thread,
  asks `chain.wants_detection(frame)` before queueing a frame and hands the
  worker's result to `chain.on_detections(frame_detections)`.

For one camera, `on_detections` must be called from one thread at a time (the
tracker and the camera's rule state are not locked); different cameras may run
on different threads against the same RuleEngine.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge_agent.config.cameras import CameraConfig
from edge_agent.config.tracking import TrackerConfig
from edge_agent.events import Frame, FrameDetections, Track
from edge_agent.rules.engine import RuleEngine
from edge_agent.rules.marks import detection_marks, track_marks
from edge_agent.tracking import Tracker

log = logging.getLogger(__name__)

Detect = Callable[[Frame], FrameDetections]


@dataclass(frozen=True, slots=True)
class SeenFrame:
    """The marks of the last frame the detector ran on (rules/annotate.py's, copied at that frame)."""

    seq: int
    monotonic: float
    detections: list[dict]
    tracks: list[dict]


@dataclass(frozen=True, slots=True)
class ChainStats:
    camera_id: str
    frames: int  # frames offered to the chain
    detected: int  # frames the detector ran on
    gated: int  # frames the motion gate skipped
    tracker_ms: float  # mean tracker + rules time per detected frame
    live_tracks: int

    @property
    def motion_gate_ratio(self) -> float:
        """Share of frames the gate let through to the detector."""
        return self.detected / self.frames if self.frames else 0.0


def changed_regions(changed) -> list[list[float]]:
    from edge_agent.vision.motion import changed_regions as regions  # the vision stage owns motion detection

    return regions(changed)


def make_motion_gate(camera: CameraConfig):
    """The vision stage's MotionGate for this camera, or None when gating is off."""
    if not camera.motion.enabled:
        return None
    from edge_agent.vision.motion import MotionGate  # the vision stage owns motion detection

    return MotionGate(camera.motion)


class CameraChain:
    def __init__(
        self,
        camera: CameraConfig,
        engine: RuleEngine,
        *,
        tracker: Tracker | None = None,
        tracker_config: TrackerConfig | None = None,
        motion_gate=None,
    ):
        """`motion_gate`: has `should_detect(frame, has_live_tracks) -> bool`; None detects every frame."""
        self.camera = camera
        self.engine = engine
        self.engine.camera(camera.id)  # fail now, not on the first frame, if the engine lacks the camera
        self.tracker = tracker or Tracker(tracker_config)
        self.motion_gate = motion_gate
        self._lock = threading.Lock()  # counters only; read by telemetry
        self._frames = self._detected = self._gated = 0
        self._tracker_s = 0.0
        self._seen: SeenFrame | None = None  # the last detected frame's marks, for the page's overlay (memory only)

    def adopt(self, predecessor: CameraChain) -> bool:
        """Keep the predecessor's tracker (track ids, so the rules' per-track state stays true) if its config is the
        same; else continue its id counter. True when the tracker was kept."""
        if predecessor.camera.id != self.camera.id or predecessor.tracker.config != self.tracker.config:
            self.tracker.adopt(predecessor.tracker)
            return False
        self.tracker = predecessor.tracker
        return True

    def wants_detection(self, frame: Frame) -> bool:
        """Motion gate decision for one frame; counts the frame either way."""
        wanted = self.motion_gate is None or self.motion_gate.should_detect(frame, self.tracker.has_live_tracks)
        with self._lock:
            self._frames += 1
            if not wanted:
                self._gated += 1
        return wanted

    def on_detections(self, detections: FrameDetections) -> list[Track]:
        """Track one frame's detections and run the rules; returns the frame's confirmed tracks."""
        if detections.camera_id != self.camera.id:
            raise ValueError(f"detections for camera {detections.camera_id!r} fed to the chain of {self.camera.id!r}")
        started = time.perf_counter()
        tracks = self.tracker.update(detections)
        self.engine.process(detections, tracks)
        seen = SeenFrame(
            detections.seq, detections.monotonic, detection_marks(detections.detections), track_marks(tracks)
        )
        self._seen = seen  # replaced whole: the page reads it from another thread
        elapsed = time.perf_counter() - started
        with self._lock:
            self._detected += 1
            self._tracker_s += elapsed
        return tracks

    def process(self, frame: Frame, detect: Detect) -> list[Track] | None:
        """Gate, detect, track and apply the rules to one frame; None when the gate skipped it."""
        if not self.wants_detection(frame):
            return None
        return self.on_detections(detect(frame))

    def sight(self, occupancy_classes: Sequence[str]) -> dict:
        """What the detector sees now, as the page's overlay draws it: the last detected frame's detections and
        tracks (with short trails), the motion gate's changed regions and masks, and each zone's occupancy (objects
        of `occupancy_classes` with their foot inside, as the counts report it). Values only, nothing kept."""
        seen = self._seen
        gate = self.motion_gate
        return {
            "camera": self.camera.id,
            "seq": seen.seq if seen else None,
            "detections": seen.detections if seen else [],
            "tracks": seen.tracks if seen else [],
            "motion": {
                "enabled": gate is not None,
                "fraction": round(gate.last_motion_fraction, 4) if gate is not None else None,
                "min_area": self.camera.motion.min_area,
                "regions": changed_regions(gate.last_changed) if gate is not None else [],
            },
            "masks": [[list(point) for point in polygon] for polygon in self.camera.motion.masks],
            "occupancy": self.engine.camera(self.camera.id).zone_occupancy(occupancy_classes),
        }

    def finish(self, reason: str = "source_ended") -> None:
        """The source has ended (or the camera is stopping): close open rule episodes."""
        self.engine.finish(self.camera.id, reason)

    def stats(self) -> ChainStats:
        with self._lock:
            return ChainStats(
                camera_id=self.camera.id,
                frames=self._frames,
                detected=self._detected,
                gated=self._gated,
                tracker_ms=1000.0 * self._tracker_s / self._detected if self._detected else 0.0,
                live_tracks=len(self.tracker.live_tracks()),
            )
