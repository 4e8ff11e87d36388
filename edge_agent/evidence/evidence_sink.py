"""Evidence taken as an alert starts: the frame that started it (people pixelated) and a clip around it.

`EvidenceCapture` is one video build's part. The detector thread shows it each detected frame of a camera with an
evidence rule (`seen`, then `done` once the rules have run on it), so when a rule emits a start the frame and the
person boxes of that very frame are at hand; `emit` (it wraps the build's AlertSink) encodes and hashes the
snapshot, puts its description into `details.evidence` and passes the alert on; the file is written by the writer
thread (`ClipWriter`, supervised as the `evidence` stage), so the alert never waits for the disk. A clip is complete
only `after` seconds later: its job waits for the writer thread too, and its record follows as an `evidence_kept`
message. Nothing here ever publishes a picture (evidence/desk.py does, on request).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2

from edge_agent.clock import Clock
from edge_agent.config.evidence import PRIVACY_NONE, EvidenceConfig, RuleEvidence
from edge_agent.events import Alert, AlertSink, Frame, FrameDetections
from edge_agent.events.alert import EvidenceRef
from edge_agent.evidence.frame_ring import FrameRing, scaled
from edge_agent.evidence.mjpeg_avi import mjpeg_avi
from edge_agent.store.evidence_files import EvidenceRecord, EvidenceStore, record_fields
from edge_agent.vision.pixelate import person_boxes, pixelate

log = logging.getLogger(__name__)

SNAPSHOT_WIDTH = 1280  # a snapshot is scaled down to this width at most: enough to judge, bounded to encode
PRUNE_EVERY_S = 60.0


@dataclass(frozen=True)
class ClipJob:
    event_id: str
    camera: str
    rule: str | None
    privacy: str
    start: float  # the alert's frame, wall time
    before: float
    after: float


class EvidenceCapture:
    def __init__(
        self,
        rules: dict[str, tuple[str, RuleEvidence]],
        store: EvidenceStore,
        config: EvidenceConfig,
        clock: Clock,
        sink: AlertSink,
        on_clip: Callable[[EvidenceRecord, int, float], None],
        on_disk_low: Callable[[], None],
    ):
        """`rules`: rule name -> (camera id, its evidence) for every rule that keeps some."""
        self.rules = rules
        self.store, self.config, self.clock, self.sink = store, config, clock, sink
        self.on_clip, self.on_disk_low = on_clip, on_disk_low
        self.rings: dict[str, FrameRing] = {}
        for camera in {camera for camera, evidence in rules.values() if evidence.clip is not None}:
            clips = [e for c, e in rules.values() if c == camera and e.clip is not None]
            seconds = max(e.clip.before + e.clip.after for e in clips) + 2.0
            pixelated = any(e.privacy != PRIVACY_NONE for e in clips)
            self.rings[camera] = FrameRing(seconds, config.clip_fps, config.clip_width, config.jpeg_quality, pixelated)
        self.cameras = {camera for camera, _ in rules.values()}
        self._current: dict[str, tuple[Frame, FrameDetections]] = {}
        self._jobs: list[ClipJob] = []
        self._writes: list[tuple[EvidenceRecord, bytes]] = []  # snapshots described, not yet on disk
        self._lock = threading.Lock()
        self.counts: Counter = Counter()
        self.capture_ms: deque[float] = deque(maxlen=1000)  # wall time the alert's storage waited for evidence
        self.capture_cpu_ms: deque[float] = deque(maxlen=1000)  # the detector thread's CPU time for it
        self._disk_low_reported = False

    # -- the detector thread ------------------------------------------------------------------------
    def seen(self, frame: Frame, detections: FrameDetections) -> None:
        """A detected frame of a camera with evidence rules, before its rules run."""
        self._current[frame.camera_id] = (frame, detections)
        ring = self.rings.get(frame.camera_id)
        if ring is not None and ring.offer(frame.captured_at, frame.image, person_boxes(detections.detections)):
            self.counts["ring_frames"] += 1

    def done(self, camera_id: str) -> None:
        self._current.pop(camera_id, None)  # the frame is not held past its rules

    # -- the AlertSink ---------------------------------------------------------------------------------
    def emit(self, alert: Alert) -> None:
        wanted = self.rules.get(alert.rule or "")
        if wanted is not None and alert.phase != "end" and alert.source.kind == "camera":
            try:
                alert = self._capture(alert, wanted[1])
            except Exception:  # evidence is never worth an alert: it goes on without
                self.counts["errors"] += 1
                log.exception("evidence for %s (rule %s) could not be kept", alert.event_id, alert.rule)
        self.sink.emit(alert)

    def _capture(self, alert: Alert, evidence: RuleEvidence) -> Alert:
        current = self._current.get(alert.source.id)
        if current is None:
            self.counts["no_frame"] += 1
            return alert
        frame, detections = current
        started, cpu_started = time.perf_counter(), time.thread_time()
        if evidence.clip is not None:
            job = ClipJob(
                alert.event_id,
                frame.camera_id,
                alert.rule,
                evidence.privacy,
                frame.captured_at,
                evidence.clip.before,
                evidence.clip.after,
            )
            with self._lock:
                self._jobs.append(job)
        if evidence.snapshot:
            record = self._snapshot(alert, evidence, frame, detections)
            if record is not None:
                ref = EvidenceRef(**record.details())
                alert = alert.model_copy(update={"details": alert.details.model_copy(update={"evidence": ref})})
        self.capture_ms.append((time.perf_counter() - started) * 1000.0)
        self.capture_cpu_ms.append((time.thread_time() - cpu_started) * 1000.0)
        return alert

    def _snapshot(self, alert, evidence: RuleEvidence, frame: Frame, detections) -> EvidenceRecord | None:
        image = scaled(frame.image, SNAPSHOT_WIDTH)
        if evidence.privacy != PRIVACY_NONE:
            image = pixelate(image, person_boxes(detections.detections))
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        if not ok:
            raise ValueError("the JPEG encoder refused the frame")
        fields = record_fields(
            alert.event_id, "snapshot", frame.captured_at, evidence.privacy, frame.camera_id, alert.rule
        )
        data = encoded.tobytes()
        record = self._kept(self.store.describe(fields, data))
        if record is not None:  # the alert waits for the hash only; the writer thread waits for the disk
            with self._lock:
                self._writes.append((record, data))
        return record

    def _kept(self, record: EvidenceRecord | None) -> EvidenceRecord | None:
        if record is None:
            self.counts["refused_disk_low"] += 1
            if not self._disk_low_reported:
                self._disk_low_reported = True
                self.on_disk_low()
        else:
            self._disk_low_reported = False
        return record

    # -- the writer thread ---------------------------------------------------------------------------
    def write_snapshots(self) -> int:
        with self._lock:
            writes, self._writes = self._writes, []
        for record, data in writes:
            self.store.commit(record, data)
        return len(writes)

    def write_due_clips(self, everything: bool = False) -> int:
        """Write every clip whose `after` has passed (all of them when stopping); returns how many were written."""
        now = self.clock.wall()
        with self._lock:
            due = [job for job in self._jobs if everything or job.start + job.after + 0.5 <= now]
            self._jobs = [job for job in self._jobs if job not in due]
        return sum(1 for job in due if self._write_clip(job))

    def _write_clip(self, job: ClipJob) -> bool:
        ring = self.rings[job.camera]
        frames = ring.between(job.start - job.before, job.start + job.after)
        if not frames:
            self.counts["clips_empty"] += 1
            return False
        duration = frames[-1].captured_at - frames[0].captured_at
        fps = (len(frames) - 1) / duration if duration > 0 else ring.fps
        data = mjpeg_avi([frame.jpeg for frame in frames], *ring.size, fps)
        fields = record_fields(job.event_id, "clip", frames[0].captured_at, job.privacy, job.camera, job.rule)
        record = self._kept(self.store.write(fields, data))
        if record is None:
            return False
        self.on_clip(record, len(frames), round(duration, 3))
        return True

    def figures(self) -> dict:
        """Telemetry `system.evidence` (with the store's): writes, ring memory, capture time."""
        with self._lock:
            pending = len(self._jobs)
        rings = sum(ring.bytes_held() for ring in self.rings.values())
        return {
            **self.counts,
            "clips_pending": pending,
            "ring_bytes": rings,
            "capture_ms_p95": _p95(self.capture_ms),
            "capture_cpu_ms_p95": _p95(self.capture_cpu_ms),
        }


def _p95(samples) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2) if ordered else 0.0


class ClipWriter:
    """The `evidence` stage: writes due clips and prunes by age and size, on its own thread."""

    def __init__(self, capture: EvidenceCapture, store: EvidenceStore):
        self.capture, self.store = capture, store
        self.loops = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="evidence", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)
        self.capture.write_snapshots()
        self.capture.write_due_clips(everything=True)  # what the ring holds now beats no clip at all

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        pruned_at = float("-inf")
        while not self._stopping.wait(0.25):
            self.loops += 1
            try:
                self.capture.write_snapshots()
                self.capture.write_due_clips()
                if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                    pruned_at = time.monotonic()
                    self.store.prune()
            except Exception:
                self.capture.counts["errors"] += 1
                log.exception("evidence writer")
