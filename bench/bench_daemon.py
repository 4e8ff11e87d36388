#!/usr/bin/env python3
"""Daemon footprint: RSS and CPU of `edge-agent run` with 1 and with 4 cameras (files at real-time pace).

    .venv/bin/python bench/bench_daemon.py                 # 5 minutes per run (the issue's figure)
    .venv/bin/python bench/bench_daemon.py --duration 30   # a quick look

Each run starts a private mosquitto and the real daemon as a subprocess, samples its
/proc/<pid> every second, and reads the per-camera processed fps from its telemetry.
The 1-camera run is the baseline: the 4-camera run is printed as a ratio against it.
Memory growth is RSS at the end minus RSS after the warm-up (first 20 % of the run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as paho
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.assets import AssetUnavailable, require_mirror
from edge_agent.vision.models import fetch_model
from tests.support.broker import Mosquitto

TICKS = os.sysconf("SC_CLK_TCK")


def assets() -> Path:
    try:
        return require_mirror().resolve()  # the lookup the agent uses: $EDGE_AGENT_ASSETS, else ../shared
    except AssetUnavailable as exc:
        sys.exit(f"{Path(__file__).name}: {exc}")


def config_for(cameras: int, workdir: Path, port: int, models: Path) -> dict:
    clip = assets() / "footage" / "entrance-one-by-one.mp4"
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
                "zones": {"room": {"points": [[0, 0], [1, 0], [1, 1], [0, 1]]}},
                "lines": {"door": {"points": [[0.0, 0.7], [1.0, 0.7]], "in_side": [0.5, 0.3]}},
            }
            for i in range(cameras)
        ],
        "rules": [
            rule
            for i in range(cameras)
            for rule in (
                {"name": f"loiter{i}", "type": "loitering", "camera": f"cam{i}", "zone": "room", "max_dwell": 30},
                {"name": f"count{i}", "type": "line_crossing", "camera": f"cam{i}", "line": "door"},
            )
        ],
        "telemetry": {"interval": 5},
    }


def proc_sample(pid: int) -> tuple[float, float]:
    """(cpu seconds, rss MB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss / 1024


def telemetry_listener(port: int) -> tuple[paho.Client, list[dict]]:
    samples: list[dict] = []
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_connect = lambda c, *a: c.subscribe("edge/bench/bench/telemetry", qos=0)
    client.on_message = lambda c, u, m: samples.append(json.loads(m.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client, samples


def run_once(cameras: int, duration: float, models: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-daemon-{cameras}-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "broker").start()
        client, samples = telemetry_listener(broker.port)
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(config_for(cameras, workdir, broker.port, models)))
        log = open(workdir / "agent.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
        points: list[tuple[float, float, float]] = []  # (t, cpu s, rss MB)
        started = time.monotonic()
        try:
            while time.monotonic() - started < duration:
                if process.poll() is not None:
                    raise RuntimeError(f"daemon exited early:\n{(workdir / 'agent.log').read_text()[-2000:]}")
                cpu, rss = proc_sample(process.pid)
                points.append((time.monotonic() - started, cpu, rss))
                time.sleep(1.0)
        finally:
            process.terminate()
            process.wait(30)
            log.close()
            client.loop_stop()
            broker.stop()
        return summarize(cameras, points, samples)


def summarize(cameras: int, points: list, samples: list[dict]) -> dict:
    warm = max(1, len(points) // 5)
    (t0, cpu0, rss_warm), (t1, cpu1, rss_end) = points[warm], points[-1]
    fps = {}
    if samples:
        fps = {cam: figures.get("processed_fps", 0.0) for cam, figures in samples[-1].get("cameras", {}).items()}
    return {
        "cameras": cameras,
        "cpu_percent": 100.0 * (cpu1 - cpu0) / (t1 - t0),
        "rss_peak_mb": max(p[2] for p in points),
        "rss_after_warmup_mb": rss_warm,
        "rss_end_mb": rss_end,
        "rss_growth_mb_per_min": (rss_end - rss_warm) / ((t1 - t0) / 60.0),
        "processed_fps": fps,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds per run (default 300)")
    parser.add_argument(
        "--cameras", type=int, nargs="+", default=[1, 4], help="camera counts; the first is the baseline"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-models-") as models:
        fetch_model("yolox_nano", Path(models), mirror_dir=assets())
        results = [run_once(n, args.duration, Path(models)) for n in args.cameras]
    base = results[0]
    print(
        f"daemon footprint, {args.duration:.0f} s per run, clip entrance-one-by-one.mp4 at real-time pace, detect_fps "
        f"5, {os.cpu_count()} cores"
    )
    print(
        f"{'cameras':>7} {'cpu%':>7} {'x base':>7} {'rss MB':>8} {'x base':>7} {'peak MB':>8} {'growth MB/min':>14}  "
        f"processed fps"
    )
    for r in results:
        print(
            f"{r['cameras']:>7} {r['cpu_percent']:>7.1f} {r['cpu_percent'] / base['cpu_percent']:>7.2f} "
            f"{r['rss_end_mb']:>8.1f}"
            f" {r['rss_end_mb'] / base['rss_end_mb']:>7.2f} {r['rss_peak_mb']:>8.1f} "
            f"{r['rss_growth_mb_per_min']:>14.2f}  "
            + " ".join(f"{cam}={fps:.1f}" for cam, fps in sorted(r["processed_fps"].items()))
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
