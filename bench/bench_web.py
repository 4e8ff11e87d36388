#!/usr/bin/env python3
"""What an open technician's page costs the daemon: CPU (% of one core) and processed fps, page open vs closed.

    .venv/bin/python bench/bench_web.py [--rounds 3] [--seconds 20] [--live-fps 5] [--motion-gate]

One daemon (`edge-agent run` as a subprocess, a private mosquitto, the entrance clip looping in
real time at detect_fps 5 with the motion gate off, so every paced frame is detected) runs the
whole time. Rounds cycle: "closed" (nobody on the page), "open" (a logged-in client doing
what the Camera page does: the live JPEG at web.live_fps — the most the server allows — plus the
line counts at the same rate and the overview every 2 s) and "overlay" (the same with the overlay
toggled on: GET /api/sight at web.live_fps too). Per round: the daemon's CPU from
/proc/<pid>/stat, and processed frames from the detector-call counter in its telemetry. Printed:
each round, the medians, and open and overlay minus closed (target: at most 5 % of a core, no fps
lost). --motion-gate turns the gate on with threshold 1 and min_area 0: every frame still counts as
motion (so is detected), and the overlay's motion regions are computed from a frame-wide change
(their worst case).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.assets import AssetUnavailable, require_mirror
from edge_agent.vision.models import fetch_model
from edge_agent.web.passwords import write_hash
from tests.support.broker import Mosquitto
from tests.support.daemon import Daemon, Watcher, base_config

TICKS = os.sysconf("SC_CLK_TCK")
PASSWORD = "bench password 123"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def detector_calls(watcher: Watcher) -> tuple[float, int]:
    """(receipt time, detector calls) of the newest telemetry sample."""
    samples = watcher.payloads("telemetry")
    return (time.monotonic(), samples[-1]["detector"]["calls"]) if samples else (time.monotonic(), 0)


class PageClient:
    """A logged-in client doing what an open Camera page does, on its own thread."""

    def __init__(self, url: str, live_fps: float, overlay: bool = False):
        self.client = httpx.Client(base_url=url, timeout=10)
        reply = self.client.post("/api/login", json={"password": PASSWORD})
        reply.raise_for_status()
        self.period = 1.0 / live_fps
        self.overlay = overlay
        self.images = self.refused = self.sights = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_overview = 0.0
        while not self._stop.is_set():
            started = time.monotonic()
            reply = self.client.get("/api/live/entrance")
            self.images += reply.status_code == 200
            self.refused += reply.status_code == 429
            self.client.get("/api/lines")
            if self.overlay:
                self.sights += self.client.get("/api/sight/entrance").status_code == 200
            if started >= next_overview:
                self.client.get("/api/overview")
                next_overview = started + 2.0
            self._stop.wait(max(0.0, self.period - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.client.close()


def measure(daemon: Daemon, watcher: Watcher, seconds: float) -> tuple[float, float]:
    """(CPU % of one core, processed fps) over `seconds`."""
    cpu0, (t0, calls0) = cpu_seconds(daemon.process.pid), detector_calls(watcher)
    start = time.monotonic()
    time.sleep(seconds)
    cpu1, (t1, calls1) = cpu_seconds(daemon.process.pid), detector_calls(watcher)
    elapsed = time.monotonic() - start
    return 100.0 * (cpu1 - cpu0) / elapsed, (calls1 - calls0) / max(t1 - t0, 1e-6)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind (they alternate)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of one round")
    parser.add_argument("--live-fps", type=float, default=5.0, help="web.live_fps (the page polls at this rate)")
    parser.add_argument("--motion-gate", action="store_true", help="gate on, every frame motion (regions' worst case)")
    args = parser.parse_args()
    try:
        assets = require_mirror().resolve()
    except AssetUnavailable as exc:
        sys.exit(f"bench_web.py: {exc}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        models = workdir / "models"
        fetch_model("yolox_nano", models, mirror_dir=assets)
        write_hash(workdir / "state" / "web" / "password", PASSWORD)
        broker = Mosquitto(workdir / "broker").start()
        camera = {
            "id": "entrance",
            "url": str(assets / "footage" / "entrance-one-by-one.mp4"),
            "kind": "file",
            "loop": True,
            "realtime": True,
            "detect_fps": 5,
            "motion": {"enabled": True, "threshold": 1, "min_area": 0.0} if args.motion_gate else {"enabled": False},
            "lines": {"entry": {"points": [[0.1, 0.8], [0.9, 0.8]], "in_side": [0.5, 0.95]}},
        }
        config = base_config(
            workdir / "state",
            broker.port,
            detector={"models_dir": str(models), "threads": 1},
            cameras=[camera],
            telemetry={"interval": 1},
            web={"enabled": True, "port": 0, "live_fps": args.live_fps},
        )
        watcher = Watcher(broker.port, base="edge/site-1/dev-1")
        daemon = Daemon(workdir / "agent", config).start()
        try:
            return run_rounds(daemon, watcher, args)
        finally:
            daemon.stop()
            watcher.close()
            broker.stop()


def run_rounds(daemon: Daemon, watcher: Watcher, args) -> int:
    watcher.wait_ready()
    deadline = time.monotonic() + 30
    url = None
    while url is None and time.monotonic() < deadline:
        found = re.findall(r"served on (http://[^ \"]+/)", daemon.log())
        url = found[-1] if found else None
        time.sleep(0.2)
    time.sleep(10)  # warm-up: the model's first runs, the reader's first frames
    kinds = ("closed", "open", "overlay")
    results: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    for index in range(args.rounds):
        for kind in kinds:
            client = PageClient(url, args.live_fps, overlay=kind == "overlay") if kind != "closed" else None
            cpu, fps = measure(daemon, watcher, args.seconds)
            extra = ""
            if client is not None:
                client.stop()
                extra = f"  images {client.images / args.seconds:.2f}/s, refused {client.refused}"
                extra += f", overlays {client.sights / args.seconds:.2f}/s" if client.overlay else ""
            results[kind].append((cpu, fps))
            print(f"round {index + 1} {kind:7s}: CPU {cpu:6.1f} % of a core, processed {fps:5.2f} fps{extra}")
    cpu = {kind: statistics.median(c for c, _ in results[kind]) for kind in kinds}
    fps = {kind: statistics.median(f for _, f in results[kind]) for kind in kinds}
    print("medians: " + "; ".join(f"{kind} CPU {cpu[kind]:.1f} %, {fps[kind]:.2f} fps" for kind in kinds))
    for kind in ("open", "overlay"):
        print(
            f"{kind} page costs {cpu[kind] - cpu['closed']:+.1f} % of a core (target <= 5); "
            f"processed fps ratio {kind}/closed {fps[kind] / fps['closed']:.3f} (target >= ~1)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
