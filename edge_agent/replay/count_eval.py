"""A clip through the agent's chain with swept lines and zones, scored against MOTChallenge truth (`eval-counts`).

The camera of the base config (or a minimal one: YOLOX-Nano, persons, motion gate off) gets the swept lines and
zones in place of its own and one `line_crossing` rule per line (both directions, no cooldown) so each counted
crossing is heard with its clip time; `replay_clip` runs the real chain. The agent's counts are the engine's line
counters; its occupancy per zone is what the zone rules see: the foot points of the tracks reported in each frame
the detector ran on (the replay's MOTChallenge track export). The truth is replay/count_truth.py's.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import cv2

from edge_agent.clock import FakeClock
from edge_agent.config import AgentConfig
from edge_agent.config.geometry import LineConfig, ZoneConfig
from edge_agent.replay import count_truth as truth
from edge_agent.replay.clip import ReplayOptions, choose_camera, replay_clip
from edge_agent.replay.count_scoring import (
    CrossingMatch,
    LineScore,
    OccupancyScore,
    count_error,
    line_scores,
    match_crossings,
    occupancy_score,
)
from edge_agent.rules.geometry import DirectedLine, Polygon

T0 = 1_767_225_600.0  # the replay's wall clock starts here, so an alert's time minus T0 is its clip time


@dataclass(frozen=True)
class CountEvalOptions:
    lines: dict[str, dict] = field(default_factory=lambda: truth.auto_lines(16))  # camera `lines:` entries
    zones: dict[str, dict] = field(default_factory=lambda: truth.grid_zones(3))
    detect_fps: float | None = None  # None: the camera's
    camera_id: str | None = None
    window: float = 1.0  # seconds within which an agent crossing matches a truth crossing


@dataclass(frozen=True)
class CountReport:
    lines: list[LineScore]  # against every truth crossing
    passages: list[LineScore]  # against net passages (count_truth.truth_passages)
    crossings: CrossingMatch
    occupancy: OccupancyScore
    detect_fps: float
    frames: int  # frames the detector ran on
    wall_s: float

    @property
    def error(self) -> float:
        return count_error(self.lines)[0]

    @property
    def bias(self) -> float:
        return count_error(self.lines)[1]

    def text(self) -> str:
        rows = ["line          truth in/out   agent in/out   error    bias"]
        for score in self.lines:
            error, bias = count_error([score])
            rows.append(
                f"{score.line:<12} {score.truth['in']:>6}/{score.truth['out']:<6} {score.agent['in']:>6}/"
                f"{score.agent['out']:<6} {error:>7.3f} {bias:>+7.3f}"
            )
        total = sum(s.truth_total for s in self.lines)
        occ, cross = self.occupancy, self.crossings
        rows += [
            f"aggregate over {len(self.lines)} lines, {total} truth crossings, detect_fps {self.detect_fps:g},"
            f" {self.frames} detector runs: count error {self.error:.3f}  bias {self.bias:+.3f}",
            f"against net passages (first side vs last side per person, {sum(s.truth_total for s in self.passages)}):"
            f" count error {count_error(self.passages)[0]:.3f}  bias {count_error(self.passages)[1]:+.3f}",
            f"crossings: precision {cross.precision:.3f} ({cross.matched}/{cross.agent} agent crossings within the"
            f" window)  recall {cross.recall:.3f} ({cross.matched}/{cross.truth})",
            f"occupancy over {occ.samples} zone-frames: MAE {occ.mae:.3f}  bias {occ.bias:+.3f}  mean truth"
            f" {occ.mean_truth:.3f}  MAE/mean {occ.relative_mae:.3f}",
        ]
        return "\n".join(rows)


def default_config(models_dir: str | None = None) -> AgentConfig:
    """YOLOX-Nano (fp32, score >= 0.1, persons) on one file camera with the motion gate off."""
    detector = {"model": "yolox_nano", "variant": "fp32", "score_threshold": 0.1, "classes": ["person"]}
    models_dir = models_dir or os.environ.get("EDGE_AGENT_MODELS")
    if models_dir:
        detector["models_dir"] = models_dir
    camera = {"id": "eval", "url": "clip", "kind": "file", "realtime": False, "motion": {"enabled": False}}
    return AgentConfig.model_validate(
        {"device": {"id": "eval-counts", "site": "eval", "timezone": "UTC"}, "detector": detector, "cameras": [camera]}
    )


def eval_config(base: AgentConfig, options: CountEvalOptions) -> AgentConfig:
    """`base` with only the evaluated camera, its lines and zones swept, and a crossing rule per line."""
    camera = choose_camera(base, options.camera_id)
    changes: dict = {"lines": options.lines, "zones": options.zones}
    if options.detect_fps is not None:
        changes["detect_fps"] = options.detect_fps
    camera_data = {**camera.model_dump(), **changes}
    rules = [
        {"name": f"cross-{name}", "type": "line_crossing", "camera": camera.id, "line": name}
        | {"alert_direction": "both", "cooldown": 0, "severity": "info"}
        for name in options.lines
    ]
    data = base.model_dump(include={"device", "detector"}) | {"cameras": [camera_data], "rules": rules}
    return AgentConfig.model_validate(data)


def evaluate_counts(base: AgentConfig, clip: str | Path, gt: str | Path, options: CountEvalOptions) -> CountReport:
    config = eval_config(base, options)
    camera = config.cameras[0]
    width, height, fps = clip_geometry(clip)
    with tempfile.TemporaryDirectory(prefix="eval-counts-") as scratch:
        tracks_out = Path(scratch) / "tracks.txt"
        detector = _FrameRecorder(config)
        result = replay_clip(
            config, clip, ReplayOptions(clock=FakeClock(wall=T0), tracks_out=tracks_out, detector=detector)
        )
        agent_feet = read_track_feet(tracks_out, width, height)
    agent_crossings = [
        (a.details.line, a.details.direction, _clip_seconds(a.started_at)) for a in result.alerts if a.details.line
    ]
    return score_run(
        RunOutput(result.line_counts, agent_crossings, agent_feet, detector.frames, result.wall_s),
        gt,
        (width, height, fps),
        camera.lines,
        camera.zones,
        options.window,
    )


@dataclass(frozen=True)
class RunOutput:
    """What one replay gave: the line counters, each crossing's (line, direction, clip s), the reported tracks'
    foot points per source frame, the source frames the detector ran on, the replay's wall time."""

    line_counts: dict[str, dict[str, int]]
    crossings: list[tuple[str, str, float]]
    feet: dict[int, list[tuple[float, float]]]
    frames: list[int]
    wall_s: float


