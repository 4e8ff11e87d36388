#!/usr/bin/env python3
"""Daemon footprint: RSS and CPU of `edge-agent run` with 1 and with 4 cameras (files at real-time pace).

    .venv/bin/python bench/bench_daemon.py                 # 5 minutes per run (the issue's figure), ~11 min in all
    .venv/bin/python bench/bench_daemon.py --duration 30   # a quick look
    .venv/bin/python bench/bench_daemon.py --quick         # memory by component, 4 cameras, now and as before: ~2 min
    .venv/bin/python bench/bench_daemon.py --duration 1800 --cameras 4 --no-motion-gate --samples-every 30  # soak

Each run starts a private mosquitto and the real daemon as a subprocess, samples its
/proc/<pid> every second, and reads the per-camera processed fps from its telemetry.
The 1-camera run is the baseline: the 4-camera run is printed as a ratio against it.
Memory growth is RSS at the end minus RSS after the warm-up (first 20 % of the run).

Memory by component: at the end of each run the daemon's /proc/<pid>/smaps is sorted into libraries,
malloc heaps, thread stacks and other anonymous mappings (bench/memory_map.py), beside telemetry's count of
glibc arenas; `--python-heap` runs the daemon under tracemalloc (PYTHONTRACEMALLOC=1, which costs memory
itself) and adds the Python heap it traces. `--before` adds a run of the last camera count as the agent was
before issue 20: glibc's default arenas (MALLOC_ARENA_MAX = 8 per core, as glibc picks), scipy.optimize loaded
(the tracker's old assignment solver) and pandas (which sqlite-utils imported where it is installed), so now and
before compare in the same run, on the same load.

Soak (`--samples-every S`): also prints the RSS curve, one line per S seconds (minute, RSS MB),
and the verdict against the memory target: RSS at minute 10 <= 250 MB, and growth over the last
20 minutes <= 5 % of the RSS at minute 10 (needs --duration 1800 for the full window).
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

from bench.memory_map import classify, read_mappings, table
from edge_agent.assets import AssetUnavailable, require_mirror
from edge_agent.vision.models import fetch_model
from tests.support.broker import Mosquitto

TICKS = os.sysconf("SC_CLK_TCK")
UNIT = ROOT / "systemd" / "edge-agent.service"


def assets() -> Path:
    try:
        return require_mirror().resolve()  # the lookup the agent uses: $EDGE_AGENT_ASSETS, else ../shared
    except AssetUnavailable as exc:
        sys.exit(f"{Path(__file__).name}: {exc}")


SOAK_RSS_LIMIT_MB = 250.0
SOAK_GROWTH_LIMIT = 0.05  # of the RSS at minute 10, over the last 20 minutes
SOAK_REFERENCE_S = 600.0
SOAK_WINDOW_S = 1200.0


def unit_environment() -> dict[str, str]:
    """The `Environment=` settings of the systemd unit, so the bench runs the daemon as installed.

    MALLOC_ARENA_MAX among them decides the RSS curve (see bench/README.md, daemon footprint).
    """
    pairs = [line.split("=", 1)[1] for line in UNIT.read_text().splitlines() if line.startswith("Environment=")]
    return dict(pair.split("=", 1) for pair in pairs)


def config_for(cameras: int, workdir: Path, port: int, models: Path, motion_gate: bool = True) -> dict:
    clip = assets() / "footage" / "entrance-one-by-one.mp4"
    return {
        "device": {"id": "bench", "site": "bench", "state_dir": str(workdir / "state")},
        "mqtt": {"host": "127.0.0.1", "port": port, "retry_unrouted": False},
        "detector": {"models_dir": str(models)},
        "cameras": [
            {
                "id": f"cam{i}",
                "url": str(clip),
                "kind": "file",
                "loop": True,
                "realtime": True,
                "detect_fps": 5,
                "motion": {"enabled": motion_gate},
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


# as before issue 20: the tracker imported scipy.optimize (for linear_sum_assignment) when the daemon started, and
# sqlite-utils imported pandas where it is installed (this venv: motmetrics, a dev extra, brings it)
BEFORE_LAUNCH = (
    "import importlib.util, runpy, scipy.optimize\n"
    "if importlib.util.find_spec('pandas'): import pandas\n"
    "runpy.run_module('edge_agent', run_name='__main__')"
)


def before_environment() -> dict[str, str]:
    """glibc's own default (8 arenas per core), which the agent no longer gets unless the environment says so."""
    return {"MALLOC_ARENA_MAX": str(8 * (os.cpu_count() or 1))}


