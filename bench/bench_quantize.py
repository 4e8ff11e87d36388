#!/usr/bin/env python3
"""FP32 vs INT8 YOLOX-Nano, measured in the same run: latency ratio, size ratio and agreement F1
(IoU 0.5 against the FP32 detections on held-out frames of real footage; target >= 0.95).

    .venv/bin/python bench/bench_quantize.py [--calib DIR_OR_CLIP] [--calib-frames 60] [--eval-frames 200]
        [--variations]

--variations also tries the settings the quantizer exposes (calibration method and percentile,
which convs stay float, activation type, reduce_range) and prints one line each; --speed tries the
ones aimed at INT8 speed on VNNI CPUs (QOperator vs QDQ, per-tensor weights, every conv int8,
SiLU quantized too). bench/profile_int8.py shows where the time of a saved model goes (--keep DIR).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import onnxruntime as ort

from edge_agent.assets import MIRROR_HINT, AssetUnavailable, require_mirror
from edge_agent.vision.cpu_features import describe_cpu
from edge_agent.vision.manifest import load_manifest
from edge_agent.vision.quantize import QuantizeOptions, quantize_and_report

try:
    ASSETS = require_mirror()  # the lookup the agent uses: $EDGE_AGENT_ASSETS, else ../shared beside the checkout
except AssetUnavailable as exc:
    sys.exit(f"{Path(__file__).name}: {exc}")
MODEL = ASSETS / "models" / "yolox_nano.onnx"

VARIATIONS = {
    "default (pct 99.99 asym, dw + 12 sensitive convs float)": {},
    "percentile 99.999": {"percentile": 99.999},
    "minmax calibration": {"method": "minmax"},
    "entropy calibration (512 bins)": {"method": "entropy"},
    "no sensitivity search (dw float only)": {"float_sensitive_convs": 0},
    "16 sensitive convs float": {"float_sensitive_convs": 16},
    "depthwise quantized too": {"float_depthwise": False},
    "old default: first 3 convs float only": {
        "float_sensitive_convs": 0,
        "float_depthwise": False,
        "float_first_convs": 3,
    },
    "int8 (symmetric) activations": {"activation_type": "int8"},
    "reduce_range (7-bit weights)": {"reduce_range": True},
}

SPEED_VARIATIONS = {
    "default (QDQ, dw + 12 sensitive convs float)": {},
    "QOperator, default convs float": {"quant_format": "qoperator"},
    "QDQ, every conv int8 (depthwise too)": {"float_depthwise": False, "float_sensitive_convs": 0},
    "QOperator, every conv int8": {"quant_format": "qoperator", "float_depthwise": False, "float_sensitive_convs": 0},
    "QDQ, per-tensor weights, every conv int8": {
        "per_channel": False,
        "float_depthwise": False,
        "float_sensitive_convs": 0,
    },
    "QDQ, convs + SiLU (Sigmoid, Mul) int8": {
        "quantize_ops": ("Conv", "Sigmoid", "Mul"),
        "float_depthwise": False,
        "float_sensitive_convs": 0,
    },
    "QOperator, convs + SiLU int8": {
        "quant_format": "qoperator",
        "quantize_ops": ("Conv", "Sigmoid", "Mul"),
        "float_depthwise": False,
        "float_sensitive_convs": 0,
    },
    "QDQ, convs + SiLU int8, dw + 12 sensitive float": {"quantize_ops": ("Conv", "Sigmoid", "Mul")},
}


def line(label: str, report) -> str:
    a, m = report.agreement, report.agreement_with_margin
    return (
        f"{label:56s} F1 {a['f1']:.3f} (P {a['precision']:.3f} R {a['recall']:.3f}; margin F1 {m['f1']:.3f}) "
        f"size {report.size_ratio:.2f} latency int8/fp32 {report.latency_ratio:.2f} "
        f"({report.int8_ms:.1f}/{report.fp32_ms:.1f} ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calib", type=Path, default=ASSETS / "footage")
    parser.add_argument("--calib-frames", type=int, default=60)
    parser.add_argument("--eval-frames", type=int, default=200)
    parser.add_argument("--timing-runs", type=int, default=40)
    parser.add_argument("--variations", action="store_true")
    parser.add_argument("--speed", action="store_true", help="the speed-oriented variations")
    parser.add_argument("--keep", type=Path, help="save each INT8 model here (for bench/profile_int8.py)")
    args = parser.parse_args()
    if not MODEL.exists():
        print(f"missing {MODEL}; {MIRROR_HINT}", file=sys.stderr)
        return os.EX_NOINPUT
    manifest = load_manifest("yolox_nano")
    base = QuantizeOptions(calib_frames=args.calib_frames, eval_frames=args.eval_frames)
    chosen = SPEED_VARIATIONS if args.speed else VARIATIONS if args.variations else dict(list(VARIATIONS.items())[:1])
    print(f"{describe_cpu()}; onnxruntime {ort.__version__}; load {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for index, (label, change) in enumerate(chosen.items()):
            options = dataclasses.replace(base, **change)
            out = (args.keep or Path(tmp)) / f"int8-{index}.onnx"
            out.parent.mkdir(parents=True, exist_ok=True)
            report = quantize_and_report(MODEL, out, manifest, args.calib, options, timing_runs=args.timing_runs)
            print(line(label, report) + (f" -> {out}" if args.keep else ""), flush=True)
    print(
        f"calibration {report.calib_frames} frames, evaluation {report.eval_frames} other frames from {args.calib}; "
        f"fp32 {report.fp32_bytes:,} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
