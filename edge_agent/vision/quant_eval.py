"""How an INT8 model compares with its FP32 source: detection agreement and latency, measured here.

Agreement is precision / recall / F1 of the INT8 detections against the FP32 ones at IoU 0.5
(FP32 is the reference, not ground truth); latency is the median per-frame detect time,
alternating rounds between the two so background load on a shared box hits both alike.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.config.detector import DetectorConfig
from edge_agent.events.vision_types import Detection
from edge_agent.vision.detector import Detector
from edge_agent.vision.manifest import ModelManifest
from edge_agent.vision.models import sha256_file


@dataclass
class Agreement:
    precision: float
    recall: float
    f1: float
    fp32_boxes: int
    int8_boxes: int


def agreement(
    reference: list[tuple[Detection, ...]], candidate: list[tuple[Detection, ...]], iou: float = 0.5
) -> Agreement:
    """Precision/recall/F1 of `candidate` against `reference`: greedy same-class matching at `iou`."""
    matched = ref_total = cand_total = 0
    for ref, cand in zip(reference, candidate, strict=True):
        ref_total += len(ref)
        cand_total += len(cand)
        used: set[int] = set()
        for det in sorted(cand, key=lambda d: -d.score):
            best, best_iou = None, iou
            for index, target in enumerate(ref):
                if index in used or target.class_name != det.class_name:
                    continue
                overlap = det.box.iou(target.box)
                if overlap >= best_iou:
                    best, best_iou = index, overlap
            if best is not None:
                used.add(best)
                matched += 1
    precision = matched / cand_total if cand_total else 1.0
    recall = matched / ref_total if ref_total else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Agreement(round(precision, 4), round(recall, 4), round(f1, 4), ref_total, cand_total)


def median_latency_ms(detector: Detector, images: list[np.ndarray], runs: int) -> float:
    timings = []
    for index in range(runs):
        started = time.perf_counter()
        detector.detect(images[index % len(images)])
        timings.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(timings)


SCORE_MARGIN = 0.1


def _above(results: list[tuple[Detection, ...]], threshold: float) -> list[tuple[Detection, ...]]:
    return [tuple(d for d in dets if d.score >= threshold) for dets in results]


def evaluate(
    fp32_path: Path,
    int8_path: Path,
    manifest: ModelManifest,
    eval_images: list[np.ndarray],
    settings: DetectorConfig | None = None,
    timing_runs: int = 20,
) -> tuple[Agreement, Agreement, float, float]:
    """(strict agreement, agreement with a score margin, fp32 ms, int8 ms).

    Strict: both at the configured threshold. With margin: INT8 boxes count as agreeing when
    FP32 saw them at threshold - 0.1, and FP32 boxes at threshold + 0.1 must be found by INT8 at
    threshold - 0.1; this separates real disagreement from scores hovering at the threshold.
    """
    base = settings or DetectorConfig(merge_vehicles=False)
    low = base.model_copy(update={"score_threshold": max(0.01, base.score_threshold - SCORE_MARGIN)})
    fp32 = Detector(fp32_path, manifest, low, expected_sha256=_digest(fp32_path))
    int8 = Detector(int8_path, manifest, low, expected_sha256=_digest(int8_path), variant="int8")
    ref, cand = [fp32.detect(i) for i in eval_images], [int8.detect(i) for i in eval_images]
    t = base.score_threshold
    strict = agreement(_above(ref, t), _above(cand, t))
    precision = agreement(ref, _above(cand, t)).precision
    recall = agreement(_above(ref, t + SCORE_MARGIN), cand).recall
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    margin = Agreement(precision, recall, round(f1, 4), strict.fp32_boxes, strict.int8_boxes)
    # Alternate rounds so background load on a shared box hits both variants alike.
    fp32_runs, int8_runs = [], []
    for _ in range(max(1, timing_runs // 10)):
        fp32_runs.append(median_latency_ms(fp32, eval_images, 10))
        int8_runs.append(median_latency_ms(int8, eval_images, 10))
    return strict, margin, min(fp32_runs), min(int8_runs)


def _digest(path: Path) -> str:
    return sha256_file(path)
