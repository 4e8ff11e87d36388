#!/usr/bin/env python3
"""Reload gap: frames missed by a camera across a reload, make-before-break vs a reload that reopens the camera.

    .venv/bin/python bench/bench_reload.py                # 8 reloads of each kind
    .venv/bin/python bench/bench_reload.py --reloads 3    # a quick look

The real agent runs in-process (a private mosquitto, one file camera at real-time pace,
detect_fps 10) and every processed frame's monotonic time is recorded. Two kinds of reload
alternate in the same run:

- `rule`: a rule's threshold changes; the camera is kept, so its reader is handed over running;
- `camera`: the camera's own config changes (detect_fps 10 ↔ 9.9), so its reader is reopened.

For each reload the gap is the longest interval between two processed frames from the
moment the reload started until it returned; "missed" is that gap minus the normal frame
period (measured in the same run, between reloads). The ratio `rule/camera` shows what the
hand-over saves; the issue's target is under 1 s missed for a reload that keeps the camera.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.assets import AssetUnavailable, require_mirror
from edge_agent.config import parse_config
from edge_agent.daemon.agent import Agent
from edge_agent.rules.engine import RuleEngine
from edge_agent.vision.models import fetch_model
from tests.support.broker import Mosquitto

FRAMES: list[float] = []
_original_process = RuleEngine.process


def _recording_process(self, frame, tracks):  # every processed frame, whichever engine is current
    FRAMES.append(time.monotonic())
    return _original_process(self, frame, tracks)


def document(workdir: Path, port: int, models: Path, clip: Path, threshold: float, fps: float) -> dict:
    return {
        "device": {"id": "bench", "site": "bench", "state_dir": str(workdir / "state")},
        "mqtt": {"host": "127.0.0.1", "port": port, "retry_unrouted": False},
        "detector": {"models_dir": str(models), "threads": 1},
        "cameras": [
            {
                "id": "cam",
                "url": str(clip),
                "kind": "file",
                "loop": True,
                "realtime": True,
                "detect_fps": fps,
                "motion": {"enabled": False},  # every frame goes to the detector: the gap is not hidden by gating
                "zones": {"room": {"points": [[0, 0], [1, 0], [1, 1], [0, 1]]}},
            }
        ],
        "rules": [{"name": "r", "type": "intrusion", "camera": "cam", "zone": "room", "min_score": threshold}],
        "telemetry": {"interval": 30},
        "supervisor": {"start_grace": 0.5},
        "commands": {"confirm_timeout": 10},
    }


def gap_during(start: float, end: float) -> float:
    times = [t for t in FRAMES if start - 1.0 <= t <= end + 2.0]
    return max((b - a for a, b in zip(times, times[1:])), default=float("nan"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reloads", type=int, default=8, help="reloads of each kind")
    args = parser.parse_args()
    try:
        assets = require_mirror().resolve()
    except AssetUnavailable as exc:
        sys.exit(f"bench_reload.py: {exc}")
    RuleEngine.process = _recording_process
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "broker").start()
        try:
            return run(Path(tmp), broker.port, assets, args.reloads)
        finally:
            broker.stop()


def run(workdir: Path, port: int, assets: Path, reloads: int) -> int:
    clip = assets / "footage" / "entrance-one-by-one.mp4"
    models = workdir / "models"
    fetch_model("yolox_nano", models, mirror_dir=assets)
    texts = {
        (threshold, fps): yaml.safe_dump(document(workdir, port, models, clip, threshold, fps))
        for threshold in (0.30, 0.31)
        for fps in (10.0, 9.9)
    }
    first = texts[(0.30, 10.0)]
    (workdir / "config.yaml").write_text(first)
    agent = Agent(workdir / "config.yaml", first, parse_config(first))
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    try:
        return measure(agent, texts, reloads)
    finally:
        agent.request_stop()
        thread.join(30)


def measure(agent: Agent, texts: dict, reloads: int) -> int:
    deadline = time.monotonic() + 60
    while len(FRAMES) < 30 and time.monotonic() < deadline:
        time.sleep(0.2)  # a bench, not a test: waiting for the pipeline to warm up
    results: dict[str, list[float]] = {"rule": [], "camera": []}
    threshold, fps = 0.30, 10.0
    for _ in range(reloads):
        for kind in ("rule", "camera"):
            time.sleep(3.0)  # a quiet stretch: the normal period is measured here
            if kind == "rule":
                threshold = 0.31 if threshold == 0.30 else 0.30
            else:
                fps = 9.9 if fps == 10.0 else 10.0
            started = time.monotonic()
            outcome = agent.apply_config_text(texts[(threshold, fps)], origin=f"bench {kind}", persist=False)
            ended = time.monotonic()
            assert outcome["outcome"] == "applied", outcome
            time.sleep(2.0)
            results[kind].append(gap_during(started, ended))
    periods = [b - a for a, b in zip(FRAMES, FRAMES[1:])]
    period = statistics.median(periods)
    print(f"frames processed {len(FRAMES)}, normal period {period * 1000:.0f} ms (median, same run)")
    print(f"{'reload':<8} {'n':>3} {'gap median':>11} {'gap max':>9} {'missed median':>14} {'missed max':>11}")
    for kind, gaps in results.items():
        missed = [max(0.0, gap - period) for gap in gaps]
        print(
            f"{kind:<8} {len(gaps):>3} {statistics.median(gaps) * 1000:>8.0f} ms {max(gaps) * 1000:>6.0f} ms"
            f" {statistics.median(missed) * 1000:>11.0f} ms {max(missed) * 1000:>8.0f} ms"
        )
    ratio = statistics.median(results["rule"]) / statistics.median(results["camera"])
    print(f"gap ratio rule/camera (make-before-break vs reader reopened): {ratio:.2f}")
    worst = max(max(0.0, gap - period) for gap in results["rule"])
    print(f"target: under 1 s missed on a reload that keeps the camera: {'met' if worst < 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