def run_once(
    cameras: int,
    duration: float,
    models: Path,
    motion_gate: bool = True,
    samples_every: float = 0,
    env=None,
    before: bool = False,
) -> dict:
    """One daemon run; with `samples_every` it also prints the RSS curve as it goes (soak). `before`: launched as
    the agent was before issue 20 (BEFORE_LAUNCH, with `env` holding before_environment())."""
    with tempfile.TemporaryDirectory(prefix=f"bench-daemon-{cameras}-") as tmp:
        workdir = Path(tmp)
        broker = Mosquitto(workdir / "broker").start()
        client, samples = telemetry_listener(broker.port)
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(config_for(cameras, workdir, broker.port, models, motion_gate)))
        log = open(workdir / "agent.log", "wb")
        launch = ["-c", BEFORE_LAUNCH] if before else ["-m", "edge_agent"]
        process = subprocess.Popen(
            [sys.executable, *launch, "run", "--config", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, **(env or {})},
        )
        points: list[tuple[float, float, float]] = []  # (t, cpu s, rss MB)
        started = time.monotonic()
        next_print = 0.0
        if samples_every:
            print(f"RSS curve, {cameras} camera(s):\n{'minute':>7} {'RSS MB':>8}", flush=True)
        try:
            while time.monotonic() - started < duration:
                if process.poll() is not None:
                    raise RuntimeError(f"daemon exited early:\n{(workdir / 'agent.log').read_text()[-2000:]}")
                cpu, rss = proc_sample(process.pid)
                points.append((time.monotonic() - started, cpu, rss))
                if samples_every and points[-1][0] >= next_print:
                    print(f"{points[-1][0] / 60:>7.1f} {rss:>8.1f}", flush=True)
                    next_print += samples_every
                time.sleep(1.0)
            memory = classify(read_mappings(process.pid))  # at the end of the run, the daemon still running
        finally:
            process.terminate()
            process.wait(30)
            log.close()
            client.loop_stop()
            broker.stop()
        return {**summarize(cameras, points, samples), "memory": memory}


