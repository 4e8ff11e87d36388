"""Camera source from files, replay iterator, back-off and health alert conversion."""

from __future__ import annotations

import random
import threading

import pytest

from edge_agent.backoff import FullJitterBackoff
from edge_agent.clock import FakeClock
from edge_agent.config.cameras import CameraConfig
from edge_agent.daemon.health import Health
from edge_agent.events import ListSink
from edge_agent.events.factory import AlertFactory
from edge_agent.sources.camera import CameraSource
from edge_agent.sources.camera_health import CameraHealthEvent
from edge_agent.sources.capture import redact, source_kind
from edge_agent.sources.clip_frames import iter_file_frames
from tests.support.assets import footage
from tests.support.wait import wait_for

ENTRANCE_FRAMES = 1394  # 10 fps, ../shared/README.md


def file_camera(path, **overrides) -> CameraConfig:
    fields = {"id": "entrance", "url": str(path), "realtime": False, "detect_fps": 5}
    fields.update(overrides)
    return CameraConfig(**fields)


@pytest.mark.assets
def test_iter_file_frames_decimates_by_clip_time():
    clock = FakeClock()
    frames = list(iter_file_frames(footage("entrance-one-by-one.mp4"), 2.5, clock=clock, max_seconds=20))
    assert [f.seq for f in frames] == list(range(len(frames)))
    assert len(frames) == 51  # 0, 0.4, ..., 20.0 s
    steps = {round(b.monotonic - a.monotonic, 3) for a, b in zip(frames, frames[1:])}
    assert steps == {0.4}
    assert frames[0].monotonic == clock.monotonic() and frames[0].captured_at == clock.wall()
    assert frames[-1].captured_at - frames[0].captured_at == pytest.approx(20.0)
    assert frames[0].image.shape == (432, 768, 3) and frames[0].camera_id == "entrance-one-by-one"


@pytest.mark.assets
def test_iter_file_frames_from_camera_config_uses_its_fps_and_id():
    frames = list(
        iter_file_frames(file_camera(footage("hall-crowd-meva-g330.mp4"), id="hall", detect_fps=3), max_seconds=10)
    )
    assert {f.camera_id for f in frames} == {"hall"}
    assert len(frames) == 31  # 30 fps clip, every 10th frame


def test_iter_file_frames_missing_clip_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        next(iter_file_frames(tmp_path / "nope.mp4", 5))


@pytest.mark.assets
def test_file_source_hands_on_latest_frames_at_detect_fps():
    source = CameraSource(file_camera(footage("entrance-one-by-one.mp4"), detect_fps=2)).start()
    frames = []
    try:
        while (frame := source.latest(timeout=10)) is not None:
            frames.append(frame)
    finally:
        source.stop()
    stats = source.stats()
    assert stats.finished and stats.frames_captured == ENTRANCE_FRAMES and stats.reconnects == 0
    gaps = [b.monotonic - a.monotonic for a, b in zip(frames, frames[1:])]
    # Replay never overwrites a due frame, so it hands on the same frames as the replay iterator.
    assert {round(g, 3) for g in gaps} == {0.5}
    assert len(frames) == len(list(iter_file_frames(footage("entrance-one-by-one.mp4"), 2))) == 279
    assert stats.frames_delivered == len(frames)
    # Every captured frame was delivered or replaced, except possibly the very last one.
    assert ENTRANCE_FRAMES - len(frames) - 1 <= stats.frames_dropped <= ENTRANCE_FRAMES - len(frames)


@pytest.mark.assets
def test_realtime_file_source_keeps_only_the_latest_frame():
    camera = file_camera(footage("entrance-one-by-one.mp4"), realtime=True, loop=True, detect_fps=5)
    source = CameraSource(camera).start()
    try:
        first = source.latest(timeout=5)
        threading.Event().wait(1.0)  # a slow consumer: frames keep arriving meanwhile
        wait_for(lambda: source.stats().frames_captured >= first.seq + 8, timeout=5)
        second = source.latest(timeout=5)
        stats = source.stats()
    finally:
        source.stop()
    assert second.seq >= first.seq + 8  # it skipped to the newest, not the next queued one
    assert 7.0 <= stats.capture_fps <= 13.0  # the clip's own 10 fps, not as fast as possible


