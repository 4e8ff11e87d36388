"""INT8 static quantization with onnxruntime, calibrated on frames from real footage.

Steps: convert the FP32 model to opset 13 (per-channel weights need it), run onnxruntime's
pre-processing (shape inference, fusions), quantize statically (QDQ or QOperator, per-channel
weights, MinMax / Entropy / Percentile calibration), optionally keeping the SiLU activations
(Sigmoid + Mul) in float. The report compares the INT8 model with FP32 on frames that were not
used for calibration (precision / recall / F1 at IoU 0.5 against the FP32 detections) and
times both here (vision/quant_eval.py).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
from onnx import version_converter
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)
from onnxruntime.quantization.calibrate import create_calibrator

from edge_agent.vision.calibration_frames import split_samples
from edge_agent.vision.manifest import ModelManifest
from edge_agent.vision.preprocess import Preprocessor
from edge_agent.vision.quant_eval import evaluate

METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "entropy": CalibrationMethod.Entropy,
    "percentile": CalibrationMethod.Percentile,
}
PER_CHANNEL_MIN_OPSET = 13


@dataclass(frozen=True)
class QuantizeOptions:
    """Defaults are what measured best for YOLOX-Nano here (see bench/README.md, INT8 findings)."""

    method: Literal["minmax", "entropy", "percentile"] = "percentile"
    # Asymmetric 99.99th percentile: ORT's percentile default (99.999, symmetric) spends half of
    # the uint8 range on negatives SiLU outputs barely have.
    percentile: float = 99.99
    quant_format: Literal["qdq", "qoperator"] = "qdq"
    per_channel: bool = True
    # Quantizing Sigmoid/Mul/Concat/Resize as well wrecked the output here; convolutions carry the cost.
    quantize_ops: tuple[str, ...] | None = ("Conv",)
    float_first_convs: int = 0
    # Depthwise convs see one int8 scale across channels whose ranges differ by orders of
    # magnitude, and carry few FLOPs: kept float they cost little and gain ~0.01-0.02 F1.
    float_depthwise: bool = True
    # The convs whose quantization alone moves the output scores most (measured on calibration
    # frames, never held-out ones) stay float: the stem and early stage entries here.
    float_sensitive_convs: int = 12
    sensitivity_frames: int = 4
    keep_silu_float: bool = False  # exclude SiLU's Sigmoid + Mul (only matters when they are quantized)
    # The decode head after the last convolutions (sigmoids, concats into one output tensor
    # that mixes box offsets with 0-1 scores) in float: one int8 scale for both ruins scores.
    keep_head_float: bool = True
    head_convs_float: bool = False  # also keep the final prediction convolutions in float
    # 7-bit weights avoid VPMADDUBSW saturation on x86 without VNNI (onnxruntime's guidance);
    # measured here it cost accuracy and gained nothing, so it is off by default.
    reduce_range: bool = False
    activation_type: Literal["uint8", "int8"] = "uint8"
    calib_frames: int = 60
    eval_frames: int = 60


@dataclass
class QuantReport:
    model: str
    options: dict
    fp32_bytes: int
    int8_bytes: int
    size_ratio: float  # int8 / fp32
    calib_frames: int
    eval_frames: int
    agreement: dict  # at IoU 0.5 against FP32 detections, same score threshold
    agreement_with_margin: dict  # see evaluate(): discounts scores hovering at the threshold
    fp32_ms: float
    int8_ms: float
    latency_ratio: float  # int8 / fp32; below 1 means INT8 is faster here
    quantize_s: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


class _FrameReader(CalibrationDataReader):
    def __init__(self, input_name: str, tensors: list[np.ndarray]):
        self._items = iter([{input_name: tensor} for tensor in tensors])

    def get_next(self):
        return next(self._items, None)


def silu_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the Sigmoid and Mul nodes that form x * sigmoid(x)."""
    sigmoid_in = {node.output[0]: (node.name, node.input[0]) for node in model.graph.node if node.op_type == "Sigmoid"}
    names = []
    for node in model.graph.node:
        if node.op_type != "Mul" or len(node.input) != 2:
            continue
        a, b = node.input
        for sig_out, other in ((a, b), (b, a)):
            if sig_out in sigmoid_in and sigmoid_in[sig_out][1] == other:
                names += [sigmoid_in[sig_out][0], node.name]
    return names


