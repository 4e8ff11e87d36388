"""The daemon as a subprocess against a real mosquitto: signals, systemd notification, supervision."""

import signal
import sqlite3

import pytest

from tests.support.daemon import Daemon, NotifySocket, Watcher, base_config, retained_message
from tests.support.wait import wait_for


@pytest.fixture
def watcher(mosquitto):
    watcher = Watcher(mosquitto.port)
    yield watcher
    watcher.close()


@pytest.fixture
def daemons():
    started = []
    yield started
    for daemon in started:
        if daemon.running():
            daemon.stop()


def test_ready_watchdog_then_sigterm_leaves_status_offline_and_outbox_consistent(tmp_path, mosquitto, watcher, daemons):
    notify = NotifySocket(tmp_path / "notify.sock")
    config = base_config(tmp_path / "state", mosquitto.port, telemetry={"interval": 1})
    daemon = Daemon(tmp_path / "agent", config, env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"})
    daemons.append(daemon.start())
    try:
        wait_for(lambda: notify.count("READY=1"), timeout=30, message="READY=1")
        wait_for(lambda: notify.count("WATCHDOG=1") >= 3, timeout=10, message="watchdog pings")
        wait_for(lambda: [s for s in watcher.payloads("status") if s["state"] == "online"], timeout=10)
        wait_for(lambda: len(watcher.payloads("telemetry")) >= 2, timeout=10, message="telemetry")
        telemetry = watcher.payloads("telemetry")[-1]
        assert telemetry["system"]["rss_mb"] > 0 and "disk_free_mb" in telemetry["system"]
        assert telemetry["stages"]["telemetry"]["status"] == "running"
        assert "oldest_pending_age_s" in telemetry["outbox"]
        assert watcher.command("ping")["ok"]

        assert daemon.stop() == 0
        assert notify.count("STOPPING=1") == 1
        assert notify.received.index("STOPPING=1\nSTATUS=stopping") > notify.received.index(
            next(m for m in notify.received if m.startswith("READY=1"))
        )
        wait_for(lambda: watcher.payloads("status")[-1]["state"] == "offline", timeout=5, message="status offline")
        # docs/mqtt-api.md: status is retained (online on connect, offline on a clean stop);
        # telemetry and command replies are not.
        assert [s["state"] for s in watcher.payloads("status")] == ["online", "offline"]
        assert watcher.retain_flags("status") == [True, True]
        assert set(watcher.retain_flags("telemetry")) == {False}
        assert watcher.retain_flags("cmd/ping/reply") == [False]
        late, flag = retained_message(mosquitto.port, f"{watcher.base}/status")
        assert flag and late["state"] == "offline" and "at" not in late
    finally:
        notify.close()
    with sqlite3.connect(tmp_path / "state" / "outbox.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        states = dict(db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
    assert states.get("inflight", 0) == 0
    assert states.get("delivered", 0) >= 2


def test_a_killed_agent_leaves_the_retained_last_will(tmp_path, mosquitto, watcher, daemons):
    config = base_config(tmp_path / "state", mosquitto.port, mqtt={"will_delay": 1})
    daemon = Daemon(tmp_path / "agent", config)
    daemons.append(daemon.start())
    assert watcher.wait_ready()["ok"]
    online, flag = retained_message(mosquitto.port, f"{watcher.base}/status")
    assert flag and online["state"] == "online"

    daemon.signal(signal.SIGKILL)  # no clean stop: only the broker can say "offline"
    assert daemon.stop() == -signal.SIGKILL

    wait_for(lambda: watcher.payloads("status")[-1]["state"] == "offline", timeout=10, message="the Last Will")
    assert watcher.retain_flags("status") == [True, True]
    will, flag = retained_message(mosquitto.port, f"{watcher.base}/status")
    assert flag and will["state"] == "offline" and "at" not in will  # the Will was built at connect


def test_sighup_applies_a_good_config_and_keeps_running_on_a_bad_one(tmp_path, mosquitto, watcher, daemons):
    config = base_config(tmp_path / "state", mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config)
    daemons.append(daemon.start())
    assert watcher.wait_ready()["ok"]
    assert watcher.payloads("telemetry") == []  # interval 30 s: nothing yet

    config["telemetry"]["interval"] = 1
    daemon.write_config(config)
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: len(watcher.payloads("telemetry")) >= 2, timeout=15, message="telemetry at the new interval")
    status = watcher.command("status")["result"]
    assert status["last_reload"]["outcome"] == "applied" and status["healthy"]

    daemon.write_config(config | {"telemetry": {"interval": 1, "intervall": 5}})
    daemon.signal(signal.SIGHUP)
    rejected = wait_for(lambda: watcher.health("config_rejected"), timeout=15, message="config_rejected alert")[0]
    assert (
        "config.yaml:" in rejected["details"]["message"] and "unknown key 'intervall'" in rejected["details"]["message"]
    )
    assert "keeping the running config" in daemon.log()
    count = len(watcher.payloads("telemetry"))
    wait_for(lambda: len(watcher.payloads("telemetry")) >= count + 2, timeout=10, message="telemetry still flowing")
    assert daemon.running()
    assert watcher.command("status")["result"]["last_reload"]["outcome"].startswith("rejected")


def test_a_stalled_stage_is_restarted_and_a_health_alert_published(tmp_path, mosquitto, watcher, daemons):
    config = base_config(tmp_path / "state", mosquitto.port, supervisor={"stall_timeout": 1.0, "start_grace": 0.5})
    daemon = Daemon(tmp_path / "agent", config, env={"EDGE_AGENT_FAULT": "stall:1.5"})
    daemons.append(daemon.start())
    alert = wait_for(lambda: watcher.health("stage_stalled"), timeout=40, message="stage_stalled alert")[0]
    assert alert["source"] == {"kind": "device", "id": "dev-1"}
    assert alert["severity"] == "major"
    assert set(watcher.retain_flags("alerts/agent.health")) == {False}  # alerts are never retained
    assert alert["details"]["extra"] == {"stage": "fault-injection", "restarts": 1}
    stages = wait_for(lambda: (s := watcher.command("status")["result"])["healthy"] and s["stages"], timeout=10)
    assert stages["fault-injection"]["restarts"] == 1 and stages["fault-injection"]["status"] == "running"
    assert daemon.running()
