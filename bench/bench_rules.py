#!/usr/bin/env python3
"""Tracker + every video rule per frame at N objects, as a fraction of one detector run.

Both are measured in this run on this machine: the baseline is YOLOX-Nano on a real
frame of the entrance clip; the workload is the tracker and a rule engine with one rule
of each type (intrusion, loitering, crowd, occupancy, line crossing on two lines,
stationary vehicle, e-bike in lift) over N objects walking and jittering through the
zones. The two alternate round by round (as in bench_vision.py), so background load on a
shared machine hits both alike; the ratio is of the best round of each. Run by hand, not in CI:

    .venv/bin/python bench/bench_rules.py [--objects 50] [--frames 400] [--rounds 5] [--detector-runs 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2
from pydantic import TypeAdapter

from edge_agent.clock import FakeClock
from edge_agent.config.cameras import CameraConfig
from edge_agent.config.detector import DetectorConfig
from edge_agent.config.rules import VideoRuleConfig
from edge_agent.events import AlertFactory, Box, Detection, FrameDetections, ListSink
from edge_agent.rules import RuleEngine
from edge_agent.tracking import Tracker

CLASSES = ["person"] * 6 + ["vehicle", "bicycle"]
RULES = [
    {"name": "intrusion", "type": "intrusion", "zone": "lobby"},
    {"name": "loitering", "type": "loitering", "zone": "lobby", "max_dwell": 5},
    {"name": "crowd", "type": "crowd", "zone": "lobby", "min_count": 10, "hold": 1},
    {"name": "occupancy", "type": "occupancy", "zone": "yard", "capacity": 5},
    {"name": "count", "type": "line_crossing", "line": "door", "alert_direction": "both", "cooldown": 0},
    {
        "name": "gate",
        "type": "line_crossing",
        "line": "gate",
        "alert_direction": "in",
        "classes": ["person", "bicycle"],
    },
    {"name": "parking", "type": "stationary_vehicle", "zone": "yard", "max_stationary": 3},
    {"name": "lift", "type": "ebike_in_lift", "zone": "yard"},
]


def camera() -> CameraConfig:
    return CameraConfig(
        id="bench",
        url="bench.mp4",
        zones={
            "lobby": {"points": [[0.05, 0.1], [0.6, 0.1], [0.6, 0.9], [0.3, 0.95], [0.05, 0.9]]},
            "yard": {"points": [[0.5, 0.2], [0.95, 0.2], [0.95, 0.95], [0.5, 0.95]]},
        },
        lines={
            "door": {"points": [[0.0, 0.5], [1.0, 0.5]], "in_side": [0.5, 0.1], "classes": ["person", "bicycle"]},
            "gate": {"points": [[0.5, 0.0], [0.5, 1.0]], "in_side": [0.1, 0.5]},
        },
    )


def scripted_frames(objects: int, frames: int, fps: float = 5.0, seed: int = 7) -> list[FrameDetections]:
    """N objects bouncing around the frame with box jitter; ~5% missed detections, some low scores."""
    rng = random.Random(seed)
    state = [
        [rng.random(), rng.random(), rng.uniform(-0.02, 0.02), rng.uniform(-0.02, 0.02), rng.choice(CLASSES)]
        for _ in range(objects)
    ]
    out = []
    for seq in range(frames):
        detections = []
        for obj in state:
            obj[0] = min(0.97, max(0.03, obj[0] + obj[2]))
            obj[1] = min(0.97, max(0.1, obj[1] + obj[3]))
            if obj[0] in (0.03, 0.97):
                obj[2] = -obj[2]
            if obj[1] in (0.1, 0.97):
                obj[3] = -obj[3]
            if rng.random() < 0.05:
                continue
            x, y, w, h = obj[0], obj[1], 0.04, 0.1
            jitter = rng.uniform(-0.003, 0.003)
            score = rng.uniform(0.55, 0.95) if rng.random() > 0.1 else rng.uniform(0.15, 0.45)
            detections.append(Detection(obj[4], score, Box(x - w / 2 + jitter, y - h, x + w / 2 + jitter, y)))
        t = 1000.0 + seq / fps
        out.append(FrameDetections("bench", seq, 1.7e9 + t, t, tuple(detections)))
    return out


def time_rules(frames: list[FrameDetections]) -> tuple[float, int, int]:
    """Mean ms per frame of tracker.update + engine.process; alerts and live tracks at the end."""
    sink = ListSink()
    rules = [TypeAdapter(VideoRuleConfig).validate_python({"camera": "bench", **r}) for r in RULES]
    engine = RuleEngine([camera()], rules, AlertFactory("bench", "bench", FakeClock()), sink)
    tracker = Tracker()
    samples = []
    for frame in frames:
        started = time.perf_counter()
        engine.process(frame, tracker.update(frame))
        samples.append(time.perf_counter() - started)
    warm = samples[len(samples) // 10 :]
    return 1000.0 * statistics.mean(warm), len(sink.alerts), len(tracker.live_tracks())


def detector_and_frame():
    from edge_agent.vision.detector import Detector
    from edge_agent.vision.manifest import load_manifest
    from tests.support.assets import footage, model_path

    detector = Detector(model_path(), load_manifest("yolox_nano"), DetectorConfig())
    capture = cv2.VideoCapture(str(footage("entrance-one-by-one.mp4")))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 300)
    ok, image = capture.read()
    capture.release()
    if not ok:
        raise SystemExit("cannot read a frame of the entrance clip")
    detector.detect(image)  # first run allocates; not part of any round
    return detector, image


def time_detector(detector, image, runs: int) -> float:
    """Median ms of `runs` detector calls on one real frame."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        detector.detect(image)
        samples.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=50)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--detector-runs", type=int, default=30, help="detector calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating detector / rules rounds")
    args = parser.parse_args()
    detector, image = detector_and_frame()
    frames = scripted_frames(args.objects, args.frames)
    detector_runs, rules_runs = [], []
    for _ in range(args.rounds):  # alternate so background load hits both alike; best of each
        detector_runs.append(time_detector(detector, image, args.detector_runs))
        per_frame_ms, alerts, live = time_rules(frames)  # a fresh tracker and engine each round
        rules_runs.append(per_frame_ms)
    detector_ms, rules_ms = min(detector_runs), min(rules_runs)
    print(
        f"detector (YOLOX-Nano fp32, 768x432 frame, median of {args.detector_runs} per round): {detector_ms:.1f} ms"
        f" (rounds {', '.join(f'{v:.1f}' for v in detector_runs)})"
    )
    print(
        f"tracker + {len(RULES)} rules at {args.objects} objects (mean of {args.frames} frames per round): "
        f"{rules_ms:.2f} ms (rounds {', '.join(f'{v:.2f}' for v in rules_runs)};"
        f" {alerts} alerts, {live} live tracks at the end)"
    )
    ratios = [100 * r / d for d, r in zip(detector_runs, rules_runs)]
    print(
        f"ratio: tracker + rules = {rules_ms / detector_ms:.3f} x detector time ({100 * rules_ms / detector_ms:.1f} %,"
        f" best of each); per round {', '.join(f'{v:.1f}' for v in ratios)} %, median {statistics.median(ratios):.1f} %"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
