"""Camera sources: a reader thread per camera that keeps only the latest frame (a clip for replay: clip_frames.py).

`CameraSource` reconnects with back-off and jitter, treats a stall (no frame for
`stall_timeout`, or `frozen_frames` identical frames) as a broken connection, and reports
health through `on_health(CameraHealthEvent)`; the daemon's health module turns those into Alerts.

Timestamps: live sources stamp frames with the clock. A file read with `realtime: false`
stamps frames on the clip's own timeline, so dwell times follow clip time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2

from edge_agent.backoff import FullJitterBackoff
from edge_agent.clock import Clock, SystemClock
from edge_agent.config.cameras import CameraConfig
from edge_agent.events.vision_types import Frame
from edge_agent.faults import CAMERA_READ, reached
from edge_agent.sources.camera_health import CameraHealthEvent, FrozenDetector, OnlineState
from edge_agent.sources.capture import LIVE_KINDS, CaptureOpenError, clip_position_s, open_capture, redact, source_kind
from edge_agent.sources.tamper import TamperDetector

log = logging.getLogger(__name__)

HealthCallback = Callable[[CameraHealthEvent], None]
_POLL_S = 0.1  # longest a back-off wait goes without checking health and stop
# A frame a little early still counts as due, so capture jitter does not halve the rate when
# the capture fps is a multiple of detect_fps; small enough never to take a frame one capture
# interval early at 30 fps capture and up to 15 fps detection.
EARLY_TOLERANCE = 0.05


@dataclass(frozen=True, slots=True)
class CameraStats:
    camera_id: str
    capture_fps: float  # measured over the last few seconds
    frames_captured: int
    frames_delivered: int
    frames_dropped: int  # replaced by a newer frame before anyone took them (includes decimation)
    reconnects: int
    online: bool
    finished: bool
    last_error: str


class CameraSource:
    def __init__(
        self,
        camera_cfg: CameraConfig,
        clock: Clock | None = None,
        on_health: HealthCallback | None = None,
        backoff: FullJitterBackoff | None = None,
        offline: bool = False,
    ):
        """`offline`: an outage of this camera is already published (see OnlineState)."""
        self.config = camera_cfg
        self.clock = clock or SystemClock()
        self.on_health = on_health or (lambda event: None)
        self.kind = source_kind(camera_cfg)
        health = camera_cfg.health
        self.backoff = backoff or FullJitterBackoff(
            health.reconnect_min_delay, health.reconnect_max_delay, floor=health.reconnect_min_delay
        )
        self.period = 1.0 / camera_cfg.detect_fps
        self._state = OnlineState(camera_cfg.id, health, self.clock.monotonic(), offline=offline)
        self._frozen = FrozenDetector(health.frozen_frames)
        self._tamper = TamperDetector(camera_cfg.id, health.tamper)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: Frame | None = None
        self._delivered_seq = -1
        self._next_due: float | None = None
        self._seq = 0
        self._captured = self._delivered = self._dropped = self._reconnects = 0
        self._fps_window: list[float] = []
        self._finished = False
        # Set while the reader is inside OpenCV (open or read): a call that outlives the camera's
        # stall timeout (OpenCV's own timeout, plus a second) is a hung reader, seen from outside.
        self.blocked_since: float | None = None
        self._blocked_in = ""
        self._hung_reported = False

    # -- consumer side -------------------------------------------------------------------
    def start(self) -> CameraSource:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"camera-{self.config.id}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the reader; one hung inside OpenCV is abandoned at once (a Python thread cannot be killed)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(0.0 if self.hung_for() is not None else timeout)

    def hung_for(self) -> float | None:
        """Seconds the reader has been stuck in one OpenCV call, once past the stall timeout; else None."""
        since = self.blocked_since
        if since is None or self._thread is None or not self._thread.is_alive():
            return None
        blocked = self.clock.monotonic() - since
        return blocked if blocked > self.config.health.stall_timeout + 1.0 else None

    def report_hung(self, blocked: float) -> str:
        """Called from outside the reader: raise camera.offline (once) for a reader stuck in OpenCV."""
        reason = f"camera {self.config.id!r}: reader stuck in {self._blocked_in}() for {blocked:.1f}s"
        if not self._hung_reported:
            self._hung_reported = True
            log.warning("%s; abandoning it", reason)
            self._state.last_error = reason
            event = self._state.hung(self.clock.wall(), self.clock.monotonic(), reason)
            if event is not None:
                self._emit(event)
        return reason

    def latest(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet handed out, no sooner than one detect period after the last one.

        Returns None on timeout, after stop, or when a non-looping file has ended.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                frame = self._latest
                if frame is not None and frame.seq > self._delivered_seq and self._is_due(frame):
                    self._deliver(frame)
                    self._cond.notify_all()
                    return frame
                if self._stop.is_set() or self._finished:  # a finished file gets no newer, due frame
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining if remaining is not None else 1.0)

    def peek(self) -> Frame | None:
        """The newest decoded frame without handing it out: the pump still gets it (the technician's live view)."""
        with self._cond:
            return self._latest

    def _is_due(self, frame: Frame) -> bool:
        return self._next_due is None or frame.monotonic >= self._next_due - EARLY_TOLERANCE * self.period

    def _deliver(self, frame: Frame) -> None:
        due = self._next_due
        late = due is None or frame.monotonic - due > self.period
        self._next_due = frame.monotonic + self.period if late else due + self.period
        self._delivered_seq = frame.seq
        self._delivered += 1

    def stats(self) -> CameraStats:
        with self._cond:
            window = self._fps_window
            fps = (len(window) - 1) / (window[-1] - window[0]) if len(window) > 1 and window[-1] > window[0] else 0.0
            return CameraStats(
                self.config.id,
                fps,
                self._captured,
                self._delivered,
                self._dropped,
                self._reconnects,
                not self._state.is_offline,
                self._finished,
                self._state.last_error,
            )

    # -- reader thread ---------------------------------------------------------------------
    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            if not first:
                self._reconnects += 1
                self._wait_backoff()
                if self._stop.is_set():
                    break
            first = False
            try:
                capture = self._blocking("open", open_capture, self.config, self.config.health.stall_timeout)
            except CaptureOpenError as exc:
                self._note_error(str(exc))
                continue
            except Exception as exc:  # OpenCV raises cv2.error on odd URLs; never let the thread die
                self._note_error(f"camera {self.config.id!r}: {exc}")
                continue
            try:
                ended = self._read_until_broken(capture)
            finally:
                capture.release()
            if ended:
                break
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def _read_until_broken(self, capture: cv2.VideoCapture) -> bool:
        """Read frames until the stream breaks (False) or a non-looping file ends (True)."""
        self._frozen.reset()
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        clip_timeline = self.kind == "file" and not self.config.realtime
        started_wall, started_mono = self._timeline_start()
        pace_started, index = time.monotonic(), 0
        while not self._stop.is_set():
            ok, image = self._blocking("read", _read, capture)
            if self._stop.is_set():
                break  # stopped (or abandoned as hung) while inside read(): this frame goes nowhere
            if not ok or image is None:
                if self.kind == "file":
                    if self.config.loop and index > 0:
                        return False  # reopen from the start; counted as a reconnect
                    return not self.config.loop
                self._note_error(
                    f"camera {self.config.id!r}: stream {redact(self.config.url)} stopped delivering frames"
                )
                return False
            position = clip_position_s(capture, index, fps)
            index += 1
            if self.kind == "file" and self.config.realtime:
                self._stop.wait(max(0.0, pace_started + position - time.monotonic()))
            if clip_timeline:
                wall, mono = started_wall + position, started_mono + position
            else:
                wall, mono = self.clock.wall(), self.clock.monotonic()
            if self.kind in LIVE_KINDS and self._frozen.is_frozen(image):
                self._note_error(f"camera {self.config.id!r}: {self._frozen.limit} identical frames (frozen stream)")
                return False
            self._publish(Frame(self.config.id, self._seq, wall, mono, image))
        return True

    def _blocking(self, what: str, call, *args):
        self._blocked_in, self.blocked_since = what, self.clock.monotonic()
        try:
            return call(*args)
        finally:
            self.blocked_since = None

    def _timeline_start(self) -> tuple[float, float]:
        last = self._latest
        if last is None or not (self.kind == "file" and not self.config.realtime):
            return self.clock.wall(), self.clock.monotonic()
        return last.captured_at + self.period, last.monotonic + self.period  # a looped clip keeps moving forward

    def _publish(self, frame: Frame) -> None:
        self._seq += 1
        event = self._state.on_frame(frame.captured_at, frame.monotonic)
        self.backoff.reset()
        with self._cond:
            if self.kind == "file" and not self.config.realtime:
                # Replay: a frame that is due is never overwritten; the reader waits for the consumer.
                while self._pending_due() and not self._stop.is_set():
                    self._cond.wait(_POLL_S)
            if self._pending_due() is not None:
                self._dropped += 1
            self._latest = frame
            self._captured += 1
            self._fps_window.append(time.monotonic())
            del self._fps_window[:-50]
            self._cond.notify_all()
        if event is not None:
            self._emit(event)
        for tamper_event in self._tamper.observe(frame):
            self._emit(tamper_event)

    def _pending_due(self) -> bool | None:
        """None: nothing pending; else whether the pending frame is due for delivery."""
        latest = self._latest
        if latest is None or latest.seq <= self._delivered_seq:
            return None
        return self._is_due(latest)

    def _wait_backoff(self) -> None:
        until = time.monotonic() + self.backoff.next_delay()
        while not self._stop.is_set():
            self._check_offline()
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            self._stop.wait(min(remaining, _POLL_S))

    def _check_offline(self) -> None:
        event = self._state.check(self.clock.wall(), self.clock.monotonic())
        if event is not None:
            self._emit(event)

    def _note_error(self, message: str) -> None:
        if message != self._state.last_error:
            log.warning("%s", message)
        self._state.last_error = message
        self._check_offline()

    def _emit(self, event: CameraHealthEvent) -> None:
        try:
            self.on_health(event)
        except Exception:  # a broken consumer must not stop the camera
            log.exception("health callback failed for camera %s", self.config.id)


def _read(capture: cv2.VideoCapture):
    reached(CAMERA_READ)  # a test's hang inside read(), where a real OpenCV hang happens (edge_agent/faults.py)
    return capture.read()
