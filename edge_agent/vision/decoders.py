"""Output decoders, one small registered class per model family.

A decoder turns the raw session outputs into candidate boxes in network-input pixels
(xyxy), a score and a class index per box; thresholding below NMS happens here so the
expensive part only sees plausible boxes. Letterbox undo, NMS and naming are shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edge_agent.vision.manifest import ModelManifest


@dataclass(frozen=True, slots=True)
class Candidates:
    boxes: np.ndarray  # (N, 4) float32 xyxy in network-input pixels
    scores: np.ndarray  # (N,) float32
    class_ids: np.ndarray  # (N,) int64

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


class Decoder:
    family: ClassVar[str] = ""

    def __init__(self, manifest: ModelManifest):
        self.manifest = manifest
        self.options: dict[str, Any] = dict(manifest.decoder)

    def decode(self, outputs: dict[str, np.ndarray], score_threshold: float) -> Candidates:
        raise NotImplementedError


DECODERS: dict[str, type[Decoder]] = {}


def register(cls: type[Decoder]) -> type[Decoder]:
    DECODERS[cls.family] = cls
    return cls


def decoder_for(manifest: ModelManifest) -> Decoder:
    try:
        return DECODERS[manifest.family](manifest)
    except KeyError:
        raise ValueError(
            f"model {manifest.name!r}: no decoder for family {manifest.family!r} (known: {sorted(DECODERS)})"
        ) from None


def _cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    half = boxes[:, 2:4] / 2.0
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)


def _best_class(class_scores: np.ndarray, boxes: np.ndarray, threshold: float, objectness=None) -> Candidates:
    """Keep rows whose best class score (times objectness) clears the threshold."""
    if objectness is not None:
        # Cheap pre-filter: a row cannot pass if objectness alone is below threshold.
        keep = objectness >= threshold
        class_scores, boxes, objectness = class_scores[keep], boxes[keep], objectness[keep]
        class_scores = class_scores * objectness[:, None]
    class_ids = class_scores.argmax(axis=1)
    scores = class_scores[np.arange(len(class_ids)), class_ids]
    keep = scores >= threshold
    return Candidates(boxes[keep].astype(np.float32), scores[keep].astype(np.float32), class_ids[keep].astype(np.int64))


def _single_output(outputs: dict[str, np.ndarray], family: str) -> np.ndarray:
    if len(outputs) != 1:
        raise ValueError(f"{family} decoder expects one output tensor, got {sorted(outputs)}")
    return next(iter(outputs.values()))


@register
class YoloxDecoder(Decoder):
    """YOLOX raw grid output 1 x N x (5 + C): [cx, cy, w, h, obj, classes] before grid decoding."""

    family = "yolox"

    def __init__(self, manifest: ModelManifest):
        super().__init__(manifest)
        strides = self.options.get("strides", [8, 16, 32])
        width, height = manifest.input.width, manifest.input.height
        grids, expanded = [], []
        for stride in strides:
            cols, rows = width // stride, height // stride
            xs, ys = np.meshgrid(np.arange(cols), np.arange(rows))
            grids.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
            expanded.append(np.full((rows * cols, 1), stride))
        self.grid = np.concatenate(grids).astype(np.float32)
        self.strides = np.concatenate(expanded).astype(np.float32)

    def decode(self, outputs, score_threshold):
        raw = _single_output(outputs, self.family)[0]
        if raw.shape[0] != len(self.grid):
            raise ValueError(f"yolox output has {raw.shape[0]} rows, the grid for this input size has {len(self.grid)}")
        keep = raw[:, 4] >= score_threshold
        raw, grid, strides = raw[keep], self.grid[keep], self.strides[keep]
        centres = (raw[:, :2] + grid) * strides
        sizes = np.exp(raw[:, 2:4]) * strides
        boxes = _cxcywh_to_xyxy(np.concatenate([centres, sizes], axis=1))
        return _best_class(raw[:, 5:], boxes, score_threshold, objectness=raw[:, 4])


@register
class Yolov8Decoder(Decoder):
    """YOLOv8/v11 output 1 x (4 + C) x N: [cx, cy, w, h, class scores], already in input pixels."""

    family = "yolov8"

    def decode(self, outputs, score_threshold):
        raw = _single_output(outputs, self.family)[0]
        classes = len(self.manifest.labels)
        if raw.shape[0] != 4 + classes and raw.shape[1] == 4 + classes:
            raw = raw.T  # some exports are already transposed (N x (4 + C))
        if raw.shape[0] != 4 + classes:
            raise ValueError(f"yolov8 output shape {raw.shape} does not match 4 + {classes} classes")
        raw = raw.T
        return _best_class(raw[:, 4:], _cxcywh_to_xyxy(raw[:, :4]), score_threshold)


@register
class SsdDecoder(Decoder):
    """SSD-style outputs: boxes (1xNx4), scores (1xN) and classes (1xN), already post-processed.

    Options: `boxes`, `scores`, `classes` output names; `box_order` yxyx (TF default) or xyxy;
    `normalized` true when boxes are in [0, 1] of the network input; `label_offset` subtracted
    from class ids (TF models count from 1).
    """

    family = "ssd"

    def decode(self, outputs, score_threshold):
        names = {key: self.options.get(key, key) for key in ("boxes", "scores", "classes")}
        missing = [name for name in names.values() if name not in outputs]
        if missing:
            raise ValueError(f"ssd decoder: outputs {missing} not found (have {sorted(outputs)})")
        boxes = np.asarray(outputs[names["boxes"]], np.float32).reshape(-1, 4)
        scores = np.asarray(outputs[names["scores"]], np.float32).reshape(-1)
        class_ids = np.asarray(outputs[names["classes"]]).reshape(-1).astype(np.int64)
        class_ids = class_ids - int(self.options.get("label_offset", 0))
        if self.options.get("box_order", "yxyx") == "yxyx":
            boxes = boxes[:, [1, 0, 3, 2]]
        if self.options.get("normalized", True):
            boxes = boxes * np.array([self.manifest.input.width, self.manifest.input.height] * 2, np.float32)
        keep = (scores >= score_threshold) & (class_ids >= 0) & (class_ids < len(self.manifest.labels))
        return Candidates(boxes[keep], scores[keep], class_ids[keep])
