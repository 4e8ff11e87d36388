#!/usr/bin/env python3
"""Where an ONNX model's time goes, per operator type, with onnxruntime's own profiler.

    .venv/bin/python bench/profile_int8.py MODEL.onnx [MORE.onnx ...] [--runs 25] [--threads 1]

One held-out frame of the entrance clip, letterboxed as the detector does it; prints ms per run
and share of kernel time for the top operator types of each model (QLinearConv vs Conv, the
QuantizeLinear / DequantizeLinear around float islands, fused QuickGelu = SiLU in FP32).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import onnxruntime as ort

from edge_agent.assets import AssetUnavailable, require_mirror
from edge_agent.vision.calibration_frames import split_samples
from edge_agent.vision.cpu_features import describe_cpu
from edge_agent.vision.manifest import load_manifest
from edge_agent.vision.preprocess import Preprocessor


def op_times(model: Path, tensor, runs: int, threads: int) -> dict[str, tuple[float, int]]:
    """{op type: (ms per run, nodes)} from onnxruntime's profile of `runs` runs after one warm-up."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    with tempfile.TemporaryDirectory() as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        for _ in range(runs + 1):
            session.run(None, {name: tensor})
        events = json.loads(Path(session.end_profiling()).read_text())
    first_run = next(e for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    warm_from = first_run["ts"] + first_run["dur"]  # the first run allocates and is not counted
    total, count = collections.Counter(), collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and event["ts"] >= warm_from:
            total[event["args"]["op_name"]] += event["dur"]
            count[event["args"]["op_name"]] += 1
    return {op: (us / runs / 1000, count[op] // runs) for op, us in total.most_common()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    try:
        clip = require_mirror() / "footage" / "entrance-one-by-one.mp4"
    except AssetUnavailable as exc:
        sys.exit(f"{Path(__file__).name}: {exc}")
    _, held_out = split_samples(clip, 2, 2)
    tensor = Preprocessor(load_manifest("yolox_nano").input)(held_out[0])[0]
    print(f"{describe_cpu()}; onnxruntime {ort.__version__}; {args.threads} thread(s); load {os.getloadavg()[0]:.1f}")
    for model in args.models:
        times = op_times(model, tensor, args.runs, args.threads)
        whole = sum(ms for ms, _ in times.values())
        print(f"{model.name}: {whole:.2f} ms of kernel time per run")
        for op, (ms, nodes) in list(times.items())[: args.top]:
            print(f"  {op:18s} {ms:6.2f} ms {100 * ms / whole:5.1f}%  {nodes} nodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