def summarize(cameras: int, points: list, samples: list[dict]) -> dict:
    warm = max(1, len(points) // 5)
    (t0, cpu0, rss_warm), (t1, cpu1, rss_end) = points[warm], points[-1]
    fps, system = {}, {}
    if samples:
        fps = {cam: figures.get("processed_fps", 0.0) for cam, figures in samples[-1].get("cameras", {}).items()}
        system = samples[-1].get("system", {})
    return {
        "cameras": cameras,
        "cpu_percent": 100.0 * (cpu1 - cpu0) / (t1 - t0),
        "rss_peak_mb": max(p[2] for p in points),
        "rss_after_warmup_mb": rss_warm,
        "rss_end_mb": rss_end,
        "rss_growth_mb_per_min": (rss_end - rss_warm) / ((t1 - t0) / 60.0),
        "processed_fps": fps,
        "malloc_arenas": system.get("malloc_arenas"),
        "python_heap_mb": system.get("python_traced_mb"),
        "points": points,
    }


def rss_at(points: list, t: float) -> tuple[float, float]:
    """(time, RSS MB) of the first sample at or after t seconds (the last one if none is)."""
    t_found, _, rss = next((p for p in points if p[0] >= t), points[-1])
    return t_found, rss


def soak_verdict(points: list) -> str:
    """RSS at minute 10 and growth over the last 20 minutes against the memory target."""
    end_t, end_rss = points[-1][0], points[-1][2]
    ref_t, ref_rss = rss_at(points, min(SOAK_REFERENCE_S, end_t / 3))  # a short run: its first third
    window_start, window_rss = rss_at(points, max(ref_t, end_t - SOAK_WINDOW_S))
    growth = end_rss - window_rss
    share = growth / ref_rss
    rss_ok, growth_ok = ref_rss <= SOAK_RSS_LIMIT_MB, share <= SOAK_GROWTH_LIMIT
    full = end_t >= 0.99 * (SOAK_REFERENCE_S + SOAK_WINDOW_S)  # the sampling loop stops a second short
    lines = [
        f"RSS at minute {ref_t / 60:.1f}: {ref_rss:.1f} MB (target <= {SOAK_RSS_LIMIT_MB:.0f}): "
        + ("ok" if rss_ok else "OVER"),
        f"growth minute {window_start / 60:.1f} -> {end_t / 60:.1f}: {growth:+.1f} MB = {100 * share:+.1f} % of the "
        f"minute-{ref_t / 60:.0f} RSS (target <= {100 * SOAK_GROWTH_LIMIT:.0f} %): " + ("ok" if growth_ok else "OVER"),
        f"peak {max(p[2] for p in points):.1f} MB; verdict: "
        + ("PASS" if rss_ok and growth_ok else "FAIL")
        + ("" if full else " (run shorter than 30 minutes: window incomplete, indicative only)"),
    ]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds per run (default 300)")
    parser.add_argument(
        "--cameras", type=int, nargs="+", default=[1, 4], help="camera counts; the first is the baseline"
    )
    parser.add_argument("--no-motion-gate", action="store_true", help="detect on every due frame (worst case)")
    parser.add_argument(
        "--samples-every", type=float, default=0.0, help="soak: print RSS every S seconds and the memory verdict"
    )
    parser.add_argument(
        "--no-unit-env",
        action="store_true",
        help="do not apply the systemd unit's Environment= (e.g. MALLOC_ARENA_MAX) to the daemon",
    )
    parser.add_argument("--before", action="store_true", help="also run the last camera count as before issue 20")
    parser.add_argument("--python-heap", action="store_true", help="trace the Python heap (tracemalloc; costs memory)")
    parser.add_argument(
        "--quick", action="store_true", help="memory by component: 45 s, 4 cameras, now and before, no unit env"
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.cameras, args.before, args.no_unit_env = 45.0, [4], True, True
    return args


def main() -> int:
    args = parse_args()
    env = {} if args.no_unit_env else unit_environment()
    if args.python_heap:
        env = {**env, "PYTHONTRACEMALLOC": "1"}
    runs = [(f"{n} cam", n, env, False) for n in args.cameras]
    if args.before:
        runs.append((f"{args.cameras[-1]} cam before", args.cameras[-1], {**env, **before_environment()}, True))
    with tempfile.TemporaryDirectory(prefix="bench-models-") as models:
        fetch_model("yolox_nano", Path(models), mirror_dir=assets())
        results = []
        for label, n, run_env, before in runs:
            gate, every = not args.no_motion_gate, args.samples_every
            results.append({**run_once(n, args.duration, Path(models), gate, every, run_env, before), "label": label})
            if args.samples_every:
                print(soak_verdict(results[-1]["points"]), flush=True)
    print_figures(results, args, env)
    print_memory(results)
    return 0


def print_figures(results: list[dict], args: argparse.Namespace, env: dict) -> None:
    base = results[0]
    print(
        f"daemon footprint, {args.duration:.0f} s per run, clip entrance-one-by-one.mp4 at real-time pace, detect_fps "
        f"5, motion gate {'off' if args.no_motion_gate else 'on'}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}, daemon environment {env or 'as inherited'}"
    )
    print(
        f"{'run':>14} {'cpu%':>7} {'x base':>7} {'rss MB':>8} {'x base':>7} {'peak MB':>8} {'growth MB/min':>14}  "
        f"processed fps"
    )
    for r in results:
        print(
            f"{r['label']:>14} {r['cpu_percent']:>7.1f} {r['cpu_percent'] / base['cpu_percent']:>7.2f} "
            f"{r['rss_end_mb']:>8.1f}"
            f" {r['rss_end_mb'] / base['rss_end_mb']:>7.2f} {r['rss_peak_mb']:>8.1f} "
            f"{r['rss_growth_mb_per_min']:>14.2f}  "
            + " ".join(f"{cam}={fps:.1f}" for cam, fps in sorted(r["processed_fps"].items()))
        )


def print_memory(results: list[dict]) -> None:
    """Resident MB by component at the end of each run (bench/memory_map.py), with telemetry's own figures."""
    print("\nmemory by component at the end of each run (MB resident; smaps)")
    print(table([(r["label"], r["memory"]) for r in results]))
    width = max(12, *(len(r["label"]) for r in results))
    for name, key in (("malloc arenas (telemetry)", "malloc_arenas"), ("python heap (tracemalloc)", "python_heap_mb")):
        if any(r[key] is not None for r in results):
            print(f"{name:<30}" + "".join(f" {str(r[key] if r[key] is not None else '-'):>{width}}" for r in results))


if __name__ == "__main__":
    raise SystemExit(main())
