"""`models bench`: time each installed variant here and record the one `variant: auto` should use.

INT8 is not always faster: on small x86 CPUs without VNNI it can be slower than FP32, while
on ARM it usually wins. So the agent measures on the device instead of assuming, and prefers
INT8 only when it is also faithful to FP32 (models.choose_variant).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from edge_agent.config.detector import DetectorConfig
from edge_agent.vision.calibration_frames import split_samples
from edge_agent.vision.detector import Detector
from edge_agent.vision.models import (
    MIN_AGREEMENT,
    InstalledModel,
    choose_variant,
    read_record,
    resolve_variant,
    write_record,
)

ROUNDS = 3


def synthetic_frames(count: int = 4, size: tuple[int, int] = (720, 1280), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(count)]


def load_frames(frames: Path | None) -> list[np.ndarray]:
    if frames is None:
        return synthetic_frames()
    calib, held_out = split_samples(frames, 4, 4)
    return calib + held_out


def bench_variants(
    models_dir: Path,
    name: str,
    runs: int = 30,
    frames: Path | None = None,
    settings: DetectorConfig | None = None,
    min_agreement: float = MIN_AGREEMENT,
) -> tuple[InstalledModel, str]:
    """Median detect() latency per installed variant, in alternating rounds; (record, why that variant)."""
    record = read_record(models_dir, name)
    settings = settings or DetectorConfig(model=name)
    images = load_frames(frames)
    detectors = {}
    for variant in sorted(record.variants):
        path, _, _ = resolve_variant(models_dir, name, variant)
        detectors[variant] = Detector(
            path, record.manifest, settings, expected_sha256=record.variants[variant].sha256, variant=variant
        )
    timings: dict[str, list[float]] = {variant: [] for variant in detectors}
    per_round = max(1, runs // ROUNDS)
    for _ in range(ROUNDS):  # alternate so background load hits every variant alike
        for variant, detector in detectors.items():
            for index in range(per_round):
                started = time.perf_counter()
                detector.detect(images[index % len(images)])
                timings[variant].append((time.perf_counter() - started) * 1000.0)
    record.bench = {variant: round(statistics.median(values), 2) for variant, values in timings.items()}
    record.preferred_variant, why = choose_variant(record, record.bench, min_agreement)
    write_record(models_dir, record)
    return record, why
