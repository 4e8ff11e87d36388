"""DetectorWorker: newest frame per camera, fair across cameras, counted drops, survives failures."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from edge_agent.config.detector import DetectorConfig
from edge_agent.events.vision_types import Frame, FrameDetections
from edge_agent.vision.detector import Detector
from edge_agent.vision.manifest import load_manifest
from edge_agent.vision.worker import DetectorWorker
from tests.support.assets import footage, model_path

pytestmark = pytest.mark.assets


class HeldDetector:
    """The real detector behind a latch, so a test decides when each call may finish."""

    def __init__(self, detector: Detector):
        self.detector = detector
        self.release = threading.Semaphore(0)
        self.entered = threading.Semaphore(0)
        self.seen: list[tuple[str, int]] = []

    def detect_frame(self, frame: Frame) -> FrameDetections:
        self.current = frame.camera_id
        self.entered.release()
        assert self.release.acquire(timeout=10)
        if frame.image is None:
            raise ValueError("no image")
        self.seen.append((frame.camera_id, frame.seq))
        return self.detector.detect_frame(frame)


@pytest.fixture(scope="module")
def detector():
    return Detector(model_path(), load_manifest("yolox_nano"), DetectorConfig(classes=["person"]))


@pytest.fixture(scope="module")
def image():
    return cv2.imread(str(footage("ThreePersons.jpg")))


def frame(camera: str, seq: int, image) -> Frame:
    return Frame(camera, seq, 1_767_225_600.0 + seq, 10.0 + seq, image)


def test_newer_frame_replaces_pending_and_cameras_take_turns(detector, image):
    held = HeldDetector(detector)
    results: list[FrameDetections] = []
    worker = DetectorWorker(held, results.append, queue_size=4).start()
    try:
        worker.submit(frame("a", 0, image))
        assert held.entered.acquire(timeout=5)  # a/0 is running; the rest queue up behind it
        for seq in (1, 2, 3):
            worker.submit(frame("a", seq, image))
        worker.submit(frame("b", 0, image))
        worker.submit(frame("b", 1, image))
        worker.submit(frame("c", 0, image))
        assert worker.pending() == 3
        for _ in range(4):
            held.release.release()
        assert worker.wait_idle(timeout=20)
    finally:
        worker.stop()
    assert held.seen == [("a", 0), ("a", 3), ("b", 1), ("c", 0)]
    assert [(r.camera_id, r.seq) for r in results] == held.seen
    assert all(sum(d.class_name == "person" for d in r.detections) == 3 for r in results)
    stats = worker.stats()
    assert (stats["a"].submitted, stats["a"].replaced, stats["a"].detector_calls) == (4, 2, 2)
    assert (stats["b"].dropped, stats["c"].dropped) == (1, 0)
    assert stats["a"].detector_ms > 0 and stats["a"].mean_ms > 0


def test_queue_is_bounded_by_cameras_waiting(detector, image):
    held = HeldDetector(detector)
    worker = DetectorWorker(held, lambda result: None, queue_size=2).start()
    try:
        worker.submit(frame("a", 0, image))
        assert held.entered.acquire(timeout=5)
        for camera in ("b", "c", "d"):
            worker.submit(frame(camera, 0, image))
        assert worker.pending() == 2
        for _ in range(3):
            held.release.release()
        assert worker.wait_idle(timeout=20)
    finally:
        worker.stop()
    assert held.seen == [("a", 0), ("c", 0), ("d", 0)]
    assert worker.stats()["b"].displaced == 1


def test_four_cameras_share_the_detector_fairly(detector, image):
    """Every camera always has a newer frame waiting (they flood it): the detector serves them in strict
    rotation, and what it cannot take is counted as replaced, never queued up."""
    held = HeldDetector(detector)
    entered: list[str] = []
    worker = DetectorWorker(held, lambda result: None, queue_size=8).start()
    cameras = ["c1", "c2", "c3", "c4"]
    try:
        worker.submit(frame("c0", 0, image))
        assert held.entered.acquire(timeout=10)  # the worker is inside a call; the others queue behind it
        for seq in range(1, 41):
            for camera in cameras:
                worker.submit(frame(camera, seq, image))  # replaces the camera's waiting frame, keeps its place
            held.release.release()
            assert held.entered.acquire(timeout=10)
            entered.append(worker_current(held))
        held.release.release()
        for _ in range(len(cameras)):
            held.release.release()
        assert worker.wait_idle(timeout=30)
    finally:
        worker.stop()
    assert entered[:8] == cameras * 2 and entered == (cameras * 10)[: len(entered)]
    stats = worker.stats()
    for camera in cameras:
        # the frame each camera still had waiting at the end is drained too (the last one entered had none)
        served = entered.count(camera) + (camera != entered[-1])
        assert stats[camera].detector_calls == served
        assert stats[camera].submitted == 40 and stats[camera].dropped == 40 - served


def worker_current(held: HeldDetector) -> str:
    return held.current


def test_a_failing_frame_is_counted_and_the_worker_goes_on(detector, image):
    results = []
    worker = DetectorWorker(detector, results.append).start()
    try:
        worker.submit(Frame("bad", 0, 0.0, 0.0, np.zeros((4, 4), np.uint8)))
        worker.submit(frame("good", 1, image))
        assert worker.wait_idle(timeout=20)
    finally:
        worker.stop()
    assert [r.camera_id for r in results] == ["good"]
    assert worker.stats()["bad"].errors == 1


def test_a_failing_result_consumer_is_counted_and_the_worker_goes_on(detector, image):
    """A tracker or rule bug on one camera's result must not stop detection, and must show in telemetry."""
    results = []

    def consume(result: FrameDetections) -> None:
        if result.camera_id == "broken":
            raise RuntimeError("rule bug")
        results.append(result)

    worker = DetectorWorker(detector, consume).start()
    try:
        assert worker.alive()
        worker.submit(frame("broken", 0, image))
        worker.submit(frame("good", 1, image))
        assert worker.wait_idle(timeout=20)
        assert worker.alive()
    finally:
        worker.stop()
    assert not worker.alive()
    assert [r.camera_id for r in results] == ["good"]
    assert worker.stats()["broken"].errors == 1 and worker.stats()["good"].errors == 0
