#!/usr/bin/env python3
"""Line counts and zone occupancy against ground truth: this tree and a baseline revision, in the same run.

Every shared MOT15 sequence (footage/mot15/*) is replayed through the real chain (`replay_clip`: YOLOX-Nano fp32,
score >= 0.1, motion gate off) at detect_fps 5, 10 and the clip's own rate with 16 swept full-frame lines and a
3x3 grid of zones (edge_agent/replay/count_eval.py), and scored against gt/gt.txt (count error, bias, crossing
precision within 1 s, occupancy MAE and bias). The entrance clip (truth: 6 in over `floor`, 6 out over `exit`,
6 table visits) runs with configs/replay-entrance.yaml as it is, and gives the replay's wall time per tree on
cached detections (decode + tracker + rules: the detector's time swings by tens of percent under load).

The baseline (`--baseline REV`, default 9d37277: main before issue 21) is extracted with `git archive` and each
replay runs in a child Python whose `edge_agent` is that tree's; the child only uses APIs both trees share
(load_config, replay_clip, ReplayOptions), the scoring is this tree's. Detections of the MOT sequences are
cached per source frame (`--cache`), so both trees see the same boxes and tuning runs take seconds; the entrance
replays alternate trees `--rounds` times (the wall time is the best round).

    EDGE_AGENT_MODELS=DIR .venv/bin/python bench/bench_counts.py [--baseline REV] [--rounds 5] [--only-after]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

T0 = 1_767_225_600.0


def drive(job_path: str) -> None:
    """Child: one replay with the `edge_agent` on sys.path; writes what happened as JSON."""
    from datetime import datetime

    from edge_agent.clock import FakeClock
    from edge_agent.config import load_config
    from edge_agent.events import Box, Detection, FrameDetections
    from edge_agent.replay import ReplayOptions, replay_clip
    from edge_agent.vision.detector import Detector

    job = json.loads(Path(job_path).read_text())
    config = load_config(job["config"])
    cache_path = Path(job["cache"]) if job.get("cache") else None
    cached = json.loads(cache_path.read_text()) if cache_path and cache_path.exists() else {}

    class Recorder:
        def __init__(self):
            self.detector, self.frames, self.mean_ms = None, [], 0.0

        def detect_frame(self, frame):
            self.frames.append(frame.source_index)
            key = str(frame.source_index)
            if key not in cached:
                self.detector = self.detector or Detector.from_config(config.detector, config.models_dir)
                found = self.detector.detect_frame(frame)
                self.mean_ms = self.detector.mean_ms
                cached[key] = [(d.class_name, d.score, *d.box.as_list(6)) for d in found.detections]
            boxes = tuple(Detection(c, s, Box(x1, y1, x2, y2)) for c, s, x1, y1, x2, y2 in cached[key])
            return FrameDetections(frame.camera_id, frame.seq, frame.captured_at, frame.monotonic, boxes, frame.size)

    recorder = Recorder()
    result = replay_clip(
        config, job["clip"], ReplayOptions(clock=FakeClock(wall=T0), tracks_out=job["tracks"], detector=recorder)
    )
    if cache_path:
        cache_path.write_text(json.dumps(cached))

    def seconds(stamp: str) -> float:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() - T0

    out = {
        "line_counts": result.line_counts,
        "crossings": [
            (a.details.line, a.details.direction, seconds(a.started_at))
            for a in result.alerts
            if a.type == "line_crossing"
        ],
        "visits": sum(1 for a in result.alerts if a.rule == "table-visit" and a.phase == "start"),
        "frames": recorder.frames,
        "wall_s": result.wall_s,
        "detector_ms": recorder.mean_ms,
        "tracker_ms": result.chain.tracker_ms,
    }
    Path(job["out"]).write_text(json.dumps(out))


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--drive":
    drive(sys.argv[2])
    sys.exit(0)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml

from edge_agent.assets import AssetUnavailable, require_mirror
from edge_agent.replay.count_eval import (
    CountEvalOptions,
    RunOutput,
    clip_geometry,
    default_config,
    eval_config,
    read_track_feet,
    score_run,
)
from edge_agent.replay.count_scoring import count_error

BAND = 0.01  # the agent's default band: a truth crossing whose foot stays within it on one side is geometry

FPS_STEPS = (5.0, 10.0, None)  # None: the clip's own rate
NEAR_S = 0.5  # a truth crossing whose person no detection covers (IoU >= 0.5) within this many s is a recall miss


def excursions(path, line, index: int) -> tuple[float, float]:
    """How far beyond `line` the foot got on the old side before the crossing at `index` and on the new after."""
    distances = [line.signed_distance(x, y) for _, x, y in path]
    sign = 1 if distances[index] > 0 else -1
    after = before = 0.0
    for d in distances[index:]:
        if d * sign < 0:
            break
        after = max(after, d * sign)
    for d in reversed(distances[:index]):
        if d * sign > 0:
            break
        before = max(before, -d * sign)
    return before, after


def why_missed(gt: Path, geometry, lines: dict, agent: list, cache: Path, band: float) -> dict[str, int]:
    """Truth crossings no agent crossing matched (same line and direction, 1 s), by cause: the foot never got
    beyond the band on one side (geometry: jitter along the line, or the clip ends), no detection of the person
    near the line (detector recall), else the tracker (fragments, late confirmation); and agent crossings no
    truth crossing matched (false)."""
    from edge_agent.events import Box
    from edge_agent.replay import count_truth as truth
    from edge_agent.replay.evaluate import read_mot
    from edge_agent.rules.geometry import DirectedLine

    width, height, fps = geometry
    directed = {name: DirectedLine(name, c["points"][0], c["points"][1], c["in_side"]) for name, c in lines.items()}
    paths = truth.read_foot_paths(gt, width, height)
    boxes = {
        (f, i): Box(x / width, y / height, (x + w) / width, (y + h) / height)
        for f, rows in read_mot(gt, ground_truth=True).items()
        for i, (x, y, w, h) in rows
    }
    detections = {int(k): [Box(*b) for _, _, *b in v] for k, v in json.loads(cache.read_text()).items()}
    unmatched, causes = list(agent), {"geometry": 0, "recall": 0, "tracking": 0, "false": 0}
    for crossing in truth.truth_crossings(paths, directed):
        t = (crossing.frame - 1) / fps
        near = [a for a in unmatched if a[:2] == (crossing.line, crossing.direction) and abs(a[2] - t) <= 1.0]
        if near:
            unmatched.remove(min(near, key=lambda a: abs(a[2] - t)))
            continue
        path = paths[crossing.object_id]
        index = next(i for i, p in enumerate(path) if p[0] == crossing.frame)
        if min(excursions(path, directed[crossing.line], index)) < band:
            causes["geometry"] += 1
            continue
        seen = any(
            box.iou(found) >= 0.5
            for frame, found_boxes in detections.items()
            if abs(frame - crossing.frame) <= NEAR_S * fps and (box := boxes.get((frame, crossing.object_id)))
            for found in found_boxes
        )
        causes["tracking" if seen else "recall"] += 1
    causes["false"] = len(unmatched)
    return causes


def replay_in(tree: Path, config: Path, clip: Path, scratch: Path, cache: Path | None) -> dict:
    """One replay in a child whose edge_agent is `tree`'s; its JSON output plus the exported tracks' path."""
    job = {"config": str(config), "clip": str(clip), "cache": str(cache) if cache else None}
    job |= {"tracks": str(scratch / "tracks.txt"), "out": str(scratch / "out.json")}
    (scratch / "job.json").write_text(json.dumps(job))
    environ = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--drive", str(scratch / "job.json")],
        check=True,
        env=environ,
        cwd=tree,
    )
    return json.loads((scratch / "out.json").read_text()) | {"tracks": job["tracks"]}


def sweep_config(fps: float | None, scratch: Path) -> tuple[Path, dict, dict]:
    """The swept config as YAML (only values that differ from a default, so either tree reads it)."""
    options = CountEvalOptions(detect_fps=fps)
    config = eval_config(default_config(), options)
    path = scratch / "config.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_defaults=True)))
    return path, options.lines, options.zones


def sweep(trees: dict[str, Path], assets: Path, cache_dir: Path, scratch: Path) -> list[dict]:
    rows = []
    for sequence in sorted(p for p in (assets / "footage" / "mot15").iterdir() if p.is_dir()):
        clip, gt = sequence / f"{sequence.name}.mp4", sequence / "gt" / "gt.txt"
        geometry = clip_geometry(clip)
        for fps in FPS_STEPS:
            rate = fps or geometry[2]
            config, lines, zones = sweep_config(rate, scratch)
            cache = cache_dir / f"{sequence.name}-{rate:g}.json"
            for label, tree in trees.items():
                out = replay_in(tree, config, clip, scratch, cache)
                run = RunOutput(
                    out["line_counts"],
                    [tuple(c) for c in out["crossings"]],
                    read_track_feet(out["tracks"], geometry[0], geometry[1]),
                    out["frames"],
                    out["wall_s"],
                )
                report = score_run(run, gt, geometry, lines, zones)
                causes = why_missed(gt, geometry, lines, run.crossings, cache, BAND)
                rows.append({"sequence": sequence.name, "fps": rate, "tree": label, "report": report, "causes": causes})
                print(f"{sequence.name} {rate:g}/s {label}:\n{report.text()}\n", file=sys.stderr, flush=True)
    return rows


def entrance(trees: dict[str, Path], assets: Path, scratch: Path, rounds: int, cache: Path) -> dict[str, dict]:
    """The entrance clip per tree, best of `rounds` alternating replays on cached detections (the first replay
    fills the cache): the replay's speed without the detector's, which under load swings by tens of percent."""
    clip = assets / "footage" / "entrance-one-by-one.mp4"
    config = ROOT / "configs" / "replay-entrance.yaml"
    if not cache.exists():
        replay_in(ROOT, config, clip, scratch, cache)
    best: dict[str, dict] = {}
    for _ in range(rounds):
        for label, tree in trees.items():
            out = replay_in(tree, tree / "configs" / "replay-entrance.yaml", clip, scratch, cache)
            if label not in best or out["wall_s"] < best[label]["wall_s"]:
                best[label] = out
    return best


def table(rows: list[dict]) -> str:
    lines = [
        "| sequence | detect/s | tree | truth | count error | bias | precision | recall | missed: geometry / recall /"
        " tracking | false | net passages: error, bias | occ. MAE | occ. bias | MAE / mean |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r, c = row["report"], row["causes"]
        occ = r.occupancy
        lines.append(
            f"| {row['sequence']} | {row['fps']:g} | {row['tree']} | {sum(s.truth_total for s in r.lines)} |"
            f" {r.error:.3f} | {r.bias:+.3f} | {r.crossings.precision:.3f} | {r.crossings.recall:.3f} |"
            f" {c['geometry']} / {c['recall']} / {c['tracking']} | {c['false']} |"
            f" {count_error(r.passages)[0]:.3f}, {count_error(r.passages)[1]:+.3f} |"
            f" {occ.mae:.3f} | {occ.bias:+.3f} | {occ.relative_mae:.3f} |"
        )
    for fps in sorted({row["fps"] for row in rows}):
        for tree in dict.fromkeys(row["tree"] for row in rows):
            picked = [row["report"] for row in rows if row["fps"] == fps and row["tree"] == tree]
            scores = [s for r in picked for s in r.lines]
            truth = sum(s.truth_total for s in scores)
            error = sum(s.abs_error for s in scores) / truth
            bias = sum(s.signed_error for s in scores) / truth
            net = count_error([s for r in picked for s in r.passages])
            occ = [r.occupancy for r in picked]
            relative = sum(o.mae * o.samples for o in occ) / sum(o.mean_truth * o.samples for o in occ)
            lines.append(
                f"| all | {fps:g} | {tree} | {truth} | {error:.3f} | {bias:+.3f} | | | | |"
                f" {net[0]:.3f}, {net[1]:+.3f} | | | {relative:.3f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="9d37277", help="git revision measured as BEFORE")
    parser.add_argument("--only-after", action="store_true", help="this tree only (tuning)")
    parser.add_argument("--rounds", type=int, default=5, help="entrance replays per tree (best wall time kept)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "bench-counts-cache"))
    parser.add_argument("--skip-entrance", action="store_true")
    args = parser.parse_args()
    try:
        assets = require_mirror()
    except AssetUnavailable as exc:
        sys.exit(f"{Path(__file__).name}: {exc}")
    cache_dir = Path(args.cache)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-counts-") as tmp:
        scratch = Path(tmp)
        trees = {"after": ROOT}
        if not args.only_after:
            base = scratch / "baseline"
            base.mkdir()
            archive = subprocess.run(["git", "archive", args.baseline], cwd=ROOT, check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
            trees = {"before": base, "after": ROOT}
        rows = sweep(trees, assets, cache_dir, scratch)
        print(table(rows))
        if not args.skip_entrance:
            for label, out in entrance(trees, assets, scratch, args.rounds, cache_dir / "entrance.json").items():
                counts = out["line_counts"]
                print(
                    f"entrance {label}: floor in {counts['floor']['in']} out {counts['floor']['out']},"
                    f" exit in {counts['exit']['in']} out {counts['exit']['out']}, visits {out['visits']};"
                    f" replay on cached detections {out['wall_s']:.2f} s (best of {args.rounds}),"
                    f" tracker+rules {out['tracker_ms']:.3f} ms/frame"
                )


if __name__ == "__main__":
    main()
