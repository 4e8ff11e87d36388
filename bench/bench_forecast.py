#!/usr/bin/env python3
"""crowd.forecast on simulated occupancy: false starts per hour on noise, and lead over `occupancy` on rises.

Every series is played at 5 fps through the real `RuleEngine` as that many person tracks in a
zone, beside an `occupancy` rule with the same capacity (12) and its default 2 s hold; the
forecast rule runs with its defaults (window 60 s, horizon 60 s, hold 10 s, alpha 0.1, beta 0.05).

- Noise (must never start): half-hour series, each capped at capacity (the count never exceeds
  it), of three kinds: `held` a level of 6-10 plus an offset of +-1 or +-2 redrawn every
  1-2..10 s (people coming and going); `flicker` a level of 6-10 plus +-1 held 1-3 s plus +-1
  per frame (detector misses and doubles); `swings` a level of 5-8 plus +-3 held 2-10 s.
- Steps (must never start): 2 → 11 and 2 → 15 (beyond capacity), 5 → 11 and 8 → 11, clean and with +-1 noise.
- Rises (must start before the count exceeds capacity): from 2 after 90 s, 2, 3, 6 and 12 a
  minute, clean and with +-1 held noise over several seeds; the lead is the occupancy rule's
  start minus the forecast's.

    .venv/bin/python bench/bench_forecast.py [--hours 50] [--seeds 10] [--set hold=0 --set alpha=0.3 ...]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from pydantic import TypeAdapter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.clock import FakeClock
from edge_agent.config.cameras import CameraConfig
from edge_agent.config.rules import VideoRuleConfig
from edge_agent.events import AlertFactory, Box, FrameDetections, ListSink, Track
from edge_agent.rules import RuleEngine

CAPACITY, FPS = 12, 5.0
CAMERA = CameraConfig(id="cam", url="sim", zones={"z": {"points": [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]}})
FORECAST = {"name": "forecast", "type": "crowd.forecast", "camera": "cam", "zone": "z", "capacity": CAPACITY}
OCCUPANCY = {"name": "full", "type": "occupancy", "camera": "cam", "zone": "z", "capacity": CAPACITY}
RULES = [TypeAdapter(VideoRuleConfig).validate_python(rule) for rule in (FORECAST, OCCUPANCY)]
PEOPLE = [
    Track(i + 1, "person", Box(x - 0.02, y - 0.1, x + 0.02, y), 0.9, 0.0, 0.0)
    for i in range(40)
    for x, y in [(0.25 + 0.1 * (i % 6), 0.3 + 0.08 * (i // 6))]
]


def play(counts: list[int]) -> dict[str, list[float]]:
    """{rule: start seconds} for a count per frame."""
    sink = ListSink()
    engine = RuleEngine([CAMERA], RULES, AlertFactory("dev", "site", FakeClock(wall=0.0)), sink)
    for index, count in enumerate(counts):
        t = index / FPS
        engine.process(FrameDetections("cam", index, t, 100.0 + t, ()), PEOPLE[:count])
    starts: dict[str, list[float]] = {"forecast": [], "full": []}
    for alert in sink.alerts:
        if alert.phase == "start":  # frame wall times are seconds from 0
            starts[alert.rule].append(datetime.fromisoformat(alert.started_at.replace("Z", "+00:00")).timestamp())
    return starts


def held(rng, seconds: float, amplitude: int, longest: float, shortest: float = 1.0) -> np.ndarray:
    """Per-frame offsets in [-amplitude, amplitude], each held `shortest`..`longest` s."""
    out: list[int] = []
    while len(out) < seconds * FPS:
        out += [int(rng.integers(-amplitude, amplitude + 1))] * max(1, int(rng.uniform(shortest, longest) * FPS))
    return np.array(out[: int(seconds * FPS)])


def noise_series(kind: str, rng) -> list[int]:
    if kind == "held":
        values = rng.integers(6, 11) + held(rng, 1800, int(rng.integers(1, 3)), float(rng.uniform(2, 10)))
    elif kind == "flicker":
        values = rng.integers(6, 11) + held(rng, 1800, 1, 3) + rng.integers(-1, 2, int(1800 * FPS))
    else:
        values = rng.integers(5, 9) + held(rng, 1800, 3, 10, 2)
    return [int(v) for v in np.clip(values, 0, CAPACITY)]


def ramp(per_min: float, seconds: float, low: int = 2, high: int = 16, start: float = 90) -> list[int]:
    return [min(high, low + max(0, math.floor((i / FPS - start) * per_min / 60))) for i in range(int(seconds * FPS))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=50, help="hours of noise in all (split over the three kinds)")
    parser.add_argument("--seeds", type=int, default=10, help="noisy variants of each rise")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a forecast rule setting")
    args = parser.parse_args()
    settings = dict(setting.split("=", 1) for setting in args.set)
    RULES[0] = TypeAdapter(VideoRuleConfig).validate_python({**FORECAST, **settings})
    print(f"crowd.forecast {RULES[0].model_dump(include={'window', 'horizon', 'hold', 'alpha', 'beta'})}")
    started = time.perf_counter()
    rng = np.random.default_rng(2026)
    kinds = ("held", "flicker", "swings")
    false_starts = dict.fromkeys(kinds, 0)
    series_per_kind = max(1, round(args.hours * 2 / len(kinds)))
    for kind in kinds:
        for _ in range(series_per_kind):
            false_starts[kind] += len(play(noise_series(kind, rng))["forecast"])
    hours = series_per_kind / 2
    for kind in kinds:
        print(f"noise {kind:<8} {hours:6.1f} h: {false_starts[kind]} false start(s)")
    for low, high in [(2, 11), (2, 15), (5, 11), (8, 11)]:
        for amplitude in (0, 1):
            jitter = held(np.random.default_rng(1), 600, amplitude, 4) if amplitude else np.zeros(int(600 * FPS), int)
            counts = [max(0, (low if i < 120 * FPS else high) + int(j)) for i, j in enumerate(jitter)]
            print(f"step {low} -> {high} +-{amplitude}: {len(play(counts)['forecast'])} start(s)")
    for per_min in (2, 3, 6, 12):
        seconds = 90 + 14 * 60 / per_min + 60
        for amplitude, seeds in ((0, 1), (1, args.seeds)):
            leads, missed = [], 0
            for seed in range(seeds):
                counts = np.array(ramp(per_min, seconds))
                if amplitude:
                    counts = np.maximum(0, counts + held(np.random.default_rng(seed), seconds, 1, 4))
                over = next(i for i, c in enumerate(counts) if c > CAPACITY) / FPS
                starts = play([int(c) for c in counts])
                if starts["forecast"] and starts["forecast"][0] < over:
                    leads.append(starts["full"][0] - starts["forecast"][0])
                else:
                    missed += 1
            shown = (
                f"median {statistics.median(leads):5.1f} s (min {min(leads):.1f}, max {max(leads):.1f})"
                if leads
                else "-"
            )
            print(
                f"rise {per_min:>2}/min +-{amplitude}: warned on {len(leads)}/{seeds} before the count exceeded "
                f"capacity; lead over occupancy {shown}"
            )
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
