"""Detector settings from config: execution providers, and merged vehicle classes (a van is one vehicle)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from edge_agent.config.detector import DetectorConfig
from edge_agent.vision.decoders import Candidates
from edge_agent.vision.detector import Detector, make_session
from edge_agent.vision.manifest import load_manifest
from tests.support.assets import model_path

pytestmark = pytest.mark.assets


@pytest.fixture(scope="module")
def manifest():
    return load_manifest("yolox_nano")


def test_configured_providers_are_used_in_order_and_missing_ones_named(caplog):
    caplog.set_level(logging.WARNING)
    session = make_session(model_path(), 1, ["TensorrtExecutionProvider", "CPUExecutionProvider"])
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert "TensorrtExecutionProvider" in caplog.text and "not available" in caplog.text


def test_no_usable_provider_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"none of the configured execution providers \['CUDAExecutionProvider'\]"):
        make_session(model_path(), 1, ["CUDAExecutionProvider"])


def test_detector_takes_providers_and_threads_from_config(manifest):
    settings = DetectorConfig(providers=["CPUExecutionProvider"], threads=1)
    detector = Detector(model_path(), manifest, settings, warmup=False)
    assert detector.session.get_providers() == ["CPUExecutionProvider"]


def van(detector: Detector, monkeypatch) -> list[str]:
    """The model scores one van as both car (0.8) and truck (0.7) with nearly the same box."""
    labels = list(detector.manifest.labels)
    car, truck = labels.index("car"), labels.index("truck")
    candidates = Candidates(
        np.array([[100, 100, 300, 220], [104, 98, 302, 224]], np.float32),
        np.array([0.8, 0.7], np.float32),
        np.array([car, truck], np.int64),
    )
    monkeypatch.setattr(detector.decoder, "decode", lambda outputs, threshold: candidates)
    return [d.class_name for d in detector.detect(np.full((416, 416, 3), 114, np.uint8))]


def test_a_van_seen_as_car_and_truck_counts_once_when_vehicles_merge(manifest, monkeypatch):
    merged = Detector(model_path(), manifest, DetectorConfig(merge_vehicles=True), warmup=False)
    assert van(merged, monkeypatch) == ["vehicle"]


def test_without_merging_class_aware_nms_keeps_both(manifest, monkeypatch):
    plain = Detector(model_path(), manifest, DetectorConfig(merge_vehicles=False), warmup=False)
    assert van(plain, monkeypatch) == ["car", "truck"]
