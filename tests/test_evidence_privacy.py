"""People in kept evidence cannot be recognised: the mosaic measured on the shared pictures and clips.

No face-detector model can be had from the package registries (the YuNet packages there fetch their ONNX file at
run time, which the box must not do, and OpenCV 5 has no Haar cascades), so the check is geometric, on the output
itself: the detector's person boxes for each picture are pixelated by the agent's own code, and then in every
grown box every window as large as a head (1/7.5 of the person's height: an adult's head is 1/7.5-1/8 of their
stature) holds at most 2 x 2 flat colours, where the same window of the input holds hundreds. Four colours carry
no face. docs/evidence.md gives the figures this prints.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_agent.config.detector import DetectorConfig
from edge_agent.vision.detector import Detector
from edge_agent.vision.manifest import load_manifest
from edge_agent.vision.pixelate import block_size, person_boxes, pixel_rect, pixelate
from tests.support.assets import footage, model_path

HEAD_SHARE = 1 / 7.5


@pytest.fixture(scope="module")
def detector():
    return Detector(model_path(), load_manifest("yolox_nano"), DetectorConfig(classes=["person"]))


def _clip_frames(name: str, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(footage(name)))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    frames = []
    for index in np.linspace(0, total - 1, count + 2)[1:-1].astype(int):
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, image = capture.read()
        if ok:
            frames.append(image)
    capture.release()
    assert len(frames) == count, name
    return frames


def _pictures() -> list[tuple[str, np.ndarray]]:
    stills = [(name, cv2.imread(str(footage(name)))) for name in ("ThreePersons.jpg", "person.jpg")]
    clips = [
        (f"{name}#{i}", image)
        for name in ("entrance-one-by-one.mp4", "hall-crowd-meva-g330.mp4")
        for i, image in enumerate(_clip_frames(name, 3))
    ]
    return stills + clips


def _most_colours_in_a_head(image: np.ndarray, rect: tuple[int, int, int, int], head: int) -> int:
    """The most distinct colours any head-sized window inside `rect` holds (windows every quarter head, >= 2 px)."""
    x1, y1, x2, y2 = rect
    region = image[y1:y2, x1:x2]
    packed = region[..., 0].astype(np.int64) << 16 | region[..., 1].astype(np.int64) << 8 | region[..., 2]
    most, step = 0, max(2, head // 4)
    for top in range(0, max(1, packed.shape[0] - head + 1), step):
        for left in range(0, max(1, packed.shape[1] - head + 1), step):
            most = max(most, len(np.unique(packed[top : top + head, left : left + head])))
    return most


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_no_head_sized_window_of_a_pixelated_person_holds_more_than_four_colours(detector):
    report = []
    for name, image in _pictures():
        boxes = person_boxes(detector.detect(image))
        if name.startswith("ThreePersons"):
            assert len(boxes) >= 3, "the detector finds the three people"
        out = pixelate(image, boxes)
        height, width = image.shape[:2]
        for box in boxes:
            rect = pixel_rect(box, width, height)
            head = max(2, int(box.height * height * HEAD_SHARE))
            assert block_size(box.height * height) >= head, "a block is at least a head high"
            after = _most_colours_in_a_head(pixelate(image, [box]), rect, head)
            before = _most_colours_in_a_head(image, rect, head)
            report.append((name, head, before, after))
            assert after <= 4, f"{name}: a head-sized window of a pixelated person holds {after} colours"
            assert before > after, f"{name}: the input held more detail there ({before} colours)"
            # where people overlap, a window may straddle their mosaics: four flat colours from each at most
            overlapping = sum(1 for other in boxes if _overlap(pixel_rect(other, width, height), rect))
            assert _most_colours_in_a_head(out, rect, head) <= 4 * overlapping
    people = len(report)
    print(f"{people} people in {len(_pictures())} pictures; colours per head window before/after (min/max):")
    before = sorted(r[2] for r in report)
    print(f"  before: median {before[len(before) // 2]}, max {before[-1]}; after: {max(r[3] for r in report)} at most")
    assert people >= 10
