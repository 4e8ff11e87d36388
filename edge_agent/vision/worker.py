"""One detector thread serving every camera through a bounded, fair queue.

Each camera has at most one pending frame: a newer frame replaces the older one in place
(counted as a drop), so a slow detector never builds up lag. Cameras are served in the order
their pending frame first arrived, so N cameras share the detector round-robin. When
`queue_size` cameras are already waiting, a new camera's frame displaces the oldest pending
one (also counted).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from edge_agent.events.vision_types import Frame

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CameraWorkStats:
    submitted: int = 0
    detector_calls: int = 0
    detector_ms: float = 0.0
    replaced: int = 0  # a newer frame of the same camera took its place
    displaced: int = 0  # pushed out because queue_size other cameras were waiting
    errors: int = 0  # the detector or the result consumer (tracker, rules) raised on a frame

    @property
    def dropped(self) -> int:
        return self.replaced + self.displaced

    @property
    def mean_ms(self) -> float:
        return self.detector_ms / self.detector_calls if self.detector_calls else 0.0


class DetectorWorker:
    def __init__(self, detector, on_result: Callable[..., None], queue_size: int = 8, with_frame: bool = False):
        """`detector` needs `detect_frame(frame) -> FrameDetections`; `with_frame`: `on_result(result, frame)`, for a
        consumer that needs the picture the result is of (evidence: daemon/video_stages.py)."""
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.detector = detector
        self.on_result = on_result
        self.with_frame = with_frame
        self.queue_size = queue_size
        self._pending: OrderedDict[str, Frame] = OrderedDict()
        self._stats: dict[str, CameraWorkStats] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._busy = False
        self._thread: threading.Thread | None = None

    def start(self) -> DetectorWorker:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="detector-worker", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def submit(self, frame: Frame) -> None:
        with self._cond:
            stats = self._stats_for(frame.camera_id)
            stats.submitted += 1
            if frame.camera_id in self._pending:
                self._pending[frame.camera_id] = frame  # keeps its place in line
                stats.replaced += 1
            else:
                if len(self._pending) >= self.queue_size:
                    oldest, _ = self._pending.popitem(last=False)
                    self._stats_for(oldest).displaced += 1
                self._pending[frame.camera_id] = frame
            self._cond.notify_all()

    def stats(self) -> dict[str, CameraWorkStats]:
        with self._cond:
            return {
                camera: CameraWorkStats(**{f: getattr(s, f) for f in CameraWorkStats.__slots__})
                for camera, s in self._stats.items()
            }

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is pending or running (for shutdown and tests)."""
        return self._wait(lambda: not self._pending and not self._busy, timeout)

    def wait_taken(self, timeout: float) -> bool:
        """True once the worker has taken every pending frame (it may still be running one).

        A replay that must detect every frame submits the next frame after this, so decoding,
        queueing and detection overlap without any frame being replaced.
        """
        return self._wait(lambda: not self._pending, timeout)

    def _wait(self, done, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _stats_for(self, camera_id: str) -> CameraWorkStats:
        stats = self._stats.get(camera_id)
        if stats is None:
            stats = self._stats[camera_id] = CameraWorkStats()
        return stats

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                _, frame = self._pending.popitem(last=False)
                self._busy = True
                self._cond.notify_all()
            try:
                self._process(frame)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _process(self, frame: Frame) -> None:
        started = time.perf_counter()
        try:
            result = self.detector.detect_frame(frame)
        except Exception:  # one bad frame must not stop detection for every camera
            log.exception("detector failed on camera %s frame %s", frame.camera_id, frame.seq)
            with self._cond:
                self._stats_for(frame.camera_id).errors += 1
            return
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        with self._cond:
            stats = self._stats_for(frame.camera_id)
            stats.detector_calls += 1
            stats.detector_ms += elapsed_ms
        try:
            if self.with_frame:
                self.on_result(result, frame)
            else:
                self.on_result(result)
        except Exception:  # a tracker or rule bug loses this frame's result, counted like a detector error
            log.exception("result consumer failed on camera %s frame %s", frame.camera_id, frame.seq)
            with self._cond:
                self._stats_for(frame.camera_id).errors += 1
