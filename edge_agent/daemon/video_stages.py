"""The daemon's video stages: one reader + pump per camera, one shared detector worker.

camera thread (CameraSource, latest frame) → pump thread (motion gate) → DetectorWorker
(one thread, fair queue) → CameraChain.on_detections (tracker + rules) → outbox.
The chain itself is edge_agent/chain.py, the same code `edge-agent replay` runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from edge_agent.chain import CameraChain, make_motion_gate
from edge_agent.clock import Clock
from edge_agent.config import AgentConfig
from edge_agent.config.cameras import CameraConfig
from edge_agent.daemon.delivery import Services
from edge_agent.daemon.stage_kinds import ComponentStage, Stages
from edge_agent.daemon.supervisor import Probe, StageSpec
from edge_agent.daemon.telemetry import Section
from edge_agent.evidence.evidence_sink import ClipWriter, EvidenceCapture
from edge_agent.rules.engine import RuleEngine
from edge_agent.sources.camera import CameraSource
from edge_agent.vision.detector import Detector
from edge_agent.vision.worker import DetectorWorker

log = logging.getLogger(__name__)


class CameraPump:
    """A camera's reader plus the thread that gates its frames into the shared detector queue."""

    def __init__(
        self,
        camera: CameraConfig,
        chain: CameraChain,
        submit: Callable,
        clock: Clock,
        on_health,
        offline: bool = False,
        source: CameraSource | None = None,
    ):
        """`source`: a running reader handed over by the previous pipeline (a reload that kept the camera)."""
        self.name = f"camera-{camera.id}"
        self.camera = camera
        self.chain = chain
        self.submit = submit  # to whichever detector worker is current (it may have been restarted)
        self._inherited = source is not None
        self.source = source or CameraSource(camera, clock, on_health=on_health, offline=offline)
        self._handed_over = False  # the reader goes on in the next pipeline
        self._stopping = threading.Event()
        self._beats = 0
        self._error: str | None = None
        self._finished = False
        self._thread = threading.Thread(target=self._run, name=f"pump-{camera.id}", daemon=True)

    def start(self) -> None:
        if not self._inherited:
            self.source.start()
        self._inherited = False  # a restart by the supervisor opens a fresh reader
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        if not self._handed_over:
            self.source.stop(timeout)
        self._thread.join(timeout)
        if not self._finished:  # ends nothing once a reload took the engine's episodes (RuleEngine.hand_over)
            self.chain.finish("camera_stopped")

    def give_source(self) -> CameraSource:
        """Before a reload stops this pump: its reader goes on in the next pipeline, so stopping the pump leaves it."""
        self._handed_over = True
        return self.source

    def poll(self) -> Probe:
        # Reconnecting is the source's own job (with back-off); the supervisor watches the pump,
        # and the reader from outside: one stuck inside OpenCV cannot notice that itself.
        hung = self.source.hung_for()
        if hung is not None:
            return Probe(alive=False, error=self.source.report_hung(hung))
        return Probe(alive=self._thread.is_alive(), progress=self._beats, error=self._error)

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                frame = self.source.latest(timeout=0.5)
                self._beats += 1
                if frame is None:
                    if self.source.stats().finished and not self._finished:
                        self._finished = True
                        self.chain.finish("source_ended")
                    if self._finished:
                        self._stopping.wait(0.5)
                    continue
                if self.chain.wants_detection(frame):
                    self.submit(frame)
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            log.exception("camera pump %s crashed", self.camera.id, extra={"camera": self.camera.id})


