"""/metrics over real HTTP: live figures from a real outbox, typed counters and gauges, labels, loopback."""

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge_agent.clock import SystemClock
from edge_agent.config.daemon import PrometheusConfig
from edge_agent.daemon.prometheus import MetricsServer
from edge_agent.daemon.telemetry import SystemStats, TelemetryCollector, TelemetrySources
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.wait import wait_for


def scrape(port: int) -> dict[str, tuple[str, dict]]:
    """{family name: (type, {(sample name, sorted labels): value})}"""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        family.name: (family.type, {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples})
        for family in text_string_to_metric_families(text)
    }


def value(metrics: dict, name: str, **labels) -> float:
    kind, samples = metrics[name.removesuffix("_total")]
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def served(tmp_path, outbox):
    clock = SystemClock()
    stages = {"telemetry": {"status": "running", "restarts": 2, "idle_s": 0.5, "last_error": None}}
    sources = TelemetrySources(
        cameras=lambda: {"cam1": {"online": True, "capture_fps": 9.5, "frames_captured": 120, "state": "ok"}},
        lines=lambda: {"cam1/door": {"in": 3, "out": 2}},
        outbox=lambda: {**outbox.stats().to_dict(), "enqueued": outbox.enqueued()},
        adapters=lambda: {
            "front": {
                "type": "http_push",
                "online": False,
                "events": 7,
                "rejected": {"bad_signature": 2},
                "rejected_total": 2,
                "last_error": "refused",
            }
        },
        stages=lambda: stages,
        extra_system={"broken": lambda: 1 / 0},  # a failing section is reported, the rest still served
    )
    collector = TelemetryCollector("dev-1", clock, SystemStats(tmp_path, clock), sources)
    server = MetricsServer("127.0.0.1", 0, collector.current)
    server.start()
    yield server, outbox, collector
    server.stop()


def test_counters_and_gauges_are_typed_labelled_and_read_live(served):
    server, outbox, collector = served
    first = scrape(server.port)
    assert first["edge_agent_outbox_enqueued"][0] == "counter"
    assert first["edge_agent_camera_frames_captured"][0] == "counter"
    assert first["edge_agent_line_crossings"][0] == "counter"
    assert first["edge_agent_stage_restarts"][0] == "counter"
    assert first["edge_agent_process_cpu_seconds"][0] == "counter"
    for gauge in (
        "edge_agent_camera_capture_fps",
        "edge_agent_camera_online",
        "edge_agent_outbox_messages",
        "edge_agent_outbox_bytes",
        "edge_agent_adapter_online",
        "edge_agent_process_resident_memory_bytes",
        "edge_agent_stage_running",
        "edge_agent_uptime_seconds",
    ):
        assert first[gauge][0] == "gauge", gauge
    for name, (kind, samples) in first.items():
        sample_names = {sample_name for sample_name, _ in samples}
        assert all(n.endswith("_total") for n in sample_names) == (kind == "counter"), name
        assert not any("cam1" in n or "front" in n for n in sample_names), "ids are labels, not names"

    assert value(first, "edge_agent_line_crossings_total", camera="cam1", line="door", direction="in") == 3
    assert value(first, "edge_agent_camera_online", camera="cam1") == 1
    assert value(first, "edge_agent_adapter_online", adapter="front", type="http_push") == 0
    assert value(first, "edge_agent_adapter_events_total", adapter="front") == 7
    assert value(first, "edge_agent_adapter_rejected_total", adapter="front", reason="bad_signature") == 2
    assert value(first, "edge_agent_stage_restarts_total", stage="telemetry") == 2
    assert value(first, "edge_agent_outbox_enqueued_total", **{"class": "alarm"}) == 0
    assert value(first, "edge_agent_process_resident_memory_bytes") > 2**20
    assert collector.section_errors >= 1 and collector.last is None  # a scrape is not a telemetry sample

    # between two scrapes, with no telemetry sample taken: alerts stored, one refused as too large
    outbox.enqueue("edge/s/d/alerts/intrusion", '{"n": 1}', "alarm")
    outbox.enqueue("edge/s/d/alerts/intrusion", '{"n": 2}', "alarm")
    outbox.enqueue("edge/s/d/alerts/loiter", "x" * (outbox.config.max_bytes + 1), "event")
    second = scrape(server.port)
    assert value(second, "edge_agent_outbox_enqueued_total", **{"class": "alarm"}) == 2
    assert value(second, "edge_agent_outbox_messages", state="pending", **{"class": "alarm"}) == 2
    assert value(second, "edge_agent_outbox_dropped_total", **{"class": "event"}) == 1
    assert value(second, "edge_agent_outbox_dropped_by_reason_total", reason="too_large") == 1
    assert value(second, "edge_agent_outbox_bytes") > value(first, "edge_agent_outbox_bytes")
    assert value(second, "edge_agent_uptime_seconds") >= value(first, "edge_agent_uptime_seconds")
    assert value(second, "edge_agent_metrics_scrape_errors_total") == 0
    # telemetry says RFC 3339; Prometheus still gets Unix time
    outbox.mark_delivered([row.seq for row in outbox.claim(1)])
    stamp = value(scrape(server.port), "edge_agent_outbox_last_delivery_timestamp_seconds")
    assert abs(stamp - outbox.stats().last_delivery_at) < 0.01


