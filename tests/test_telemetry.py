import json
import socket
import urllib.error
import urllib.request

import pytest

from edge_agent.clock import FakeClock, SystemClock
from edge_agent.daemon.prometheus import MetricsServer, render
from edge_agent.daemon.telemetry import SystemStats, TelemetryCollector, TelemetrySources, soc_temperature


def burn_cpu(seconds=0.2):
    import time
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_system_stats_read_this_process_and_host(tmp_path):
    stats = SystemStats(tmp_path / "state" / "not-yet-created", SystemClock())
    first = stats.sample()
    assert "cpu_percent" not in first  # needs two samples
    burn_cpu()
    second = stats.sample()
    assert second["cpu_percent"] > 5
    assert 5 < second["rss_mb"] < 4096
    assert second["mem_total_mb"] >= second["mem_available_mb"] > 0
    assert 0 < second["disk_free_mb"] <= second["disk_total_mb"]
    assert second["threads"] >= 1


def test_soc_temperature_prefers_the_cpu_zone(tmp_path):
    thermal = tmp_path / "class" / "thermal"
    for index, (kind, millideg) in enumerate([("battery", "30000"), ("cpu-thermal", "61234"), ("gpu", "bogus")]):
        zone = thermal / f"thermal_zone{index}"
        zone.mkdir(parents=True)
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(millideg + "\n")
    assert soc_temperature(tmp_path) == 61.2
    assert soc_temperature(tmp_path / "nothing") is None


def test_collector_builds_a_valid_message_and_survives_a_broken_section(tmp_path):
    clock = FakeClock()
    sources = TelemetrySources(
        cameras=lambda: {"cam1": {"capture_fps": 9.96, "reconnects": 0, "online": True}},
        lines=lambda: {"cam1/door": {"in": 3, "out": 2}},
        outbox=lambda: 1 / 0,
        stages=lambda: {"camera-cam1": {"status": "running", "restarts": 1}},
    )
    collector = TelemetryCollector("dev-1", clock, SystemStats(tmp_path, clock), sources)
    clock.advance(12.5)
    telemetry = collector.sample()
    assert telemetry.uptime_s == 12.5
    assert telemetry.cameras["cam1"]["capture_fps"] == 9.96
    assert telemetry.outbox == {"error": "ZeroDivisionError: division by zero"}
    assert collector.section_errors == 1
    assert json.loads(telemetry.model_dump_json())["lines"]["cam1/door"] == {"in": 3, "out": 2}


def test_prometheus_text_and_loopback_endpoint(tmp_path):
    clock = FakeClock()
    sources = TelemetrySources(
        cameras=lambda: {"cam1": {"capture_fps": 10.0, "online": True, "state": "ok"}},
        lines=lambda: {"cam1/door": {"in": 3, "out": 2}},
        outbox=lambda: {"pending": {"alarm": 1, "event": 4}, "oldest_pending_age_s": 2.5},
    )
    collector = TelemetryCollector("dev-1", clock, SystemStats(tmp_path, clock), sources)
    text = render(collector.sample())
    assert 'edge_agent_camera_capture_fps{camera="cam1"} 10.0' in text
    assert 'edge_agent_camera_online{camera="cam1"} 1' in text
    assert "state" not in text
    assert 'edge_agent_line_crossings_total{line="cam1/door",direction="in"} 3' in text
    assert 'edge_agent_outbox_pending{key="event"} 4' in text
    assert text.count("# TYPE edge_agent_camera_capture_fps gauge") == 1

    server = MetricsServer("127.0.0.1", 0, lambda: collector.last)
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert "edge_agent_uptime_seconds 0.0" in response.read().decode()
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/other", timeout=5)
        assert error.value.code == 404
        # a second server on the same port cannot start: that is a start failure, not a hang
        with pytest.raises(OSError):
            MetricsServer("127.0.0.1", server.port, lambda: None).start()
    finally:
        server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
