import json

from edge_agent.clock import FakeClock, SystemClock
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


def test_current_reads_now_without_touching_the_periodic_sample(tmp_path):
    clock = SystemClock()
    stats = SystemStats(tmp_path, clock)
    rows = [1]
    collector = TelemetryCollector("dev-1", clock, stats, TelemetrySources(outbox=lambda: {"rows": rows[0]}))
    stats.sample()  # the CPU% baseline
    burn_cpu()
    now = collector.current()
    assert now.system["cpu_seconds"] > 0 and "cpu_percent" not in now.system
    assert now.outbox == {"rows": 1} and collector.last is None
    rows[0] = 5
    assert collector.current().outbox == {"rows": 5}  # read live, not a stored sample
    sample = collector.sample()
    assert sample.system["cpu_percent"] > 5  # current() left the baseline alone: the burn still counts
    assert collector.last is sample and "cpu_seconds" not in sample.system


def test_every_time_in_telemetry_is_rfc3339(tmp_path):
    """docs/mqtt-api.md: every time the agent publishes is RFC 3339 UTC, telemetry's `*_at` figures too."""
    clock = FakeClock()
    sources = TelemetrySources(
        outbox=lambda: {"rows": 1, "last_delivery_at": 1_767_222_000.25},
        extra_system={"mqtt": lambda: {"connected": True, "last_connected_at": 1_767_222_001.0, "last_error_at": None}},
    )
    telemetry = TelemetryCollector("dev-1", clock, SystemStats(tmp_path, clock), sources).sample()
    assert telemetry.outbox["last_delivery_at"] == "2025-12-31T23:00:00.250Z"
    assert telemetry.system["mqtt"]["last_connected_at"] == "2025-12-31T23:00:01.000Z"
    assert telemetry.system["mqtt"]["last_error_at"] is None and telemetry.outbox["rows"] == 1
