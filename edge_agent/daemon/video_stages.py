"""The daemon's video stages: one reader + pump per camera, one shared detector worker.

camera thread (CameraSource, latest frame) → pump thread (motion gate) → DetectorWorker
(one thread, fair queue) → CameraChain.on_detections (tracker + rules) → outbox.
The chain itself is edge_agent/chain.py, the same code `edge-agent replay` runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from edge_agent.chain import CameraChain, make_motion_gate
from edge_agent.clock import Clock
from edge_agent.config import AgentConfig
from edge_agent.config.cameras import CameraConfig
from edge_agent.daemon.health import Health
from edge_agent.daemon.parts import PipelineParts
from edge_agent.daemon.stage_kinds import ComponentStage
from edge_agent.daemon.supervisor import Probe, StageSpec
from edge_agent.events import AlertFactory, AlertSink
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
        self._keep_episodes = False  # the next pipeline takes over (or ends) the open episodes
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
        if not self._finished and not self._keep_episodes:
            self.chain.finish("camera_stopped")

    def hand_over(self, keep_source: bool) -> CameraSource | None:
        """Before a reload stops this pump: its episodes go to the next pipeline, and its reader too if kept."""
        self._keep_episodes = True
        self._handed_over = keep_source
        return self.source if keep_source else None

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


def video_stages(
    config: AgentConfig, sink: AlertSink, factory: AlertFactory, clock: Clock, health: Health
) -> PipelineParts:
    """Loads the model (verifying it) and builds every stage; starts nothing.

    `health` outlives reloads (the delivery keeps it), so an outage published before a
    reload or a stage restart is continued by the new reader and ended once, not raised again.
    """
    detector = Detector.from_config(config.detector, config.models_dir)
    engine = RuleEngine.from_config(config, factory, sink)
    cameras = [camera for camera in config.cameras if camera.enabled]
    chains = {
        camera.id: CameraChain(camera, engine, tracker_config=camera.tracker, motion_gate=make_motion_gate(camera))
        for camera in cameras
    }

    def on_result(detections) -> None:
        chains[detections.camera_id].on_detections(detections)

    figures = _VideoFigures(config, detector, engine, chains, clock)

    def worker_stage():
        worker = DetectorWorker(detector, on_result, queue_size=config.detector.queue_size)
        figures.workers.append(worker)
        return ComponentStage("detector", worker, alive=worker.alive, progress=_worker_progress(worker))

    inherited: dict[str, CameraSource] = {}  # readers a reload hands over, each used by the first pump only

    def pump_stage(camera: CameraConfig):
        def make():
            pump = CameraPump(
                camera,
                chains[camera.id],
                lambda frame: figures.workers[-1].submit(frame),
                clock,
                health.camera_event,
                offline=health.camera_offline(camera.id),
                source=inherited.pop(camera.id, None),
            )
            figures.pumps[camera.id] = pump
            return pump

        return make

    specs = [StageSpec("detector", worker_stage)]
    specs += [StageSpec(f"camera-{camera.id}", pump_stage(camera)) for camera in cameras]
    return PipelineParts(
        specs,
        cameras=figures.cameras,
        lines=figures.lines,
        detector=figures.detector,
        rule_engine=engine,
        chains=chains,
        pumps=figures.pumps,
        inherited_sources=inherited,
    )


class _VideoFigures:
    """Telemetry sections of the video stages, read from whichever worker and pumps are current."""

    def __init__(
        self, config: AgentConfig, detector: Detector, engine: RuleEngine, chains: dict[str, CameraChain], clock: Clock
    ):
        self.config = config
        self.detector_model = detector
        self.engine = engine
        self.chains = chains
        self.workers: list[DetectorWorker] = []  # the last one is current (the supervisor may restart it)
        self.pumps: dict[str, CameraPump] = {}
        self._processed = _RateMeter(clock)

    def cameras(self) -> dict:
        work = self.workers[-1].stats() if self.workers else {}
        figures = {}
        for camera_id, pump in self.pumps.items():
            chain = self.chains[camera_id]
            figures[camera_id] = _camera_figures(pump, chain, work.get(camera_id))
            figures[camera_id]["processed_fps"] = self._processed.rate(camera_id, chain.stats().detected)
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
