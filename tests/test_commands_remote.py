"""Remote operations end to end: the daemon as a subprocess, commands over a real mosquitto."""

import signal
import socket
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.wait import wait_for


@pytest.fixture
def agent(tmp_path, mosquitto):
    watcher = Watcher(mosquitto.port)
    config = base_config(
        tmp_path / "state",
        mosquitto.port,
        mqtt={"host": "127.0.0.1", "port": mosquitto.port, "username": "dev-1", "password": "s3cret-pass"},
    )
    daemon = Daemon(tmp_path / "agent", config).start()
    watcher.wait_ready()
    yield daemon, watcher, config
    assert daemon.stop() == 0
    watcher.close()


def test_status_get_config_redacted_and_bad_requests(agent):
    daemon, watcher, config = agent
    status = watcher.command("status")
    assert status["ok"] and status["result"]["device_id"] == "dev-1" and status["result"]["mqtt_connected"]
    got = watcher.command("get-config")
    assert got["result"]["config"]["mqtt"]["password"] == "**********"
    assert got["result"]["config"]["device"]["site"] == "site-1"
    assert all(b"s3cret-pass" not in payload for _, payload, _ in watcher.messages)
    assert "s3cret-pass" not in daemon.log()

    unknown = watcher.command("self-destruct")
    assert unknown["ok"] is False and unknown["error"].startswith("unknown command 'self-destruct'")
    malformed = watcher.command("ping", raw=b"\x00not json")
    assert malformed["ok"] is False and malformed["request_id"] is None and "not JSON" in malformed["error"]
    bad_args = watcher.command("resend-alerts", {"since": "last tuesday"})
    assert bad_args["ok"] is False and "RFC 3339" in bad_args["error"]
    assert daemon.running()


def _delivered_alerts(config: dict) -> list[str]:
    """event_ids of alert rows (not telemetry) the outbox has recorded as delivered."""
    with sqlite3.connect(Path(config["device"]["state_dir"]) / "outbox.db") as db:
        rows = db.execute("SELECT event_id FROM outbox WHERE state = 'delivered' AND class != 'telemetry'")
        return sorted(event_id for (event_id,) in rows)


def test_resend_alerts_sends_the_delivered_alerts_since_then_again(agent):
    daemon, watcher, config = agent

    def reject_a_config(attempt: int) -> dict:
        """A rejected config raises one agent.health alert through the outbox; returns it once delivered."""
        assert watcher.command("set-config", {"config": {**config, "cameras": [{"id": f"c{attempt}"}]}})["ok"] is False
        alert = wait_for(lambda: watcher.health("config_rejected")[attempt:], timeout=10)[0]
        wait_for(
            lambda: alert["event_id"] in _delivered_alerts(config), timeout=10, message="alert recorded as delivered"
        )
        return alert

    first = reject_a_config(0)
    between = time.time()  # after the first alert was stored, before the second exists
    second = reject_a_config(1)
    assert _delivered_alerts(config) == sorted([first["event_id"], second["event_id"]])

    resend = watcher.command("resend-alerts", {"since": between})
    assert resend["ok"] and resend["result"]["requeued"] == 1
    again = wait_for(lambda: watcher.health("config_rejected")[2:], timeout=10, message="the second alert again")
    assert [alert["event_id"] for alert in again] == [second["event_id"]]  # the same alert, not a new one
    wait_for(lambda: len(_delivered_alerts(config)) == 2, timeout=10, message="delivered again")

    resend = watcher.command("resend-alerts", {"since": "2020-01-01T00:00:00Z"})
    assert resend["ok"] and resend["result"]["requeued"] == 2
    again = wait_for(
        lambda: len(seen := watcher.health("config_rejected")) >= 5 and seen[3:],
        timeout=10,
        message="both alerts again",
    )
    assert sorted(alert["event_id"] for alert in again) == sorted([first["event_id"], second["event_id"]])
    wait_for(lambda: len(_delivered_alerts(config)) == 2, timeout=10, message="delivered again")
    assert len(watcher.health("config_rejected")) == 5


def test_set_config_applied_rejected_and_rolled_back(agent, tmp_path):
    daemon, watcher, config = agent
    original_text = daemon.config_path.read_text()

    # happy path: validated, applied like SIGHUP, persisted with the old file kept aside
    # the password as get-config shows it: a remote sender keeps a secret without ever writing it (config/hidden.py)
    new = config | {"telemetry": {"interval": 1}, "mqtt": {**config["mqtt"], "password": "**********"}}
    applied = watcher.command("set-config", {"config": yaml.safe_dump(new)})
    assert applied["ok"], applied
    assert applied["result"] == {
        "outcome": "applied",
        "changed": True,
        "switch": "make_before_break",
        "persisted": True,
    }
    wait_for(lambda: len(watcher.payloads("telemetry")) >= 2, timeout=10, message="telemetry at the new interval")
    # the agent's own counters are reported: the command just handled shows in telemetry system.agent
    wait_for(
        lambda: any(
            t["system"].get("agent", {}).get("commands", {}).get("set-config:ok") == 1
            for t in watcher.payloads("telemetry")
        ),
        timeout=10,
        message="command counters in telemetry",
    )
    counters = watcher.payloads("telemetry")[-1]["system"]["agent"]
    assert counters["commands_handled"] >= 1 and counters["commands_refused_busy"] == 0
    assert counters["sd_notify_failures"] == 0 and counters["telemetry_section_errors"] == 0
    persisted = yaml.safe_load(daemon.config_path.read_text())
    assert persisted["telemetry"]["interval"] == 1 and persisted["mqtt"]["password"] == "s3cret-pass"
    assert daemon.config_path.with_name("config.yaml.previous").read_text() == original_text
    applied_text = daemon.config_path.read_text()

    # invalid: rejected with the reason, nothing changes
    invalid = watcher.command("set-config", {"config": {**new, "cameras": [{"id": "c1"}]}})
    assert invalid["ok"] is False
    assert "config rejected" in invalid["error"] and "cameras[0].url: required key is missing" in invalid["error"]
    assert daemon.config_path.read_text() == applied_text
    assert watcher.health("config_rejected")

    # valid but fails at start (the metrics port is taken): rolled back to the running config
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # a listener is the local file's to open (docs/security.md): refused remotely, rolled back from the file
        failing = new | {"telemetry": {"interval": 1, "prometheus": {"enabled": True, "port": port}}}
        refused = watcher.command("set-config", {"config": yaml.safe_dump(failing)})
        assert refused["ok"] is False and refused["result"]["fields"] == [
            "telemetry.prometheus.enabled",
            "telemetry.prometheus.port",
        ], refused
        assert refused["result"]["outcome"] == "refused"
        daemon.write_config(failing)
        daemon.signal(signal.SIGHUP)
        alert = wait_for(lambda: watcher.health("config_rolled_back"), timeout=20, message="rollback alert")[0]
    assert "Address already in use" in alert["details"]["message"]
    daemon.write_config(applied_text)
    status = watcher.command("status")["result"]
    assert status["healthy"] and status["last_reload"]["outcome"].startswith("rolled back")
    count = len(watcher.payloads("telemetry"))
    wait_for(lambda: len(watcher.payloads("telemetry")) >= count + 2, timeout=10, message="old pipeline running again")

    # identity changes are refused remotely
    moved = watcher.command(
        "set-config", {"config": yaml.safe_dump(new | {"device": {**new["device"], "site": "elsewhere"}})}
    )
    assert moved["ok"] is False and "cannot be changed remotely" in moved["error"]
