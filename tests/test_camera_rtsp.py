"""A real RTSP camera on loopback (rtsp-server-perl fed by ffmpeg): outage, reconnect, offline -> online."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from edge_agent.clock import SystemClock
from edge_agent.config.cameras import CameraConfig
from edge_agent.daemon.health import Health
from edge_agent.events import ListSink
from edge_agent.events.factory import AlertFactory
from edge_agent.sources.camera import CameraSource
from edge_agent.sources.camera_health import CameraHealthEvent
from tests.support.assets import footage
from tests.support.broker import free_port
from tests.support.wait import wait_for

pytestmark = [pytest.mark.assets, pytest.mark.slow]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class RtspCamera:
    """rtsp-server-perl plus an ffmpeg publisher looping a clip; kill() is a camera outage."""

    def __init__(self, clip: Path, workdir: Path):
        for tool in ("rtsp-server-perl", "ffmpeg"):
            if shutil.which(tool) is None:
                pytest.fail(f"{tool} is not installed (apt-get install rtsp-server-perl ffmpeg)")
        self.clip, self.workdir = clip, workdir
        self.client_port, self.source_port, self.rtp_port = free_port(), free_port(), free_port()
        self.server: subprocess.Popen | None = None
        self.publisher: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.client_port}/cam1"

    def start(self) -> None:
        self.server = subprocess.Popen(
            [
                "rtsp-server-perl",
                "--clientport",
                str(self.client_port),
                "--serverport",
                str(self.source_port),
                "--client_listen_address",
                "127.0.0.1",
                "--source_listen_address",
                "127.0.0.1",
                "--rtp_start_port",
                str(self.rtp_port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "rtsp-server.log", "ab"),
        )
        wait_for(
            lambda: _port_open(self.client_port) and _port_open(self.source_port),
            timeout=10,
            message="rtsp-server-perl listening",
        )
        self.publisher = subprocess.Popen(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-re",
                "-stream_loop",
                "-1",
                "-i",
                str(self.clip),
                "-an",
                "-c",
                "copy",
                "-f",
                "rtsp",
                f"rtsp://127.0.0.1:{self.source_port}/cam1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "ffmpeg.log", "ab"),
        )
        # The server answers DESCRIBE with 404 until the publisher has announced the stream; a
        # camera opened before that would (rightly) report an outage the test did not make.
        wait_for(self.stream_announced, timeout=20, interval=0.2, message="ffmpeg publishing to the RTSP server")

    def stream_announced(self) -> bool:
        probe = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-rtsp_transport",
                "udp",
                "-timeout",
                "2000000",
                "-show_entries",
                "stream=codec_type",
                "-of",
                "csv=p=0",
                self.url,
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return probe.returncode == 0 and "video" in probe.stdout

    def kill(self) -> None:
        for process in (self.publisher, self.server):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=5)
        self.server = self.publisher = None


@pytest.fixture
def rtsp_camera(tmp_path):
    camera = RtspCamera(footage("entrance-one-by-one.mp4"), tmp_path)
    camera.start()
    yield camera
    camera.kill()


def test_rtsp_outage_reconnects_with_offline_then_online(rtsp_camera):
    events: list[CameraHealthEvent] = []
    config = CameraConfig(
        id="door-cam",
        url=rtsp_camera.url,
        rtsp_transport="udp",
        detect_fps=5,
        health={
            "offline_grace": 1.0,
            "stall_timeout": 2.0,
            "reconnect_min_delay": 0.2,
            "reconnect_max_delay": 1.0,
            "tamper": {"enabled": False},
        },
    )
    source = CameraSource(config, SystemClock(), on_health=events.append).start()
    try:
        first = source.latest(timeout=20)
        assert first is not None and first.image.shape == (432, 768, 3)
        wait_for(lambda: source.stats().frames_captured >= 20, timeout=15, message="frames flowing")
        assert events == []

        rtsp_camera.kill()
        wait_for(lambda: [e.kind for e in events] == ["offline"], timeout=15, message="camera.offline")
        assert not source.stats().online
        captured_during_outage = source.stats().frames_captured

        rtsp_camera.start()
        wait_for(lambda: [e.kind for e in events] == ["offline", "online"], timeout=30, message="camera.online")
        wait_for(
            lambda: source.stats().frames_captured > captured_during_outage + 10,
            timeout=15,
            message="frames after reconnect",
        )
        after = source.latest(timeout=5)
    finally:
        source.stop()
    stats = source.stats()
    assert stats.reconnects >= 1 and stats.online
    assert after is not None and after.seq > first.seq
    offline, online = events
    assert offline.monotonic < online.monotonic and online.details["offline_s"] > 0
    assert offline.reason  # why it went offline, e.g. the stream stopped or the open was refused

    alerts = Health(AlertFactory("dev-1", "site-a"), ListSink())
    start, end = alerts.camera_event(offline), alerts.camera_event(online)
    assert (start.type, start.phase, end.type, end.phase, end.related_event_id) == (
        "camera.offline",
        "start",
        "camera.offline",
        "end",
        start.event_id,
    )
    assert start.source.kind == "camera" and start.source.id == "door-cam"
