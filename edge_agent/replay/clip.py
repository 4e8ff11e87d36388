"""A clip through one camera's chain on the clip's own clock: the API under `edge-agent replay` and `demo`.

Frames are stamped on the clip's timeline, so dwell times and holds follow clip time
however fast the replay runs. Scripted door events (replay/doors.py) feed the door rules
and the tailgating fusion at their clip times, between frames. Configured actions are never run; an
`ActionPlanner` (actions/triggers.py) says, per alert, what the runner would have done on the clip's clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from edge_agent.actions.triggers import ActionPlanner, Decision, OnActions, actions_report
from edge_agent.chain import CameraChain, ChainStats, make_motion_gate
from edge_agent.clock import Clock, SystemClock
from edge_agent.config import AgentConfig
from edge_agent.config.cameras import CameraConfig
from edge_agent.events import Alert, AlertFactory, AlertSink, ListSink, TeeSink
from edge_agent.identity import device_id_for
from edge_agent.replay.clip_clock import ClipClock
from edge_agent.replay.doors import DoorEventsSource, DoorScript, load_door_events
from edge_agent.replay.motchallenge import MotExport
from edge_agent.rules.annotate import AlertOverlay, VideoAnnotator
from edge_agent.rules.engine import RuleEngine
from edge_agent.sources.clip_frames import iter_file_frames

Progress = Callable[[float, float], None]  # (clip seconds done, clip seconds in all; 0 when unknown)


@dataclass
class ReplayResult:
    camera_id: str
    alerts: list[Alert]
    rule_counts: dict[str, dict[str, int]]
    line_counts: dict[str, dict[str, int]]
    chain: ChainStats
    detector_ms: float
    wall_s: float
    doors: dict[str, int] | None = None  # fed, not_reached, covered, tailgating (with door events)
    actions: list[Decision] | None = None  # what the configured actions would have done (with actions)

    def report(self) -> str:
        rows = [
            f"replay of camera {self.camera_id}: {self.chain.frames} frames, {self.chain.detected} detected"
            f" ({self.detector_ms:.1f} ms each), tracker+rules {self.chain.tracker_ms:.2f} ms/frame,"
            f" {self.wall_s:.1f} s"
        ]
        rows.append("rule                      start   end  instant  suppressed")
        for name, counts in sorted(self.rule_counts.items()):
            rows.append(
                f"{name:<24} {counts['start']:>6} {counts['end']:>5} {counts['instant']:>8} {counts['suppressed']:>11}"
            )
        for line, counts in sorted(self.line_counts.items()):
            rows.append(f"line {line}: in {counts['in']} out {counts['out']}")
        if self.doors is not None:
            d = self.doors
            rows.append(
                f"door events: {d['fed']} fed, {d['not_reached']} after the end of the replay;"
                f" tailgating: {d['covered']} crossing(s) covered by a grant, {d['tailgating']} alert(s)"
            )
        if self.actions is not None:
            rows += actions_report(self.actions, self.alerts)
        return "\n".join(rows)


def choose_camera(config: AgentConfig, camera_id: str | None) -> CameraConfig:
    """The camera whose zones and rules apply: the named one, or the only enabled one."""
    if camera_id is not None:
        try:
            return config.camera(camera_id)
        except KeyError:
            known = [c.id for c in config.cameras]
            raise ValueError(f"camera {camera_id!r} is not in the config (known: {known})") from None
    enabled = [c for c in config.cameras if c.enabled]
    if len(enabled) != 1:
        ids = [c.id for c in enabled]
        raise ValueError(f"the config has {len(enabled)} enabled cameras ({ids}); choose one with --camera")
    return enabled[0]


def clip_length_s(clip: str | Path) -> float:
    """The clip's length in seconds from its container, 0.0 when the container does not say."""
    capture = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
    try:
        fps, frames = capture.get(cv2.CAP_PROP_FPS) or 0.0, capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0
    finally:
        capture.release()
    return frames / fps if fps > 0 and frames > 0 else 0.0


@dataclass(frozen=True)
class ReplayOptions:
    """What to replay besides the config and the clip, and where its by-products go; every field is optional."""

    camera_id: str | None = None  # whose zones and rules apply (default: the only enabled camera)
    sink: AlertSink | None = None  # alerts as they fire (they are kept in the result too)
    annotate: str | Path | None = None  # write the clip with zones, lines, tracks and alerts drawn
    max_seconds: float | None = None  # stop after this much clip time
    detector: Any = None  # has detect_frame(frame); default: the configured model (loads onnxruntime)
    clock: Clock | None = None  # frame times start at its readings (default: the system clock)
    door_events: DoorEventsSource | None = None  # a JSON-lines file or a list of dicts, each with `at_clip_s`
    on_progress: Progress | None = None  # (clip seconds done, clip seconds in all), after every frame
    tracks_out: str | Path | None = None  # MOTChallenge text files (replay/motchallenge.py)
    detections_out: str | Path | None = None
    on_actions: OnActions | None = None  # (alert, decisions): what the action runner would do