class CameraFeed:
    """One camera of a build: its chain, the pump the supervisor runs now, and a reader a reload handed over.

    What of a camera outlives a build (the Carried protocol of daemon/parts.py): the outgoing feed hands its running
    reader to a successor whose camera config is unchanged (no reopen), and the incoming one takes that reader and the
    tracker (chain.py `adopt`)."""

    def __init__(self, camera: CameraConfig, chain: CameraChain):
        self.camera = camera
        self.chain = chain
        self.pump: CameraPump | None = None  # the current one (the supervisor may renew it)
        self._handed: CameraSource | None = None  # the reader this feed gave its successor, until it adopts it
        self._inherited: CameraSource | None = None  # the reader the predecessor gave, until the first pump takes it

    def hand_over(self, successor: CameraFeed | None) -> None:
        if successor is not None and successor.camera == self.camera and self.pump is not None:
            self._handed = self.pump.give_source()

    def adopt(self, predecessor: CameraFeed) -> bool:
        """Take the predecessor's reader (if it handed one over) and its tracker; True when the reader was kept."""
        self._inherited, predecessor._handed = predecessor._handed, None
        self.chain.adopt(predecessor.chain)
        return self._inherited is not None

    def take_inherited(self) -> CameraSource | None:
        """The handed-over reader, for the first pump only (a restart by the supervisor opens a fresh one)."""
        source, self._inherited = self._inherited, None
        return source

    def release(self) -> None:
        """The build is dropped: stop a reader handed over and never taken up (a reload that failed half way)."""
        for source in (self.take_inherited(), self._handed):
            if source is not None:
                source.stop(2.0)
        self._handed = None


@dataclass
class VideoParts:
    """What the video build yields: its stages, the rule engine (crossings are heard there), one feed per camera and
    the telemetry sections `cameras`, `lines` and `detector`."""

    stages: Stages
    engine: RuleEngine
    feeds: dict[str, CameraFeed]
    cameras: Section
    lines: Section
    detector: Section
    evidence: Section | None = None  # the evidence capture's figures, when a rule keeps evidence


def video_stages(config: AgentConfig, services: Services) -> VideoParts:
    """Loads the model (verifying it) and builds every stage; starts nothing.

    `services.health` outlives reloads (the delivery keeps it), so an outage published before a
    reload or a stage restart is continued by the new reader and ended once, not raised again.
    """
    clock, health = services.clock, services.health
    detector = Detector.from_config(config.detector, config.models_dir)
    cameras = [camera for camera in config.cameras if camera.enabled]
    capture = evidence_capture(config, services, {camera.id for camera in cameras})
    engine = RuleEngine.from_config(config, services.factory, capture or services.sink)
    feeds = {
        camera.id: CameraFeed(
            camera, CameraChain(camera, engine, tracker_config=camera.tracker, motion_gate=make_motion_gate(camera))
        )
        for camera in cameras
    }

    on_result = _result_handler(feeds, capture)
    figures = _VideoFigures(config, detector, engine, feeds, clock)

    def worker_stage():
        worker = DetectorWorker(
            detector, on_result, queue_size=config.detector.queue_size, with_frame=capture is not None
        )
        figures.workers.append(worker)
        return ComponentStage("detector", worker, alive=worker.alive, progress=_worker_progress(worker))

    def pump_stage(feed: CameraFeed):
        def make():
            camera = feed.camera
            feed.pump = CameraPump(
                camera,
                feed.chain,
                lambda frame: figures.workers[-1].submit(frame),
                clock,
                health.camera_event,
                offline=health.camera_offline(camera.id),
                source=feed.take_inherited(),
            )
            return feed.pump

        return make

    specs = [StageSpec("detector", worker_stage)]
    specs += [StageSpec(f"camera-{camera_id}", pump_stage(feed)) for camera_id, feed in feeds.items()]
    if capture is not None:
        specs.append(StageSpec("evidence", lambda: _writer_stage(capture, services)))
    closers = [feed.release for feed in feeds.values()]
    stages = Stages(specs, closers=closers)
    evidence = capture.figures if capture is not None else None
    return VideoParts(stages, engine, feeds, figures.cameras, figures.lines, figures.detector, evidence)


def _result_handler(feeds: dict[str, CameraFeed], capture: EvidenceCapture | None):
    """The detector worker's consumer: the camera's chain, with its frame shown to the evidence capture first."""

    def on_result(detections, frame=None) -> None:
        chain = feeds[detections.camera_id].chain
        if capture is None or frame is None or detections.camera_id not in capture.cameras:
            chain.on_detections(detections)
            return
        capture.seen(frame, detections)  # the rules' alerts find this frame and its person boxes
        try:
            chain.on_detections(detections)
        finally:
            capture.done(detections.camera_id)

    return on_result


