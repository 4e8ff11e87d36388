#!/usr/bin/env python3
"""The agent's tracker against supervision's ByteTrack on MOTChallenge ground truth, same detections.

For both shared MOT15 sequences (footage/mot15/*: the video and gt/gt.txt) the shared YOLOX-Nano
runs once on every frame (person class, score >= 0.1, boxes at source resolution) and the
detections are cached. Each tracker is then fed every frame (25 detector runs/s) and every
5th frame (5/s); tracks are scored with py-motmetrics (edge_agent.replay.evaluate: CLEAR MOT and
IDF1 at IoU >= 0.5; TrackEval's HOTA) on the frames the detector ran on. Optionally the tracker as of a git
revision (`--baseline REV`, e.g. the commit before a tracker change) runs beside them.

Needs the `bench` extra (supervision 0.25.1, the last release with `sv.ByteTrack` taking these
arguments; motmetrics; trackeval):
    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/bench_tracking.py [--baseline 09df910] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2
import numpy as np

from edge_agent.assets import AssetUnavailable, require_mirror
from edge_agent.config.detector import DetectorConfig
from edge_agent.config.tracking import TrackerConfig
from edge_agent.events import Box, Detection, FrameDetections
from edge_agent.replay.evaluate import read_mot, score
from edge_agent.tracking import Tracker
from edge_agent.vision.detector import Detector
from edge_agent.vision.manifest import load_manifest

try:
    ASSETS = require_mirror()
except AssetUnavailable as exc:
    sys.exit(f"{Path(__file__).name}: {exc}")
MODEL = ASSETS / "models" / "yolox_nano.onnx"
SEQUENCES = ("TUD-Stadtmitte", "TUD-Campus")
SOURCE_FPS = 25.0
STEPS = (1, 5)  # every frame (25/s) and every 5th (5/s)
# supervision's ByteTrack as in ../shared/README.md's reference table
BYTETRACK = {"track_activation_threshold": 0.5, "lost_track_buffer": 20, "minimum_matching_threshold": 0.8}


def detections_of(sequence: str, cache: Path) -> tuple[list[list[tuple[float, float, float, float, float]]], tuple]:
    """Per frame [(x1, y1, x2, y2 normalized, score)] of persons, and the frame size; cached as JSON."""
    cached = cache / f"{sequence}-yolox_nano-0.1.json"
    if cached.exists():
        data = json.loads(cached.read_text())
        return data["frames"], tuple(data["size"])
    detector = Detector(MODEL, load_manifest("yolox_nano"), DetectorConfig(score_threshold=0.1, classes=["person"]))
    capture = cv2.VideoCapture(str(ASSETS / "footage" / "mot15" / sequence / f"{sequence}.mp4"))
    frames, size = [], (0, 0)
    while True:
        ok, image = capture.read()
        if not ok:
            break
        size = (image.shape[1], image.shape[0])
        frames.append([(*d.box.as_list(6), round(d.score, 4)) for d in detector.detect(image)])
    capture.release()
    cache.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps({"frames": frames, "size": size}))
    return frames, size


def run_agent(tracker, frames, step: int, size) -> tuple[dict, float]:
    """The agent's tracker over every `step`th frame: (frame -> [(id, xywh px)], ms per frame)."""
    rows, spent = {}, 0.0
    width, height = size
    for index in range(0, len(frames), step):
        detections = tuple(Detection("person", s, Box(x1, y1, x2, y2)) for x1, y1, x2, y2, s in frames[index])
        frame = FrameDetections("bench", index, index / SOURCE_FPS, index / SOURCE_FPS, detections, size)
        started = time.perf_counter()
        tracks = tracker.update(frame)
        spent += time.perf_counter() - started
        rows[index + 1] = [
            (t.track_id, np.array([t.box.x1 * width, t.box.y1 * height, t.box.width * width, t.box.height * height]))
            for t in tracks
        ]
    return rows, 1000.0 * spent / len(rows)