def test_only_metrics_is_served_and_stop_releases_the_port(served):
    server, _, _ = served
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/other", timeout=5)
    assert error.value.code == 404
    # a second server on the same port cannot start: that is a start failure, not a hang
    with pytest.raises(OSError):
        MetricsServer("127.0.0.1", server.port, lambda: None).start()
    assert server.alive()
    server.stop()
    assert not server.alive()
    again = MetricsServer("127.0.0.1", server.port, lambda: None)  # what a supervisor restart does
    again.start()
    try:
        assert "edge_agent_metrics_scrape_errors" in scrape(again.port)
    finally:
        again.stop()


def test_a_failing_reading_is_counted_not_a_500(tmp_path):
    def broken():
        raise RuntimeError("source mid-restart")

    server = MetricsServer("127.0.0.1", 0, broken)
    server.start()
    try:
        scrape(server.port)
        metrics = scrape(server.port)
    finally:
        server.stop()
    assert value(metrics, "edge_agent_metrics_scrape_errors_total") == 2


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on `port`, from the kernel's own table."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_the_daemon_serves_current_figures_on_loopback_by_default(tmp_path, mosquitto):
    assert PrometheusConfig().bind == "127.0.0.1"
    config = base_config(
        tmp_path / "state", mosquitto.port, telemetry={"interval": 60, "prometheus": {"enabled": True, "port": 0}}
    )
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        watcher.wait_ready()
        telemetry = wait_for(lambda: watcher.payloads("telemetry"), timeout=20, message="first telemetry")[0]
        port = telemetry["system"]["metrics"]["port"]
        assert port > 0
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else

        before = scrape(port)
        assert value(before, "edge_agent_mqtt_connected") == 1
        assert value(before, "edge_agent_stage_running", stage="metrics") == 1
        handled = value(before, "edge_agent_commands_handled_total")
        assert watcher.command("ping")["ok"]
        # the next telemetry sample is a minute away: only a live reading can show the command
        after = wait_for(
            lambda: (m := scrape(port)) and value(m, "edge_agent_commands_handled_total") > handled and m,
            timeout=10,
            message="command counted on /metrics",
        )
        assert value(after, "edge_agent_commands_total", command="ping", outcome="ok") >= 1
        assert value(after, "edge_agent_mqtt_published_total") >= value(before, "edge_agent_mqtt_published_total")
    finally:
        assert daemon.stop() == 0
        watcher.close()
    assert _listening_addresses(port) == set()