def replay_clip(config: AgentConfig, clip: str | Path, options: ReplayOptions = ReplayOptions()) -> ReplayResult:
    """Run one camera's chain over `clip`; alerts go to `options.sink` as they fire (and are kept in the result).

    Frame times start at `options.clock`'s readings and follow the clip's timeline; so does the clock the alert
    factory and the door rules read. Door events are checked before the clip is decoded. Actions never run:
    `options.on_actions` hears what the runner would do (actions/triggers.py, on the clip's clock).
    """
    camera = choose_camera(config, options.camera_id)
    scripted = load_door_events(options.door_events, config) if options.door_events is not None else None
    detector = options.detector if options.detector is not None else _default_detector(config)
    kept, overlay, clock = ListSink(), AlertOverlay(), ClipClock.starting_at(options.clock or SystemClock())
    planner = ActionPlanner(config.actions, config.device.timezone, clock, options.on_actions)
    alerts_to = TeeSink(*([kept, overlay] + ([options.sink] if options.sink is not None else []) + [planner]))
    factory = AlertFactory(device_id_for(config), config.device.site, clock)
    engine = RuleEngine.from_config(config, factory, alerts_to, camera_ids=[camera.id])
    chain = CameraChain(camera, engine, tracker_config=camera.tracker, motion_gate=make_motion_gate(camera))
    doors = DoorScript(config, scripted, factory, alerts_to, clock, engine) if scripted is not None else None
    annotator = VideoAnnotator(options.annotate, camera, camera.detect_fps, overlay) if options.annotate else None
    total_s = min(clip_length_s(clip), options.max_seconds or float("inf")) if options.on_progress else 0.0
    export, started = MotExport(options.tracks_out, options.detections_out), time.perf_counter()
    frames = iter_file_frames(
        str(clip), camera.detect_fps, clock=clock, camera_id=camera.id, max_seconds=options.max_seconds
    )
    try:
        _drive(
            chain,
            frames,
            export.wrap(detector.detect_frame),
            export,
            clock,
            doors,
            annotator,
            overlay,
            lambda done_s: options.on_progress(done_s, total_s) if options.on_progress else None,
        )
    finally:
        _finish(chain, doors, annotator, export)
    return ReplayResult(
        camera_id=camera.id,
        alerts=list(kept.alerts),
        rule_counts=engine.rule_counts(),
        line_counts=engine.line_counts()[camera.id],
        chain=chain.stats(),
        detector_ms=getattr(detector, "mean_ms", 0.0),
        wall_s=time.perf_counter() - started,
        doors=doors.summary() if doors is not None else None,
        actions=planner.decisions if planner else None,
    )


def _default_detector(config: AgentConfig):
    from edge_agent.vision.detector import Detector  # loads onnxruntime: only when not handed one

    return Detector.from_config(config.detector, config.models_dir)


def _finish(chain: CameraChain, doors: DoorScript | None, annotator: VideoAnnotator | None, export: MotExport) -> None:
    export.close()
    chain.finish()
    if doors is not None:
        doors.finish()
    if annotator is not None:
        annotator.close()


def _drive(
    chain: CameraChain,
    frames,
    detect,
    export: MotExport,
    clock: ClipClock,
    doors: DoorScript | None,
    annotator: VideoAnnotator | None,
    overlay: AlertOverlay,
    progress: Callable[[float], None],
) -> None:
    """Door events due before a frame first, then the frame through the chain, then its drawing."""
    first_wall: float | None = None
    last_tracks: list = []
    for frame in frames:
        first_wall = frame.captured_at if first_wall is None else first_wall
        overlay.now = frame.monotonic
        if doors is not None:
            doors.advance_to(frame.captured_at)
        clock.move_to(frame.captured_at)
        tracks = chain.process(frame, detect)
        export.write_tracks(frame, tracks)
        if tracks is not None:
            last_tracks = tracks
        if annotator is not None:
            annotator.write(frame.image, last_tracks, chain.engine.line_counts()[chain.camera.id], frame.monotonic)
        progress(frame.captured_at - first_wall)