def score_run(run: RunOutput, gt, geometry, lines: dict, zones: dict, window: float = 1.0) -> CountReport:
    """Score one replay's output against `gt` (geometry: clip width, height, fps; lines and zones: config)."""
    width, height, fps = geometry
    directed = {name: DirectedLine.from_config(name, _line(config)) for name, config in lines.items()}
    polygons = {name: Polygon.from_config(name, _zone(config)) for name, config in zones.items()}
    paths = truth.read_foot_paths(gt, width, height)
    truth_timed = [(c.line, c.direction, (c.frame - 1) / fps) for c in truth.truth_crossings(paths, directed)]
    net = [(c.line, c.direction, (c.frame - 1) / fps) for c in truth.truth_passages(paths, directed)]
    agent_counts = {name: run.line_counts.get(name, {"in": 0, "out": 0}) for name in lines}
    true_occupancy = truth.occupancy(truth.feet_by_frame(paths), polygons, run.frames)
    agent_occupancy = truth.occupancy(run.feet, polygons, run.frames)
    detect_fps = (len(run.frames) - 1) / ((run.frames[-1] - run.frames[0]) / fps) if len(run.frames) > 1 else 0.0
    return CountReport(
        lines=line_scores(truth_timed, agent_counts),
        passages=line_scores(net, agent_counts),
        crossings=match_crossings(run.crossings, truth_timed, window),
        occupancy=occupancy_score(agent_occupancy, true_occupancy, run.frames),
        detect_fps=round(detect_fps, 2),
        frames=len(run.frames),
        wall_s=run.wall_s,
    )


def clip_geometry(clip: str | Path) -> tuple[int, int, float]:
    """(width, height, fps) from the clip's container."""
    capture = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            raise ValueError(f"clip {clip} cannot be decoded")
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    finally:
        capture.release()
    if width <= 0 or height <= 0 or fps <= 0:
        raise ValueError(f"clip {clip}: the container gives no frame size or rate")
    return width, height, fps


def read_track_feet(path: str | Path, width: int, height: int) -> dict[int, list[tuple[float, float]]]:
    """source frame -> the foot points of the tracks exported for it (MOTChallenge rows in pixels)."""
    feet: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for row in Path(path).read_text().splitlines():
        frame, _, left, top, box_w, box_h = (float(v) for v in row.split(",")[:6])
        feet[int(frame)].append(((left + box_w / 2) / width, (top + box_h) / height))
    return dict(feet)


class _FrameRecorder:
    """The configured detector, noting the source frame of each run."""

    def __init__(self, config: AgentConfig):
        from edge_agent.vision.detector import Detector  # loads onnxruntime

        self._detector = Detector.from_config(config.detector, config.models_dir)
        self.frames: list[int] = []

    @property
    def mean_ms(self) -> float:
        return self._detector.mean_ms

    def detect_frame(self, frame):
        self.frames.append(frame.source_index)
        return self._detector.detect_frame(frame)


def _clip_seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() - T0


def _line(config) -> LineConfig:
    return config if isinstance(config, LineConfig) else LineConfig.model_validate(config)


def _zone(config) -> ZoneConfig:
    return config if isinstance(config, ZoneConfig) else ZoneConfig.model_validate(config)
