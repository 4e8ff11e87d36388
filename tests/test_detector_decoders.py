"""Decoder families on hand-built output tensors: YOLOv8 (1 x (4+C) x N) and SSD (boxes/scores/classes)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.vision.decoders import DECODERS, decoder_for
from edge_agent.vision.manifest import parse_manifest


def manifest(family: str, labels=("person", "car", "truck"), decoder=None):
    return parse_manifest(
        {
            "name": f"test-{family}",
            "family": family,
            "file": "m.onnx",
            "sha256": "0" * 64,
            "input": {"width": 640, "height": 480},
            "labels": list(labels),
            "decoder": decoder or {},
        },
        "test",
    )


def test_registry_has_one_decoder_per_family():
    assert {"yolox", "yolov8", "ssd"} <= set(DECODERS)
    with pytest.raises(ValueError, match="no decoder for family 'detr'"):
        decoder_for(manifest("detr"))


def test_yolov8_rows_become_xyxy_with_best_class():
    raw = np.zeros((1, 4 + 3, 3), np.float32)
    raw[0, :4, 0] = [100, 200, 40, 80]  # cx, cy, w, h
    raw[0, 4:, 0] = [0.1, 0.2, 0.9]  # truck
    raw[0, :4, 1] = [300, 300, 10, 10]
    raw[0, 4:, 1] = [0.2, 0.1, 0.1]  # below threshold
    raw[0, :4, 2] = [50, 60, 20, 20]
    raw[0, 4:, 2] = [0.7, 0.0, 0.0]  # person
    found = decoder_for(manifest("yolov8")).decode({"output0": raw}, 0.35)
    assert found.class_ids.tolist() == [2, 0]
    np.testing.assert_allclose(found.boxes[0], [80, 160, 120, 240])
    np.testing.assert_allclose(found.scores, [0.9, 0.7], rtol=1e-6)
    transposed = decoder_for(manifest("yolov8")).decode({"output0": raw.transpose(0, 2, 1)}, 0.35)
    np.testing.assert_allclose(transposed.boxes, found.boxes)


def test_ssd_boxes_in_tf_order_are_scaled_to_input_pixels():
    outputs = {
        "detection_boxes": np.array([[[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]]], np.float32),
        "detection_scores": np.array([[0.8, 0.2]], np.float32),
        "detection_classes": np.array([[2.0, 1.0]], np.float32),
    }
    options = {
        "boxes": "detection_boxes",
        "scores": "detection_scores",
        "classes": "detection_classes",
        "label_offset": 1,
    }
    found = decoder_for(manifest("ssd", decoder=options)).decode(outputs, 0.35)
    assert found.class_ids.tolist() == [1]  # TF counts from 1: class 2 is "car"
    np.testing.assert_allclose(found.boxes[0], [0.2 * 640, 0.1 * 480, 0.6 * 640, 0.5 * 480], rtol=1e-6)
    with pytest.raises(ValueError, match="outputs \\['detection_boxes'"):
        decoder_for(manifest("ssd", decoder=options)).decode({"other": outputs["detection_scores"]}, 0.35)


def test_yolox_grid_decoding_places_a_cell():
    m = parse_manifest(
        {
            "name": "t",
            "family": "yolox",
            "file": "m.onnx",
            "sha256": "0" * 64,
            "input": {"width": 64, "height": 64},
            "labels": ["person"],
            "decoder": {"strides": [8, 16, 32]},
        },
        "test",
    )
    decoder = decoder_for(m)
    rows = 8 * 8 + 4 * 4 + 2 * 2
    raw = np.zeros((1, rows, 6), np.float32)
    raw[0, 64 + 5] = [0.5, 0.5, np.log(2.0), np.log(3.0), 0.9, 0.8]  # stride 16, cell (1, 1)
    found = decoder.decode({"output": raw}, 0.35)
    cx, cy, w, h = 1.5 * 16, 1.5 * 16, 2 * 16, 3 * 16
    np.testing.assert_allclose(found.boxes[0], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], rtol=1e-5)
    assert found.scores[0] == pytest.approx(0.72)