def head_nodes(model: onnx.ModelProto, include_final_convs: bool = False) -> list[str]:
    """Nodes with no convolution downstream (the decode head), optionally with the convs that feed only it."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    feeds_conv: dict[str, bool] = {}
    for node in reversed(model.graph.node):  # ONNX graphs are topologically sorted
        feeds_conv[node.name] = any(
            child.op_type == "Conv" or feeds_conv.get(child.name, False)
            for out in node.output
            for child in consumers.get(out, [])
        )
    return [
        node.name
        for node in model.graph.node
        if not feeds_conv[node.name] and (node.op_type != "Conv" or include_final_convs)
    ]


def prepare_fp32(fp32_path: Path, workdir: Path) -> Path:
    """Opset >= 13 (per-channel needs it) plus onnxruntime's quantization pre-processing."""
    model = onnx.load(str(fp32_path))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < PER_CHANNEL_MIN_OPSET:
        model = version_converter.convert_version(model, PER_CHANNEL_MIN_OPSET)
    for index, node in enumerate(model.graph.node):  # exclusion lists need stable names
        if not node.name:
            node.name = f"{node.op_type}_{index}"
    converted = workdir / "opset13.onnx"
    onnx.save(model, str(converted))
    prepared = workdir / "prepared.onnx"
    quant_pre_process(str(converted), str(prepared), skip_symbolic_shape=True)
    return prepared