def run_bytetrack(frames, step: int, size) -> tuple[dict, float]:
    import supervision as sv

    tracker = sv.ByteTrack(**BYTETRACK, frame_rate=round(SOURCE_FPS / step), minimum_consecutive_frames=2)
    scale = np.array([size[0], size[1], size[0], size[1]], dtype=np.float64)
    rows, spent = {}, 0.0
    for index in range(0, len(frames), step):
        found = np.array(frames[index], dtype=np.float64).reshape(-1, 5)
        detections = sv.Detections(
            xyxy=found[:, :4] * scale, confidence=found[:, 4], class_id=np.zeros(len(found), dtype=int)
        )
        started = time.perf_counter()
        tracked = tracker.update_with_detections(detections)
        spent += time.perf_counter() - started
        rows[index + 1] = [
            (int(tid), np.array([x1, y1, x2 - x1, y2 - y1]))
            for (x1, y1, x2, y2), tid in zip(tracked.xyxy, tracked.tracker_id)
        ]
    return rows, 1000.0 * spent / len(rows)


def ms_at_20_objects(tracker, frames: int = 2000) -> float:
    """Tracker time per frame with 20 people walking in lanes (plus one stray low-score box each frame)."""
    rng = np.random.default_rng(7)
    spent = 0.0
    for index in range(frames):
        t = index / 5.0
        found = [
            Detection("person", 0.8, Box(x - 0.02, y - 0.1, x + 0.02, y))
            for lane in range(20)
            for x, y in [((0.05 * lane + 0.01 * t) % 1.0, 0.3 + 0.03 * lane + rng.normal(0, 0.002))]
        ]
        found.append(Detection("person", 0.2, Box(*sorted(rng.random(2)), *sorted(rng.random(2)))))
        frame = FrameDetections("bench", index, t, t, tuple(found), (640, 480))
        started = time.perf_counter()
        tracker.update(frame)
        spent += time.perf_counter() - started
    return 1000.0 * spent / frames


def tracker_at(revision: str):
    """edge_agent/tracking/tracker.py as of `revision`, loaded as a module beside today's."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:edge_agent/tracking/tracker.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = sys.modules[f"tracker_{revision}"] = types.ModuleType(f"tracker_{revision}")  # dataclasses look it up
    exec(compile(source, f"{revision}:tracker.py", "exec"), module.__dict__)  # our own history, not input
    return module.Tracker


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/edge-agent-bench-tracking"))
    parser.add_argument("--baseline", help="also run the tracker as of this git revision")
    args = parser.parse_args()
    import motmetrics

    rows = []
    for sequence in SEQUENCES:
        frames, size = detections_of(sequence, args.cache)
        gt_all = read_mot(ASSETS / "footage" / "mot15" / sequence / "gt" / "gt.txt", ground_truth=True)
        for step in STEPS:
            runs = {"ByteTrack (supervision 0.25.1)": run_bytetrack(frames, step, size)}
            if args.baseline:
                runs[f"agent @ {args.baseline}"] = run_agent(tracker_at(args.baseline)(), frames, step, size)
            runs["agent (this tree)"] = run_agent(Tracker(TrackerConfig()), frames, step, size)
            for name, (hyp, ms) in runs.items():
                gt = {frame: boxes for frame, boxes in gt_all.items() if frame in hyp}
                rows.append((sequence, f"{SOURCE_FPS / step:g}/s", name, score(motmetrics, hyp, gt), ms))
    print("| sequence | detector runs | tracker | MOTA | IDF1 | HOTA | ID sw | precision | recall | ms/frame |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for sequence, rate, name, s, ms in rows:
        print(
            f"| {sequence} | {rate} | {name} | {s.mota:.3f} | {s.idf1:.3f} | {s.hota or float('nan'):.3f}"
            f" | {s.id_switches} | {s.precision:.3f}"
            f" | {s.recall:.3f} | {ms:.3f} |"
        )
    print(
        f"\nagent tracker at 20 objects, 5 detector runs/s: {ms_at_20_objects(Tracker(TrackerConfig())):.3f} ms/frame"
    )
    if args.baseline:
        print(f"agent @ {args.baseline} at 20 objects: {ms_at_20_objects(tracker_at(args.baseline)()):.3f} ms/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
