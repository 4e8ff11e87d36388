"""Compare two replays' alerts (JSON lines from `edge-agent replay`): x86_64 against arm64 (build-rootfs.sh).

Must match exactly: the number of alerts and, in order, each one's (type, rule, phase). Allowed to differ: an
alert's clip time by up to TIME_TOLERANCE_S (relative to each run's first alert, since a replay stamps clip time
onto its own start) and confidences by up to SCORE_TOLERANCE. Why any tolerance: onnxruntime's kernels differ
between x86_64 (AVX2/FMA) and aarch64 (NEON), so scores differ in the last digits; a score that sits on a
threshold can move a track's first or last frame by one detection step (0.2 s at detect_fps 5), never its count.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

TIME_TOLERANCE_S = 1.0  # five detection steps at detect_fps 5
SCORE_TOLERANCE = 0.05


def alerts(path: str) -> list[dict]:
    with open(path) as lines:
        return [json.loads(line) for line in lines if line.strip()]


def offsets(rows: list[dict]) -> list[float]:
    times = [datetime.fromisoformat(row["started_at"].replace("Z", "+00:00")) for row in rows]
    return [(t - times[0]).total_seconds() for t in times] if times else []


def main(x86_path: str, arm_path: str) -> int:
    x86, arm = alerts(x86_path), alerts(arm_path)
    kinds = [[(a["type"], a.get("rule"), a.get("phase")) for a in rows] for rows in (x86, arm)]
    print(f"compare_replays: x86_64 {len(x86)} alerts, arm64 {len(arm)} alerts")
    worst_time = worst_score = 0.0
    for index, (left, right) in enumerate(zip(x86, arm)):
        worst_time = max(worst_time, abs(offsets(x86)[index] - offsets(arm)[index]))
        score = abs((left["details"].get("confidence") or 0) - (right["details"].get("confidence") or 0))
        worst_score = max(worst_score, score)
        print(f"  {kinds[0][index]}  {offsets(x86)[index]:7.1f}s  {offsets(arm)[index]:7.1f}s  Δconf {score:.4f}")
    problems = []
    if kinds[0] != kinds[1]:
        problems.append(f"types/rules/phases differ: x86 {kinds[0]} arm64 {kinds[1]}")
    if worst_time > TIME_TOLERANCE_S:
        problems.append(f"an alert's time differs by {worst_time:.2f}s (> {TIME_TOLERANCE_S}s)")
    if worst_score > SCORE_TOLERANCE:
        problems.append(f"a confidence differs by {worst_score:.4f} (> {SCORE_TOLERANCE})")
    print(f"compare_replays: largest time difference {worst_time:.2f}s, confidence difference {worst_score:.4f}")
    for problem in problems:
        print(f"compare_replays: MISMATCH: {problem}")
    return 1 if problems or not x86 else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
