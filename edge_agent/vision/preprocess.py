"""Letterbox preprocessing driven by the manifest's input spec."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.vision.manifest import InputSpec


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the image landed in the network input, to map boxes back."""

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float
    width: int  # original image size
    height: int

    def to_normalized(self, boxes: np.ndarray) -> np.ndarray:
        """Network-input xyxy pixels -> original-image normalized xyxy, clipped to [0, 1]."""
        out = np.empty_like(boxes, dtype=np.float32)
        out[:, [0, 2]] = (boxes[:, [0, 2]] - self.offset_x) / (self.scale_x * self.width)
        out[:, [1, 3]] = (boxes[:, [1, 3]] - self.offset_y) / (self.scale_y * self.height)
        return np.clip(out, 0.0, 1.0)


class Preprocessor:
    def __init__(self, spec: InputSpec):
        self.spec = spec
        self._canvas = np.full((spec.height, spec.width, 3), spec.pad_value, np.uint8)
        self._identity = spec.scale == 1.0 and not any(spec.mean) and all(s == 1.0 for s in spec.std)

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Placement]:
        if image_bgr is None or image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.size == 0:
            shape = None if image_bgr is None else image_bgr.shape
            raise ValueError(f"detector input must be an HxWx3 BGR image, got shape {shape}")
        canvas, placement = self._place(image_bgr)
        if self.spec.pixel_format == "RGB":
            canvas = canvas[:, :, ::-1]
        return self._tensor(canvas), placement

    def _place(self, image: np.ndarray) -> tuple[np.ndarray, Placement]:
        spec = self.spec
        height, width = image.shape[:2]
        if spec.letterbox == "stretch":
            resized = cv2.resize(image, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
            return resized, Placement(spec.width / width, spec.height / height, 0.0, 0.0, width, height)
        ratio = min(spec.width / width, spec.height / height)
        new_w, new_h = max(1, int(round(width * ratio))), max(1, int(round(height * ratio)))
        off_x = (spec.width - new_w) // 2 if spec.letterbox == "center" else 0
        off_y = (spec.height - new_h) // 2 if spec.letterbox == "center" else 0
        canvas = self._canvas  # reused: the tensor below is a fresh copy, so this is safe
        canvas[:] = spec.pad_value
        canvas[off_y : off_y + new_h, off_x : off_x + new_w] = cv2.resize(
            image, (new_w, new_h), interpolation=cv2.INTER_LINEAR
        )
        return canvas, Placement(ratio, ratio, float(off_x), float(off_y), width, height)

    def _tensor(self, canvas: np.ndarray) -> np.ndarray:
        spec = self.spec
        planar = canvas.transpose(2, 0, 1) if spec.layout == "NCHW" else canvas
        if spec.dtype == "uint8":
            return np.ascontiguousarray(planar)[None]
        tensor = planar.astype(np.float32)  # one contiguous copy in the target layout
        if not self._identity:
            shape = (3, 1, 1) if spec.layout == "NCHW" else (1, 1, 3)
            mean = np.float32(spec.mean).reshape(shape)
            std = np.float32(spec.std).reshape(shape)
            tensor = (tensor * np.float32(spec.scale) - mean) / std
        return tensor[None]
