"""`edge-agent replay CLIP --config FILE`: the whole video pipeline over a clip, as fast as it can.

Alerts are printed as JSON lines on stdout; `--report` prints per-rule and
per-line counts on stderr (so stdout stays JSON lines); `--annotate OUT.mp4`
writes the clip with zones, lines, tracks and alerts drawn. Frames are
stamped on the clip's own timeline, so dwell times and holds follow clip time
however fast the replay runs.

`--door-events EVENTS.jsonl` adds scripted door events (generic JSON plus `at_clip_s`,
see cli/replay_doors.py): door rules and tailgating fusion run on the clip's clock, and
their alerts print with the others.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from edge_agent.cli.common import CliExit, load_config_or_exit
from edge_agent.cli.replay_doors import ClipClock, DoorEventsSource, DoorScript, load_door_events
from edge_agent.clock import Clock, SystemClock
from edge_agent.config import AgentConfig
from edge_agent.config.cameras import CameraConfig
from edge_agent.daemon.video_pipeline import CameraChain, ChainStats, make_motion_gate
from edge_agent.events import AlertFactory, AlertSink, JsonLinesSink, ListSink, TeeSink
from edge_agent.rules.annotate import AlertOverlay, VideoAnnotator
from edge_agent.rules.engine import RuleEngine


def register(subparsers) -> None:
    parser = subparsers.add_parser("replay", help="run the video pipeline over a clip and print alerts as JSON lines")
    parser.add_argument("clip", help="video file to replay (stands in for the camera's url)")
    parser.add_argument("--config", required=True, help="config YAML with the camera, its zones/lines and rules")
    parser.add_argument("--camera", help="camera id whose zones and rules apply (default: the only enabled camera)")
    parser.add_argument("--annotate", metavar="OUT.mp4", help="write the clip with zones, lines, tracks and alerts drawn")
    parser.add_argument("--report", action="store_true", help="print per-rule and per-line counts on stderr at the end")
    parser.add_argument("--max-seconds", type=float, help="stop after this much clip time")
    parser.add_argument("--door-events", metavar="EVENTS.jsonl",
                        help="door events to feed at clip times: one generic JSON door event per line plus at_clip_s")
    parser.set_defaults(handler=run)


@dataclass
class ReplayResult:
    camera_id: str
    alerts: list
    rule_counts: dict[str, dict[str, int]]
    line_counts: dict[str, dict[str, int]]
    chain: ChainStats
    detector_ms: float
    wall_s: float
    doors: dict[str, int] | None = None  # fed, not_reached, covered, tailgating (with --door-events)

    def report(self) -> str:
        rows = [f"replay of camera {self.camera_id}: {self.chain.frames} frames, {self.chain.detected} detected"
                f" ({self.detector_ms:.1f} ms each), tracker+rules {self.chain.tracker_ms:.2f} ms/frame,"
                f" {self.wall_s:.1f} s"]
        rows.append("rule                      start   end  instant  suppressed")
        for name, counts in sorted(self.rule_counts.items()):
            rows.append(f"{name:<24} {counts['start']:>6} {counts['end']:>5} {counts['instant']:>8} {counts['suppressed']:>11}")
        for line, counts in sorted(self.line_counts.items()):
            rows.append(f"line {line}: in {counts['in']} out {counts['out']}")
        if self.doors is not None:
            d = self.doors
            rows.append(f"door events: {d['fed']} fed, {d['not_reached']} after the end of the replay;"
                        f" tailgating: {d['covered']} crossing(s) covered by a grant, {d['tailgating']} alert(s)")
        return "\n".join(rows)


def choose_camera(config: AgentConfig, camera_id: str | None) -> CameraConfig:
    if camera_id is not None:
        try:
            return config.camera(camera_id)
        except KeyError:
            raise ValueError(f"camera {camera_id!r} is not in the config (known: {[c.id for c in config.cameras]})") from None
    enabled = [c for c in config.cameras if c.enabled]
    if len(enabled) != 1:
        raise ValueError(f"the config has {len(enabled)} enabled cameras ({[c.id for c in enabled]}); choose one with --camera")
    return enabled[0]


def replay_clip(config: AgentConfig, clip: str | Path, camera_id: str | None = None, *, sink: AlertSink | None = None,
                annotate: str | Path | None = None, max_seconds: float | None = None, detector=None,
                clock: Clock | None = None, door_events: DoorEventsSource | None = None) -> ReplayResult:
    """Run one camera's chain over `clip`; alerts go to `sink` (and are kept in the result).

    Frame times start at `clock`'s readings and follow the clip's timeline; so does the clock
    the alert factory and the door rules read. `door_events`: a JSON-lines file or a list of
    dicts, each a generic door event plus `at_clip_s` (checked before the clip is decoded).
    """
    from edge_agent.identity import device_id_for
    from edge_agent.sources.camera import iter_file_frames

    camera = choose_camera(config, camera_id)
    scripted = load_door_events(door_events, config) if door_events is not None else None
    if detector is None:
        from edge_agent.vision.detector import Detector

        detector = Detector.from_config(config.detector, config.models_dir)
    kept = ListSink()
    overlay = AlertOverlay()
    sinks = [kept, overlay] + ([sink] if sink is not None else [])
    clock = ClipClock.starting_at(clock or SystemClock())
    factory = AlertFactory(device_id_for(config), config.device.site, clock)
    engine = RuleEngine.from_config(config, factory, TeeSink(*sinks), camera_ids=[camera.id])
    chain = CameraChain(camera, engine, tracker_config=camera.tracker,
                        motion_gate=make_motion_gate(camera))
    doors = DoorScript(config, scripted, factory, TeeSink(*sinks), clock, engine) if scripted is not None else None
    annotator = VideoAnnotator(annotate, camera, camera.detect_fps, overlay) if annotate else None
    started = time.perf_counter()
    last_tracks: list = []
    try:
        frames = iter_file_frames(str(clip), camera.detect_fps, clock=clock, camera_id=camera.id, max_seconds=max_seconds)
        for frame in frames:
            overlay.now = frame.monotonic
            if doors is not None:
                doors.advance_to(frame.captured_at)
            clock.move_to(frame.captured_at)
            tracks = chain.process(frame, detector.detect_frame)
            if tracks is not None:
                last_tracks = tracks
            if annotator is not None:
                annotator.write(frame.image, last_tracks, engine.line_counts()[camera.id], frame.monotonic)
    finally:
        chain.finish()
        if doors is not None:
            doors.finish()
        if annotator is not None:
            annotator.close()
    return ReplayResult(
        camera_id=camera.id,
        alerts=list(kept.alerts),
        rule_counts=engine.rule_counts(),
        line_counts=engine.line_counts()[camera.id],
        chain=chain.stats(),
        detector_ms=getattr(detector, "mean_ms", 0.0),
        wall_s=time.perf_counter() - started,
        doors=doors.summary() if doors is not None else None,
    )


def run(args) -> int:
    config = load_config_or_exit(args.config)
    if not Path(args.clip).is_file():
        print(f"error: clip {args.clip} does not exist", file=sys.stderr)
        raise CliExit(os.EX_NOINPUT)
    if args.door_events is not None and not Path(args.door_events).is_file():
        print(f"error: door events file {args.door_events} does not exist", file=sys.stderr)
        raise CliExit(os.EX_NOINPUT)
    try:
        result = replay_clip(config, args.clip, args.camera, sink=JsonLinesSink(sys.stdout),
                             annotate=args.annotate, max_seconds=args.max_seconds, door_events=args.door_events)
    except ValueError as exc:  # unknown camera, undecodable clip, a bad door events line
        print(f"error: {exc}", file=sys.stderr)
        return os.EX_USAGE
    except (OSError, RuntimeError) as exc:  # model missing or changed, cannot write the video
        print(f"error: {exc}", file=sys.stderr)
        return os.EX_SOFTWARE
    if args.report:
        print(result.report(), file=sys.stderr)
    return 0
