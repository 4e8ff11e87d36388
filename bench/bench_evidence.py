#!/usr/bin/env python3
"""Evidence cost: the daemon with 4 cameras at detect_fps 5, snapshots and clips on vs off, in the same run.

    .venv/bin/python bench/bench_evidence.py                  # 2 x 2 runs of 150 s, alternating off/on (~11 min)
    .venv/bin/python bench/bench_evidence.py --duration 60 --rounds 1   # a quick look

Both configurations have the same cameras and rules (per camera an intrusion rule over the whole picture with a
10 s cooldown, so alerts keep coming as people pass: a busy camera); "on" adds `evidence: {snapshot: true, clip:
{before: 5, after: 5}}` to every rule. Runs alternate off, on, off, on so load that drifts over the run falls on
both. Printed: CPU (% of one core) and RSS after the warm-up, and their difference, the capture's p95 (the time
the alert's storage waits for the snapshot and the clip job: telemetry system.evidence.capture_ms_p95), alerts,
and the evidence bytes written per camera per day at this alert rate (SD-card wear).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_daemon import assets, proc_sample, telemetry_listener, unit_environment
from edge_agent.config.evidence import EvidenceConfig
from edge_agent.vision.models import fetch_model
from tests.support.broker import Mosquitto

CAMERAS = 4


EVIDENCE = {"snapshot": True, "clip": {"before": 5, "after": 5}}


def config(workdir: Path, port: int, models: Path, evidence: bool) -> dict:
    clip = assets() / "footage" / "entrance-one-by-one.mp4"
    whole = [[0, 0], [1, 0], [1, 1], [0, 1]]
    rules = []
    for i in range(CAMERAS):
        rule = {"name": f"in{i}", "type": "intrusion", "camera": f"cam{i}", "zone": "room", "cooldown": 10}
        rules.append({**rule, "evidence": EVIDENCE} if evidence else rule)
    return {
        "device": {"id": "bench", "site": "bench", "state_dir": str(workdir / "state")},
        "mqtt": {"host": "127.0.0.1", "port": port},
        "detector": {"models_dir": str(models)},
        "cameras": [
            {
                "id": f"cam{i}",
                "url": str(clip),
                "kind": "file",
                "loop": True,
                "realtime": True,
                "detect_fps": 5,
                "zones": {"room": {"points": whole}},
            }
            for i in range(CAMERAS)
        ],
        "rules": rules,
        "telemetry": {"interval": 5},
    }


def run(duration: float, models: Path, evidence: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "broker").start()
        client, samples = telemetry_listener(broker.port)
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(config(workdir, broker.port, models, evidence)))
        log = open(workdir / "agent.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, **unit_environment()},
        )
        points = []
        started = time.monotonic()
        try:
            while time.monotonic() - started < duration:
                if process.poll() is not None:
                    raise RuntimeError((workdir / "agent.log").read_text()[-2000:])
                points.append((time.monotonic() - started, *proc_sample(process.pid)))
                time.sleep(1.0)
        finally:
            process.terminate()
            process.wait(30)
            log.close()
            client.loop_stop()
            broker.stop()
    warm = len(points) // 4
    (t0, cpu0, _), (t1, cpu1, _) = points[warm], points[-1]
    figures = samples[-1]["system"].get("evidence", {}) if samples else {}
    return {
        "cpu": 100.0 * (cpu1 - cpu0) / (t1 - t0),
        "rss": statistics.mean(p[2] for p in points[warm:]),
        "p95": figures.get("capture_ms_p95", 0.0),
        "cpu_p95": figures.get("capture_cpu_ms_p95", 0.0),
        "bytes": figures.get("bytes_written", 0),
        "snapshots": figures.get("snapshots_written", 0),
        "clips": figures.get("clips_written", 0),
        "ring": figures.get("ring_bytes", 0),
        "seconds": t1,
    }


def micro(frames: int = 120) -> dict:
    """CPU time (thread time, so other load on the machine hardly counts) of what evidence adds per frame and per
    alert, on the shared clip's frames with the detector's person boxes: the ring's scale + pixelate + JPEG, and a
    snapshot's pixelate + JPEG + sha256."""
    import cv2

    from edge_agent.config.detector import DetectorConfig
    from edge_agent.evidence.frame_ring import FrameRing, scaled
    from edge_agent.vision.detector import Detector
    from edge_agent.vision.manifest import load_manifest
    from edge_agent.vision.pixelate import person_boxes, pixelate

    shared = assets()
    detector = Detector(shared / "models" / "yolox_nano.onnx", load_manifest("yolox_nano"), DetectorConfig())
    capture = cv2.VideoCapture(str(shared / "footage" / "entrance-one-by-one.mp4"))
    pictures = []
    while len(pictures) < frames:
        ok, image = capture.read()
        if not ok:
            break
        pictures.append((image, person_boxes(detector.detect(image))))
    defaults = EvidenceConfig()
    ring = FrameRing(12, 1e6, defaults.clip_width, defaults.jpeg_quality, True)  # every frame offered is kept
    started = time.thread_time()
    for index, (image, boxes) in enumerate(pictures):
        ring.offer(float(index), image, boxes)
    ring_ms = 1000 * (time.thread_time() - started) / len(pictures)
    started = time.thread_time()
    for image, boxes in pictures:
        ok, data = cv2.imencode(".jpg", pixelate(scaled(image, 1280), boxes), [cv2.IMWRITE_JPEG_QUALITY, 80])
        hashlib.sha256(data.tobytes()).hexdigest()
    snapshot_ms = 1000 * (time.thread_time() - started) / len(pictures)
    height, width = pictures[0][0].shape[:2]
    return {
        "frame": f"{width}x{height}",
        "ring_ms": ring_ms,
        "snapshot_ms": snapshot_ms,
        "people": sum(len(b) for _, b in pictures) / len(pictures),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=150.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs")
    parser.add_argument("--micro", action="store_true", help="only the per-frame and per-alert CPU cost")
    args = parser.parse_args()
    cost = micro()
    per_core = CAMERAS * EvidenceConfig().clip_fps * cost["ring_ms"] / 10.0
    print(
        f"per frame kept in a ring ({cost['frame']} → 640 px, {cost['people']:.1f} people): {cost['ring_ms']:.2f} "
        f"ms CPU; per snapshot: {cost['snapshot_ms']:.2f} ms CPU; {CAMERAS} cameras x clip_fps "
        f"{EvidenceConfig().clip_fps:g}: {per_core:.2f} % of one core, plus snapshots",
        flush=True,
    )
    if args.micro:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(tmp) / "models"
        fetch_model("yolox_nano", models, mirror_dir=assets())
        results = {False: [], True: []}
        for _ in range(args.rounds):
            for evidence in (False, True):
                results[evidence].append(run(args.duration, models, evidence))
                print(f"evidence {'on ' if evidence else 'off'}: {results[evidence][-1]}", flush=True)
    off, on = results[False], results[True]
    cpu_off, cpu_on = statistics.mean(r["cpu"] for r in off), statistics.mean(r["cpu"] for r in on)
    rss_off, rss_on = statistics.mean(r["rss"] for r in off), statistics.mean(r["rss"] for r in on)
    per_day = statistics.mean(r["bytes"] / r["seconds"] * 86400 / CAMERAS for r in on)
    print(f"\n{CAMERAS} cameras, detect_fps 5, {args.rounds} x {args.duration:g} s each, alternating")
    print("| | evidence off | evidence on | added | target |\n|---|---|---|---|---|")
    print(f"| CPU, % of one core | {cpu_off:.1f} | {cpu_on:.1f} | {cpu_on - cpu_off:+.1f} | <= 3 |")
    print(f"| RSS, MB (mean after warm-up) | {rss_off:.1f} | {rss_on:.1f} | {rss_on - rss_off:+.1f} | <= 30 |")
    walls = ", ".join(f"{r['p95']:.1f}" for r in on)
    cpus = ", ".join(f"{r['cpu_p95']:.1f}" for r in on)
    print(f"| capture p95 on the alert's path, ms: wall (per run) / its CPU time | | {walls} / {cpus} | | <= 50 |")
    print(
        f"snapshots {sum(r['snapshots'] for r in on)}, clips {sum(r['clips'] for r in on)}, "
        f"ring {max(r['ring'] for r in on) / 1e6:.2f} MB; evidence written per camera: {per_day / 1e6:.0f} MB/day"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
