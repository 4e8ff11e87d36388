"""Cameras never die on input: a URL that never answers and a file that is not a video.

Each source keeps retrying with back-off, reports camera offline naming what is
wrong, and stops promptly; nothing escapes the reader thread.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from edge_agent.config.cameras import CameraConfig
from edge_agent.sources.camera import CameraSource
from edge_agent.sources.camera_health import CameraHealthEvent
from tests.support.wait import wait_for

HEALTH = {"offline_grace": 0.3, "stall_timeout": 0.5, "reconnect_min_delay": 0.05, "reconnect_max_delay": 0.1}


@pytest.fixture
def silent_server():
    """A TCP listener that accepts connections and never says a word (a hung camera or NVR)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept_forever():
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept_forever, daemon=True).start()
    yield listener.getsockname()[1], accepted
    listener.close()
    for sock in accepted:
        sock.close()


def run_until_retried(camera: CameraConfig, retries: int) -> tuple[list[CameraHealthEvent], CameraSource, float]:
    events: list[CameraHealthEvent] = []
    source = CameraSource(camera, on_health=events.append).start()
    try:
        wait_for(lambda: events, timeout=10, message="camera offline")
        wait_for(lambda: source.stats().reconnects >= retries, timeout=10, message="retries")
    finally:
        started = time.monotonic()
        source.stop()
        stop_s = time.monotonic() - started
    return events, source, stop_s


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_a_url_that_never_answers_goes_offline_keeps_retrying_and_stops(silent_server, scheme):
    port, accepted = silent_server
    camera = CameraConfig(id="gate", url=f"{scheme}://127.0.0.1:{port}/stream", health=HEALTH)
    events, source, stop_s = run_until_retried(camera, retries=2)
    assert len(accepted) >= 2, "each retry really connected"
    assert [e.kind for e in events] == ["offline"]
    assert f"cannot open {scheme} source" in events[0].reason and str(port) in events[0].reason
    assert not source.stats().online and source.stats().frames_captured == 0
    assert stop_s < 3.0  # the open timeout bounds how long stop waits


def test_a_file_that_is_not_a_video_goes_offline_naming_it(tmp_path):
    bogus = tmp_path / "clip.mp4"
    bogus.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not really a movie " * 200)
    camera = CameraConfig(id="lobby", url=str(bogus), health=HEALTH)
    events, source, _ = run_until_retried(camera, retries=3)
    assert [e.kind for e in events] == ["offline"]
    assert "clip.mp4" in events[0].reason and "file" in events[0].reason
    assert not source.stats().online and source.latest(timeout=0.1) is None
