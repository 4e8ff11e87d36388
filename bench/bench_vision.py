#!/usr/bin/env python3
"""Vision pipeline benchmarks, each against a baseline measured in the same run:

1. pipeline: CameraSource -> DetectorWorker with detection on every frame, fps divided by a
   bare loop (cv2 read, letterbox, onnxruntime run) over the same frames and model (target >= 0.90).
2. gate: detector calls per frame with the motion gate on vs off, on both shared clips.
3. cameras: four file cameras at real-time pace, detect_fps 5, one shared detector worker:
   processed fps per camera and CPU% of the process.

    .venv/bin/python bench/bench_vision.py [--section pipeline|gate|cameras|all] [--frames 300] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2
import numpy as np

from edge_agent.assets import MIRROR_HINT, AssetUnavailable, require_mirror
from edge_agent.config.cameras import CameraConfig, MotionConfig
from edge_agent.config.detector import DetectorConfig
from edge_agent.sources.camera import CameraSource
from edge_agent.sources.clip_frames import iter_file_frames
from edge_agent.vision.detector import Detector, make_session
from edge_agent.vision.manifest import load_manifest
from edge_agent.vision.motion import MotionGate
from edge_agent.vision.worker import DetectorWorker

try:
    ASSETS = require_mirror()  # the lookup the agent uses: $EDGE_AGENT_ASSETS, else ../shared beside the checkout
except AssetUnavailable as exc:
    sys.exit(f"{Path(__file__).name}: {exc}")
MODEL = ASSETS / "models" / "yolox_nano.onnx"
ENTRANCE = ASSETS / "footage" / "entrance-one-by-one.mp4"
HALL = ASSETS / "footage" / "hall-crowd-meva-g330.mp4"
TRACK_ALIVE_S = 1.0  # stands in for the tracker: any detection this recent keeps tracks "live"


def detector(**settings) -> Detector:
    return Detector(MODEL, load_manifest("yolox_nano"), DetectorConfig(**settings))


def bare_loop(clip: Path, frames: int) -> float:
    """Frames per second of: read, letterbox into 416x416 (pad 114), onnxruntime run."""
    session = make_session(MODEL, 0, ["CPUExecutionProvider"])
    canvas = np.full((416, 416, 3), 114, np.uint8)
    capture = cv2.VideoCapture(str(clip))
    session.run(None, {"images": np.zeros((1, 3, 416, 416), np.float32)})
    started, done = time.perf_counter(), 0
    while done < frames:
        ok, image = capture.read()
        if not ok:
            break
        ratio = min(416 / image.shape[0], 416 / image.shape[1])
        w, h = int(round(image.shape[1] * ratio)), int(round(image.shape[0] * ratio))
        canvas[:] = 114
        canvas[:h, :w] = cv2.resize(image, (w, h))
        session.run(None, {"images": canvas.transpose(2, 0, 1)[None].astype(np.float32)})
        done += 1
    capture.release()
    return done / (time.perf_counter() - started)


def agent_pipeline(clip: Path, frames: int, det: Detector) -> float:
    """Frames per second through CameraSource (replay) and the DetectorWorker, every frame detected."""
    fps = cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FPS)
    camera = CameraConfig(
        id="bench", url=str(clip), realtime=False, detect_fps=min(60.0, fps), health={"tamper": {"enabled": False}}
    )
    results = []
    worker = DetectorWorker(det, results.append, queue_size=4).start()
    source = CameraSource(camera).start()
    started = time.perf_counter()
    while len(results) < frames:
        frame = source.latest(timeout=10)
        if frame is None:
            break
        worker.wait_taken(timeout=10)  # every frame detected: the next waits until the last is taken
        worker.submit(frame)
    worker.wait_idle(timeout=10)
    elapsed = time.perf_counter() - started
    source.stop()
    worker.stop()
    return len(results) / elapsed


def section_pipeline(frames: int) -> None:
    det = detector(merge_vehicles=True)
    bare, agent = [], []
    for _ in range(3):  # alternate so background load hits both alike; best of each
        bare.append(bare_loop(ENTRANCE, frames))
        agent.append(agent_pipeline(ENTRANCE, frames, det))
    print(f"pipeline on {ENTRANCE.name}, {frames} frames, detection on every frame:")
    print(f"  bare decode+letterbox+onnxruntime loop: {max(bare):.1f} fps (runs {', '.join(f'{v:.1f}' for v in bare)})")
    print(
        f"  agent CameraSource -> DetectorWorker:    {max(agent):.1f} fps (runs {', '.join(f'{v:.1f}' for v in agent)})"
    )
    print(f"  ratio {max(agent) / max(bare):.3f} (target >= 0.90)")


def gated_calls(clip: Path, detect_fps: float, det: Detector) -> tuple[int, int, int]:
    gate = MotionGate(MotionConfig())
    frames = calls = 0
    last_seen = None
    for frame in iter_file_frames(clip, detect_fps):
        frames += 1
        live = last_seen is not None and frame.monotonic - last_seen <= TRACK_ALIVE_S
        if gate.should_detect(frame, live):
            calls += 1
            if det.detect(frame.image):
                last_seen = frame.monotonic
    return frames, calls, gate.counters.skipped


def section_gate(detect_fps: float) -> None:
    det = detector(classes=["person", "bicycle", "motorcycle", "vehicle", "dog"])
    print(f"motion gate, detect_fps {detect_fps:g} (gate off = 1 call per frame):")
    for clip in (ENTRANCE, HALL):
        frames, calls, skipped = gated_calls(clip, detect_fps, det)
        print(
            f"  {clip.name}: {frames} frames, gate on {calls} calls = {calls / frames:.3f} per frame "
            f"(off: 1.000), {skipped} skipped, ratio on/off {calls / frames:.3f}"
        )


def camera_loop(source: CameraSource, worker: DetectorWorker, stop: threading.Event) -> None:
    while not stop.is_set():
        frame = source.latest(timeout=0.5)
        if frame is not None:
            worker.submit(frame)


def section_cameras(seconds: float) -> None:
    det = detector()
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def on_result(result) -> None:
        with lock:
            counts[result.camera_id] = counts.get(result.camera_id, 0) + 1

    clips = [ENTRANCE, HALL, ENTRANCE, HALL]
    sources = [
        CameraSource(CameraConfig(id=f"cam{i + 1}", url=str(clip), realtime=True, loop=True, detect_fps=5))
        for i, clip in enumerate(clips)
    ]
    worker = DetectorWorker(det, on_result, queue_size=8).start()
    stop = threading.Event()
    for source in sources:
        source.start()
    loops = [threading.Thread(target=camera_loop, args=(s, worker, stop), daemon=True) for s in sources]
    for thread in loops:
        thread.start()
    time.sleep(2.0)  # warm-up: open clips, fill pipelines
    with lock:
        counts.clear()
    cpu0, wall0 = os.times(), time.perf_counter()
    time.sleep(seconds)
    cpu1, wall1 = os.times(), time.perf_counter()
    with lock:
        snapshot = dict(counts)
    stop.set()
    for source in sources:
        source.stop()
    worker.stop()
    elapsed = wall1 - wall0
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / elapsed * 100
    stats = worker.stats()
    print(f"four cameras at real-time pace, detect_fps 5, {elapsed:.0f} s, {os.cpu_count()} cores:")
    for source in sources:
        cam = source.config.id
        s = stats.get(cam)
        print(
            f"  {cam} ({Path(source.config.url).name}): processed {snapshot.get(cam, 0) / elapsed:.2f} fps "
            f"(target 5), capture {source.stats().capture_fps:.1f} fps, detector {s.mean_ms:.1f} ms, dropped "
            f"{s.dropped}"
        )
    total = sum(snapshot.values()) / elapsed
    print(f"  total {total:.1f} detections/s; process CPU {cpu:.0f}% of {os.cpu_count() * 100}%")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--section", choices=["pipeline", "gate", "cameras", "all"], default="all")
    parser.add_argument("--frames", type=int, default=300, help="frames for the pipeline section")
    parser.add_argument("--gate-fps", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of the four-camera run")
    args = parser.parse_args()
    if not MODEL.exists():
        print(f"missing {MODEL}; {MIRROR_HINT}", file=sys.stderr)
        return os.EX_NOINPUT
    if args.section in ("pipeline", "all"):
        section_pipeline(args.frames)
    if args.section in ("gate", "all"):
        section_gate(args.gate_fps)
    if args.section in ("cameras", "all"):
        section_cameras(args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