def test_missing_file_goes_offline_after_grace_and_keeps_retrying(tmp_path):
    events: list[CameraHealthEvent] = []
    camera = file_camera(
        tmp_path / "gone.mp4",
        health={
            "offline_grace": 0.3,
            "reconnect_min_delay": 0.05,
            "reconnect_max_delay": 0.1,
        },
    )
    source = CameraSource(camera, on_health=events.append).start()
    try:
        wait_for(lambda: events, timeout=5, message="offline event")
        wait_for(lambda: source.stats().reconnects >= 3, timeout=5, message="retries")
    finally:
        source.stop()
    assert [e.kind for e in events] == ["offline"]
    assert "gone.mp4 does not exist" in events[0].reason
    assert not source.stats().online and source.latest(timeout=0.1) is None


def test_backoff_grows_with_jitter_and_resets():
    backoff = FullJitterBackoff(1.0, 8.0, rng=random.Random(7), floor=1.0)
    delays = [backoff.next_delay() for _ in range(8)]
    for attempt, delay in enumerate(delays):
        assert 1.0 <= delay <= min(8.0, 2**attempt)
    assert len({round(d, 6) for d in delays[3:]}) > 1  # jittered, not a fixed ladder
    assert max(delays[3:]) > 2.0
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_health_alerts_pair_start_and_end():
    factory = AlertFactory("dev-1", "site-a", FakeClock())
    alerts = Health(factory, ListSink())
    offline = alerts.camera_event(CameraHealthEvent("cam1", "offline", 1_767_225_600.0, 10.0, reason="refused"))
    online = alerts.camera_event(CameraHealthEvent("cam1", "online", 1_767_225_660.0, 70.0, details={"offline_s": 60}))
    tamper = alerts.camera_event(CameraHealthEvent("cam1", "tamper", 1_767_225_700.0, 110.0, reason="covered"))
    assert (offline.type, offline.phase, offline.severity.value) == ("camera.offline", "start", "major")
    assert (online.type, online.phase, online.related_event_id) == ("camera.offline", "end", offline.event_id)
    assert online.started_at == offline.started_at and online.ended_at == "2026-01-01T00:01:00.000Z"
    assert (tamper.type, tamper.details.reason, tamper.source.kind, tamper.source.id) == (
        "camera.tamper",
        "covered",
        "camera",
        "cam1",
    )


@pytest.mark.parametrize(
    "url, kind",
    [
        ("rtsp://user:pw@10.0.0.2/stream", "rtsp"),
        ("http://cam/mjpg", "http"),
        ("0", "usb"),
        ("/dev/video2", "usb"),
        ("/srv/clips/a.mp4", "file"),
    ],
)
def test_source_kind_guess(url, kind):
    assert source_kind(CameraConfig(id="c", url=url)) == kind


def test_credentials_are_redacted():
    assert redact("rtsp://admin:secret@10.0.0.2:554/s") == "rtsp://***@10.0.0.2:554/s"


def _tiny_clip(path, frames: int = 20):
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for index in range(frames):
        writer.write(np.full((48, 64, 3), index * 10 % 255, dtype=np.uint8))
    writer.release()
    return path


def test_a_restarted_reader_continues_a_published_outage_and_ends_it_once(tmp_path):
    """Stage restart or reload during an outage: no second camera.offline start, one end when frames return."""
    health = {"offline_grace": 0.3, "reconnect_min_delay": 0.05, "reconnect_max_delay": 0.1}
    alerts = Health(AlertFactory("dev-1", "site-a"), ListSink())
    published = []

    def on_health(event):
        published.append(alerts.camera_event(event))

    first = CameraSource(file_camera(tmp_path / "gone.mp4", health=health), on_health=on_health).start()
    try:
        wait_for(lambda: published, timeout=5, message="offline start")
    finally:
        first.stop()
    assert alerts.camera_offline("entrance")

    second = CameraSource(
        file_camera(tmp_path / "gone.mp4", health=health),
        on_health=on_health,
        offline=alerts.camera_offline("entrance"),
    ).start()
    try:
        wait_for(lambda: second.stats().reconnects >= 8, timeout=5, message="retries past the grace period")
        assert not second.stats().online
    finally:
        second.stop()
    assert len(published) == 1  # the restarted reader did not raise the outage again

    clip = _tiny_clip(tmp_path / "back.avi")
    third = CameraSource(file_camera(clip, health=health), on_health=on_health, offline=True).start()
    try:
        wait_for(lambda: len(published) == 2, timeout=5, message="online end")
    finally:
        third.stop()
    start, end = published
    assert (start.phase, end.phase) == ("start", "end")
    assert end.related_event_id == start.event_id and not alerts.camera_offline("entrance")