def quantize_model(
    fp32_path: Path, out_path: Path, manifest: ModelManifest, calib_images: list[np.ndarray], options: QuantizeOptions
) -> Path:
    preprocess = Preprocessor(manifest.input)
    tensors = [preprocess(image)[0] for image in calib_images]
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare_fp32(Path(fp32_path), Path(tmp))
        model = onnx.load(str(prepared))
        input_name = manifest.input.name or model.graph.input[0].name
        ranges = _calibrate(prepared, Path(tmp), input_name, tensors, options)
        exclude = silu_nodes(model) if options.keep_silu_float else []
        if options.keep_head_float:
            exclude += head_nodes(model, include_final_convs=options.head_convs_float)
        convs = [node for node in model.graph.node if node.op_type == "Conv"]
        exclude += [node.name for node in convs[: options.float_first_convs]]
        if options.float_depthwise:
            exclude += [node.name for node in convs if _group(node) > 1]
        if options.float_sensitive_convs:
            candidates = [node.name for node in convs if node.name not in exclude]
            count = max(1, min(options.sensitivity_frames, len(tensors) // 8))  # small runs stay quick
            sample = tensors[:: max(1, len(tensors) // count)][:count]
            ranked = conv_sensitivity(model, candidates, input_name, sample, ranges, options)
            exclude += ranked[: options.float_sensitive_convs]
        _quantize(model, out_path, ranges, options, nodes_to_exclude=exclude)
    return Path(out_path)


def _group(node: onnx.NodeProto) -> int:
    return next((attr.i for attr in node.attribute if attr.name == "group"), 1)


def _calibrate(
    prepared: Path, workdir: Path, input_name: str, tensors: list[np.ndarray], options: QuantizeOptions
) -> Path:
    """Activation ranges, once, as an onnxruntime calibration cache reused by every quantization below.

    Calibrated here rather than inside quantize_static because quantize_static cannot set the
    histogram size: its Entropy default (128 bins, 128 quantized bins) leaves a single candidate
    threshold, i.e. plain MinMax (measured: identical results).
    """
    extra = {"symmetric": False, "percentile": options.percentile}
    if options.method == "entropy":
        extra.update(num_bins=512, num_quantized_bins=255)
    calibrator = create_calibrator(
        prepared,
        list(options.quantize_ops or []) or None,
        augmented_model_path=str(workdir / "augmented.onnx"),
        calibrate_method=METHODS[options.method],
        extra_options=extra,
    )
    from onnxruntime.quantization.calibrate import save_tensors_data  # newer onnxruntime only: see cli.models

    calibrator.collect_data(_FrameReader(input_name, tensors))
    cache = workdir / "calibration.json"
    save_tensors_data(calibrator.compute_data(), cache)
    return cache


def _quantize(model: onnx.ModelProto, out_path: Path, ranges: Path, options: QuantizeOptions, **which) -> None:
    quantize_static(
        model,
        str(out_path),
        None,
        quant_format=QuantFormat.QDQ if options.quant_format == "qdq" else QuantFormat.QOperator,
        per_channel=options.per_channel,
        activation_type=QuantType.QUInt8 if options.activation_type == "uint8" else QuantType.QInt8,
        reduce_range=options.reduce_range,
        weight_type=QuantType.QInt8,
        calibrate_method=METHODS[options.method],
        op_types_to_quantize=list(options.quantize_ops) if options.quantize_ops else None,
        extra_options={"ActivationSymmetric": options.activation_type == "int8", "WeightSymmetric": True},
        calibration_cache_path=str(ranges),
        **which,
    )


def conv_sensitivity(
    model: onnx.ModelProto,
    candidates: list[str],
    input_name: str,
    sample: list[np.ndarray],
    ranges: Path,
    options: QuantizeOptions,
) -> list[str]:
    """Candidates ordered by how far quantizing each one alone moves the model's output (worst first).

    The fake-quantized model runs unfused (plain float kernels on the dequantized values), so
    only the rounding and clipping of that one conv counts.
    """

    def outputs(session: ort.InferenceSession) -> list[np.ndarray]:
        return [session.run(None, {input_name: tensor})[0] for tensor in sample]

    reference = outputs(_plain_session(model.SerializeToString()))
    errors = {}
    with tempfile.TemporaryDirectory() as tmp:
        single = Path(tmp) / "single.onnx"
        for name in candidates:
            _quantize(model, single, ranges, options, nodes_to_quantize=[name])
            got = outputs(_plain_session(str(single)))
            errors[name] = float(np.mean([_relative_error(a, b) for a, b in zip(got, reference)]))
    return sorted(candidates, key=lambda name: -errors[name])


def _relative_error(got: np.ndarray, reference: np.ndarray) -> float:
    """Mean over the last axis of |error| / |reference|: box pixels and 0-1 scores weigh alike."""
    axes = tuple(range(reference.ndim - 1))
    return float((np.abs(got - reference).mean(axis=axes) / (np.abs(reference).mean(axis=axes) + 1e-6)).mean())


def _plain_session(model: str | bytes) -> ort.InferenceSession:
    settings = ort.SessionOptions()
    settings.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    settings.log_severity_level = 3
    return ort.InferenceSession(model, settings, providers=["CPUExecutionProvider"])


def quantize_and_report(
    fp32_path: Path,
    int8_path: Path,
    manifest: ModelManifest,
    calib: Path,
    options: QuantizeOptions | None = None,
    timing_runs: int = 20,
) -> QuantReport:
    options = options or QuantizeOptions()
    calib_images, eval_images = split_samples(calib, options.calib_frames, options.eval_frames)
    started = time.perf_counter()
    quantize_model(fp32_path, int8_path, manifest, calib_images, options)
    quantize_s = time.perf_counter() - started
    found, margin, fp32_ms, int8_ms = evaluate(fp32_path, int8_path, manifest, eval_images, timing_runs=timing_runs)
    fp32_bytes, int8_bytes = Path(fp32_path).stat().st_size, Path(int8_path).stat().st_size
    return QuantReport(
        model=manifest.name,
        options=asdict(options),
        fp32_bytes=fp32_bytes,
        int8_bytes=int8_bytes,
        size_ratio=round(int8_bytes / fp32_bytes, 4),
        calib_frames=len(calib_images),
        eval_frames=len(eval_images),
        agreement=asdict(found),
        agreement_with_margin=asdict(margin),
        fp32_ms=round(fp32_ms, 2),
        int8_ms=round(int8_ms, 2),
        latency_ratio=round(int8_ms / fp32_ms, 3) if fp32_ms else 0.0,
        quantize_s=round(quantize_s, 1),
    )
