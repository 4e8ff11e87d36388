"""The capture on its own, on a real picture: a start alert gets its frame's snapshot (people pixelated), an end
alert none, a clip job becomes an AVI of the ring's frames, and a low disk lets the alert through without evidence
and raises one health call (the daemon's path: tests/test_evidence_daemon.py)."""

from __future__ import annotations

import hashlib
from collections import namedtuple

import cv2
import numpy as np

from edge_agent.clock import FakeClock
from edge_agent.config.evidence import ClipConfig, EvidenceConfig, RuleEvidence
from edge_agent.events import AlertFactory, Box, Detection, Frame, FrameDetections, ListSink
from edge_agent.evidence.evidence_sink import EvidenceCapture
from edge_agent.store.evidence_files import EvidenceStore
from edge_agent.vision.pixelate import pixel_rect
from tests.support.assets import footage

Usage = namedtuple("Usage", "total used free")
PERSON = Box(0.05, 0.05, 0.45, 0.95)


def _capture(tmp_path, clock, free_mb=10_000, **evidence):
    store = EvidenceStore(
        tmp_path / "evidence", EvidenceConfig(), clock, disk_usage=lambda _: Usage(0, 0, free_mb * 1024 * 1024)
    )
    sink, low = ListSink(), []
    rules = {"r": ("cam", RuleEvidence(**evidence))}
    kept = []
    capture = EvidenceCapture(
        rules, store, EvidenceConfig(), clock, sink, lambda *args: kept.append(args), lambda: low.append(1)
    )
    return capture, store, sink, low, kept


def _frame(clock, seq: int) -> tuple[Frame, FrameDetections]:
    image = cv2.imread(str(footage("ThreePersons.jpg")))
    frame = Frame("cam", seq, clock.wall(), clock.monotonic(), image)
    people = (Detection("person", 0.9, PERSON),)
    return frame, FrameDetections("cam", seq, frame.captured_at, frame.monotonic, people, frame.size)


def _alert(clock, phase="start"):
    return AlertFactory("d", "s", clock).make("intrusion", "major", ("camera", "cam"), phase=phase, rule="r")


def test_a_start_alert_carries_its_frames_pixelated_snapshot(tmp_path):
    clock = FakeClock(wall=1_800_000_000.0)
    capture, store, sink, _, _ = _capture(tmp_path, clock, snapshot=True)
    frame, detections = _frame(clock, 1)
    capture.seen(frame, detections)
    capture.emit(_alert(clock))
    capture.emit(_alert(clock, phase="end"))
    capture.done("cam")
    start, end = sink.alerts
    assert start.details.evidence is not None and end.details.evidence is None
    assert capture.write_snapshots() == 1
    record = store.find(start.event_id)
    data = store.read(record)
    assert hashlib.sha256(data).hexdigest() == start.details.evidence.sha256 == record.sha256
    kept = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    x1, y1, x2, y2 = pixel_rect(PERSON, kept.shape[1], kept.shape[0])
    person = kept[y1 + 4 : y2 - 4, x1 + 4 : x2 - 4].astype(int)
    original = frame.image[y1 + 4 : y2 - 4, x1 + 4 : x2 - 4].astype(int)
    assert np.abs(np.diff(person, axis=1)).mean() < 0.3 * np.abs(np.diff(original, axis=1)).mean()


def test_a_clip_is_the_rings_frames_around_the_start(tmp_path):
    clock = FakeClock(wall=1_800_000_000.0)
    capture, store, sink, _, kept = _capture(tmp_path, clock, clip=ClipConfig(before=2, after=2))
    alert = None
    for seq in range(20):  # 10 s at 2 frames a second; the alert at 5 s
        capture.seen(*_frame(clock, seq))
        if seq == 10:
            capture.emit(alert := _alert(clock))
        capture.done("cam")
        clock.advance(0.5)
    assert capture.write_due_clips() == 1 and sink.alerts[0].details.evidence is None
    ((record, frames, duration),) = kept
    assert record.event_id == alert.event_id and frames == 9 and duration == 4.0
    path = store.directory / f"{alert.event_id}.avi"
    reader = cv2.VideoCapture(str(path))
    assert reader.read()[0] and int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) == 9
    reader.release()


def test_a_low_disk_lets_the_alert_through_and_reports_once(tmp_path):
    clock = FakeClock(wall=1_800_000_000.0)
    capture, store, sink, low, _ = _capture(tmp_path, clock, free_mb=100, snapshot=True)
    capture.seen(*_frame(clock, 1))
    capture.emit(_alert(clock))
    capture.emit(_alert(clock))
    assert [a.details.evidence for a in sink.alerts] == [None, None] and low == [1]
    assert capture.figures()["refused_disk_low"] == 2