def evidence_capture(config: AgentConfig, services: Services, cameras: set[str]) -> EvidenceCapture | None:
    """The build's evidence capture, when an enabled rule of a running camera keeps evidence; else None."""
    if services.desk is None:
        return None
    store = services.desk.store
    store.config = config.evidence  # retention and the fetch rate follow the running config
    rules = {
        rule.name: (rule.camera, rule.evidence)
        for rule in config.rules
        if rule.enabled and rule.camera in cameras and rule.evidence.wanted
    }
    if not rules:
        return None
    if any(evidence.privacy == "faces" for _, evidence in rules.values()):
        log.info("evidence privacy 'faces': no face-detector model is installed, people are pixelated instead")

    def disk_low() -> None:
        services.health.emit(
            "evidence.disk_low",
            f"free disk below evidence.min_free_mb ({config.evidence.min_free_mb} MB): no evidence is kept until "
            "there is room again; the outbox goes on",
        )

    return EvidenceCapture(
        rules, store, config.evidence, services.clock, services.sink, services.desk.announce_clip, disk_low
    )


def _writer_stage(capture: EvidenceCapture, services: Services) -> ComponentStage:
    writer = ClipWriter(capture, services.desk.store)
    return ComponentStage("evidence", writer, alive=writer.alive, progress=lambda: writer.loops)


class _VideoFigures:
    """Telemetry sections of the video stages, read from whichever worker and pumps are current."""

    def __init__(
        self, config: AgentConfig, detector: Detector, engine: RuleEngine, feeds: dict[str, CameraFeed], clock: Clock
    ):
        self.config = config
        self.detector_model = detector
        self.engine = engine
        self.feeds = feeds
        self.workers: list[DetectorWorker] = []  # the last one is current (the supervisor may restart it)
        self._processed = _RateMeter(clock)

    def cameras(self) -> dict:
        work = self.workers[-1].stats() if self.workers else {}
        figures = {}
        for camera_id, feed in self.feeds.items():
            if feed.pump is None:
                continue  # its stage has not started
            figures[camera_id] = _camera_figures(feed.pump, feed.chain, work.get(camera_id))
            figures[camera_id]["processed_fps"] = self._processed.rate(camera_id, feed.chain.stats().detected)
        return figures

    def lines(self) -> dict:
        return {
            f"{camera}/{line}": counts
            for camera, lines in self.engine.line_counts().items()
            for line, counts in lines.items()
        }

    def detector(self) -> dict:
        worker = self.workers[-1] if self.workers else None
        work = worker.stats() if worker else {}
        calls = sum(s.detector_calls for s in work.values())
        return {
            "model": self.config.detector.model,
            "variant": self.detector_model.variant,
            "calls": calls,
            "mean_ms": round(sum(s.detector_ms for s in work.values()) / calls, 2) if calls else 0.0,
            "queue_depth": worker.pending() if worker else 0,
            "dropped": sum(s.dropped for s in work.values()),
            "errors": sum(s.errors for s in work.values()),
        }


class _RateMeter:
    """Events per second between consecutive readings of a counter."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self._last: dict[str, tuple[float, int]] = {}

    def rate(self, key: str, count: int) -> float:
        now = self.clock.monotonic()
        previous, self._last[key] = self._last.get(key), (now, count)
        if previous is None or now <= previous[0] or count < previous[1]:
            return 0.0
        return round((count - previous[1]) / (now - previous[0]), 2)


def _worker_progress(worker: DetectorWorker):
    idle_ticks = [0]

    def progress():
        if worker.pending() == 0:
            idle_ticks[0] += 1  # nothing waiting: idle is healthy
            return ("idle", idle_ticks[0])
        return ("busy", sum(s.detector_calls + s.errors for s in worker.stats().values()))

    return progress


def _camera_figures(pump: CameraPump, chain: CameraChain, work) -> dict:
    source = pump.source.stats()
    chain_stats = chain.stats()
    figures = {
        "online": source.online,
        "capture_fps": round(source.capture_fps, 2),
        "frames_captured": source.frames_captured,
        "frames_dropped": source.frames_dropped,
        "reconnects": source.reconnects,
        "motion_gate_ratio": round(chain_stats.motion_gate_ratio, 3),
        "frames_gated": chain_stats.gated,
        "tracker_ms": round(chain_stats.tracker_ms, 2),
        "live_tracks": chain_stats.live_tracks,
    }
    if work is not None:
        figures.update(
            detector_calls=work.detector_calls, detector_ms=round(work.mean_ms, 2), detector_dropped=work.dropped
        )
    if source.last_error:
        figures["last_error"] = source.last_error[:200]
    return figures
