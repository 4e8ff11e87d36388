"""Tamper: a clip made here from a shared clip, blacked out then blurred mid-way."""

from __future__ import annotations

import cv2
import pytest

from edge_agent.config.cameras import CameraConfig, TamperConfig
from edge_agent.sources.camera import CameraSource, iter_file_frames
from edge_agent.sources.camera_health import CameraHealthEvent
from edge_agent.sources.tamper import TamperDetector
from tests.support.assets import footage

pytestmark = pytest.mark.assets

FPS = 10
NORMAL_UNTIL, BLACK_UNTIL, END = 12.0, 16.0, 22.0
HOLD = 1.0


def make_tampered_clip(path) -> None:
    """Entrance footage: normal until 12 s, covered (black) until 16 s, then blurred until 22 s."""
    source = cv2.VideoCapture(str(footage("entrance-one-by-one.mp4")))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (384, 216))
    assert writer.isOpened()
    try:
        for index in range(int(END * FPS)):
            ok, image = source.read()
            assert ok
            image = cv2.resize(image, (384, 216), interpolation=cv2.INTER_AREA)
            t = index / FPS
            if NORMAL_UNTIL <= t < BLACK_UNTIL:
                image[:] = 0
            elif t >= BLACK_UNTIL:
                image = cv2.GaussianBlur(image, (0, 0), 6)
            writer.write(image)
    finally:
        writer.release()
        source.release()


def test_tamper_events_at_blackout_and_blur_and_none_before(tmp_path):
    clip = tmp_path / "tampered.mp4"
    make_tampered_clip(clip)
    events: list[CameraHealthEvent] = []
    config = CameraConfig(
        id="lobby",
        url=str(clip),
        realtime=False,
        detect_fps=5,
        health={"tamper": {"baseline_seconds": 5.0, "hold_seconds": HOLD}},
    )
    source = CameraSource(config, on_health=events.append).start()
    first = None
    try:
        while (frame := source.latest(timeout=10)) is not None:
            first = first or frame
    finally:
        source.stop()
    assert source.stats().finished
    at = [(e.kind, e.reason, round(e.monotonic - first.monotonic, 2)) for e in events]
    kinds = [(kind, reason) for kind, reason, _ in at]
    assert kinds == [("tamper", "covered"), ("tamper_cleared", "covered"), ("tamper", "blurred")], at
    covered_at, blurred_at = at[0][2], at[2][2]
    assert NORMAL_UNTIL + HOLD <= covered_at <= NORMAL_UNTIL + HOLD + 0.6, at
    assert BLACK_UNTIL + HOLD <= blurred_at <= BLACK_UNTIL + HOLD + 0.6, at
    assert all(e.at >= first.captured_at + NORMAL_UNTIL for e in events)


def test_people_walking_through_the_whole_clip_is_not_tamper():
    detector = TamperDetector("entrance", TamperConfig(baseline_seconds=5.0, hold_seconds=HOLD))
    events, frames = [], 0
    for frame in iter_file_frames(footage("entrance-one-by-one.mp4"), 4):
        events += detector.observe(frame)
        frames += 1
    assert frames > 500 and detector.samples > 250
    assert events == []


def test_tamper_disabled_reports_nothing(tmp_path):
    clip = tmp_path / "tampered.mp4"
    make_tampered_clip(clip)
    detector = TamperDetector("lobby", TamperConfig(enabled=False))
    assert [e for f in iter_file_frames(clip, 5) for e in detector.observe(f)] == []
