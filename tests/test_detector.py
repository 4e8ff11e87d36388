"""Detector: shared stills decode to the documented detections; class handling; integrity checks."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest

from edge_agent.config.detector import DetectorConfig
from edge_agent.events.vision_types import Frame
from edge_agent.vision.detector import Detector
from edge_agent.vision.manifest import load_manifest
from edge_agent.vision.models import ModelIntegrityError, fetch_model
from tests.support.assets import assets_dir, footage, model_path

pytestmark = pytest.mark.assets

# ../shared/README.md: YOLOX-Nano FP32, score > 0.35, class-aware NMS at IoU 0.45.
EXPECTED_SCORES = {
    "dog.jpg": {"dog": 0.86, "bicycle": 0.80, "car": 0.80},
    "person.jpg": {"person": 0.88, "dog": 0.87, "horse": 0.87},
}
EXPECTED_COUNTS = {
    "bikes.jpg": {"bicycle": 2, "person": 2},
    "ThreePersons.jpg": {"person": 3},
}


@pytest.fixture(scope="module")
def manifest():
    return load_manifest("yolox_nano")


@pytest.fixture(scope="module")
def plain_detector(manifest):
    return Detector(model_path(), manifest, DetectorConfig(merge_vehicles=False))


def still(name: str) -> np.ndarray:
    image = cv2.imread(str(footage(name)))
    assert image is not None, name
    return image


@pytest.mark.parametrize("name", sorted(EXPECTED_SCORES))
def test_stills_match_documented_scores(plain_detector, name):
    detections = plain_detector.detect(still(name))
    found = Counter(d.class_name for d in detections)
    assert found == Counter(list(EXPECTED_SCORES[name]))
    for detection in detections:
        assert detection.score == pytest.approx(EXPECTED_SCORES[name][detection.class_name], abs=0.02)


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_stills_match_documented_counts(plain_detector, name):
    found = Counter(d.class_name for d in plain_detector.detect(still(name)))
    for class_name, count in EXPECTED_COUNTS[name].items():
        assert found[class_name] == count, (name, found)


def test_boxes_are_normalized_and_placed(plain_detector):
    detections = plain_detector.detect(still("dog.jpg"))
    for d in detections:
        assert 0.0 <= d.box.x1 < d.box.x2 <= 1.0 and 0.0 <= d.box.y1 < d.box.y2 <= 1.0
    by_class = {d.class_name: d.box for d in detections}
    # The dog sits bottom-left, the car top-right of dog.jpg.
    assert by_class["dog"].center[0] < 0.5 < by_class["dog"].center[1]
    assert by_class["car"].center[0] > 0.5 > by_class["car"].center[1]


def test_same_boxes_regardless_of_resolution(plain_detector):
    image = still("person.jpg")
    small = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2))
    full = {d.class_name: d.box for d in plain_detector.detect(image)}
    half = {d.class_name: d.box for d in plain_detector.detect(small)}
    assert set(full) == set(half)
    for name in full:
        assert full[name].iou(half[name]) > 0.85


def test_merge_vehicles_and_class_filter(manifest):
    merged = Detector(model_path(), manifest, DetectorConfig(merge_vehicles=True))
    names = [d.class_name for d in merged.detect(still("Car.jpg"))]
    assert names == ["vehicle"]  # the detector calls the car a truck; merged it is one vehicle
    assert "vehicle" in {d.class_name for d in merged.detect(still("dog.jpg"))}
    only_people = Detector(model_path(), manifest, DetectorConfig(classes=["person"]), warmup=False)
    assert {d.class_name for d in only_people.detect(still("person.jpg"))} == {"person"}


def test_detect_frame_carries_frame_identity(plain_detector):
    image = still("ThreePersons.jpg")
    frame = Frame(camera_id="cam1", seq=7, captured_at=1.5e9, monotonic=12.0, image=image)
    result = plain_detector.detect_frame(frame)
    assert (result.camera_id, result.seq, result.captured_at, result.monotonic) == ("cam1", 7, 1.5e9, 12.0)
    assert result.frame_size == (image.shape[1], image.shape[0])
    assert sum(d.class_name == "person" for d in result.detections) == 3


def test_bad_image_is_a_clear_error(plain_detector):
    with pytest.raises(ValueError, match="HxWx3"):
        plain_detector.detect(np.zeros((10, 10), np.uint8))


def test_changed_model_file_is_refused(tmp_path, manifest):
    changed = tmp_path / "yolox_nano.onnx"
    data = bytearray(model_path().read_bytes())
    data[-100] ^= 0xFF
    changed.write_bytes(bytes(data))
    with pytest.raises(
        ModelIntegrityError, match=r"yolox_nano.*sha256 [0-9a-f]{64}, expected .*refusing a changed file"
    ):
        Detector(changed, manifest)


def test_installed_model_changed_after_install_is_refused(tmp_path):
    models_dir = tmp_path / "models"
    path = fetch_model("yolox_nano", models_dir, mirror_dir=assets_dir())
    detector = Detector.from_config(DetectorConfig(), models_dir)
    assert detector.sha256 == load_manifest("yolox_nano").mirrors[0].sha256
    with open(path, "r+b") as handle:  # someone swaps the file after install
        handle.seek(200)
        handle.write(b"\0\0\0\0")
    with pytest.raises(ModelIntegrityError, match="refusing a changed file"):
        Detector.from_config(DetectorConfig(), models_dir)


def test_mirror_copy_with_wrong_digest_is_not_installed(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "models").mkdir(parents=True)
    bad = bytearray(model_path().read_bytes())
    bad[500] ^= 0x01
    (mirror / "models" / "yolox_nano.onnx").write_bytes(bytes(bad))
    with pytest.raises(ModelIntegrityError, match="mirror copy"):
        fetch_model("yolox_nano", tmp_path / "models", mirror_dir=mirror)
    assert not (tmp_path / "models" / "yolox_nano.onnx").exists()
