"""Score MOTChallenge tracks against ground truth with py-motmetrics and TrackEval (the optional `.[eval]` extra).

motmetrics 1.4.0 (the last release) calls `np.asfarray`, gone in NumPy 2, inside its IoU
helpers; so the per-frame distance matrices are built here and only the accumulator and the
metrics (CLEAR MOT, IDF1) come from the library. Matching is at IoU >= 0.5 as in MOTChallenge.
Ground-truth rows with conf 0 (MOTChallenge's "ignore") are dropped; MOT15's columns 8-10 are
world coordinates, not classes, so no class filter is applied.
motmetrics has no HOTA: it comes from TrackEval's HOTA (mean over its IoU thresholds 0.05-0.95)
fed the same boxes, and is None when trackeval is not installed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INSTALL_HINT = "pip install 'edge-agent[eval]'  (or: pip install motmetrics trackeval)"
MATCH_IOU = 0.5


class EvalUnavailable(RuntimeError):
    """The evaluation library is not installed."""


@dataclass(frozen=True)
class TrackScores:
    mota: float
    idf1: float
    hota: float | None
    id_switches: int
    precision: float
    recall: float
    frames: int

    def report(self) -> str:
        hota = "n/a (pip install trackeval)" if self.hota is None else f"{self.hota:.3f}"
        return (
            f"MOTA {self.mota:.3f}  IDF1 {self.idf1:.3f}  HOTA {hota}\n"
            f"ID switches {self.id_switches}  precision {self.precision:.3f}  recall {self.recall:.3f}"
            f"  ({self.frames} frames)"
        )


def read_mot(path: str | Path, ground_truth: bool = False) -> dict[int, list[tuple[int, np.ndarray]]]:
    """frame -> [(id, xywh)] from a MOTChallenge text file."""
    rows: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for line in Path(path).read_text().splitlines():
        fields = line.strip().split(",")
        if len(fields) < 6:
            continue
        if ground_truth and len(fields) >= 7 and float(fields[6]) == 0:
            continue
        frame, object_id = int(float(fields[0])), int(float(fields[1]))
        rows[frame].append((object_id, np.array([float(v) for v in fields[2:6]])))
    return rows


def _iou(gt: list[tuple[int, np.ndarray]], hyp: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """IoU of every ground-truth box (rows) with every hypothesis box (columns), both xywh."""
    if not gt or not hyp:
        return np.zeros((len(gt), len(hyp)))
    a = np.array([box for _, box in gt])
    b = np.array([box for _, box in hyp])
    ax2, ay2, bx2, by2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _distances(gt: list[tuple[int, np.ndarray]], hyp: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """1 - IoU, NaN where the IoU is below MATCH_IOU (motmetrics' "cannot match")."""
    iou = _iou(gt, hyp)
    return np.where(iou >= MATCH_IOU, 1.0 - iou, np.nan)


def evaluate(tracks: str | Path, ground_truth: str | Path) -> TrackScores:
    try:
        import motmetrics
    except ImportError as exc:
        raise EvalUnavailable(f"track evaluation needs motmetrics: {INSTALL_HINT}") from exc
    return score(motmetrics, read_mot(tracks), read_mot(ground_truth, ground_truth=True))


def score(motmetrics, hyp_rows: dict, gt_rows: dict) -> TrackScores:
    accumulator = motmetrics.MOTAccumulator(auto_id=False)
    frames = sorted(set(gt_rows) | set(hyp_rows))
    for frame in frames:
        gt, hyp = gt_rows.get(frame, []), hyp_rows.get(frame, [])
        accumulator.update([i for i, _ in gt], [i for i, _ in hyp], _distances(gt, hyp), frameid=frame)
    names = ["mota", "idf1", "num_switches", "precision", "recall"]
    summary = motmetrics.metrics.create().compute(accumulator, metrics=names, name="tracks")
    row = summary.loc["tracks"]
    return TrackScores(
        mota=float(row["mota"]),
        idf1=float(row["idf1"]),
        hota=hota(hyp_rows, gt_rows, frames),
        id_switches=int(row["num_switches"]),
        precision=float(row["precision"]),
        recall=float(row["recall"]),
        frames=len(frames),
    )


def hota(hyp_rows: dict, gt_rows: dict, frames: list[int]) -> float | None:
    """TrackEval's HOTA over `frames`, or None without trackeval."""
    try:
        from trackeval.metrics import HOTA
    except ImportError:
        return None
    gt_ids = {i: n for n, i in enumerate(sorted({i for rows in gt_rows.values() for i, _ in rows}))}
    hyp_ids = {i: n for n, i in enumerate(sorted({i for rows in hyp_rows.values() for i, _ in rows}))}
    data = {
        "num_gt_ids": len(gt_ids),
        "num_tracker_ids": len(hyp_ids),
        "num_gt_dets": sum(len(gt_rows.get(f, [])) for f in frames),
        "num_tracker_dets": sum(len(hyp_rows.get(f, [])) for f in frames),
        "gt_ids": [np.array([gt_ids[i] for i, _ in gt_rows.get(f, [])], dtype=int) for f in frames],
        "tracker_ids": [np.array([hyp_ids[i] for i, _ in hyp_rows.get(f, [])], dtype=int) for f in frames],
        "similarity_scores": [_iou(gt_rows.get(f, []), hyp_rows.get(f, [])) for f in frames],
    }
    return float(np.mean(HOTA().eval_sequence(data)["HOTA"]))
