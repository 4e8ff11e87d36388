"""A box that lives for years: the real daemon across SIGKILL, SIGHUP reloads and a set-config that would strand it.

- SIGKILL mid-episode, restart: the open intrusion episode gets its end (`agent_restarted`), once;
- SIGHUP that keeps the camera: its reader is handed over running, the line counts carry on
  (exactly: the counters reported after the reload equal the durable ledger of every crossing since
  the start), and an episode of a rule the reload removed ends with `config_changed`;
- a door held open across a reload that keeps the door: its end comes after the reload, linked;
- set-config to a broker that is not there: reverted within the confirm timeout, `reverted`
  reply and `config_reverted` alert on the original broker, the file on disk untouched.
"""

from __future__ import annotations

import signal

import pytest
import yaml

from edge_agent.config import AgentConfig
from edge_agent.store.counts_ledger import LINES_SCOPE
from edge_agent.store.state_store import StateStore
from tests.support.assets import footage
from tests.support.broker import free_port
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.wait import wait_for
from tests.test_daemon_access import access_section, post
from tests.test_daemon_video import models_dir  # noqa: F401 - a fixture


@pytest.fixture
def watcher(mosquitto):
    watcher = Watcher(mosquitto.port)
    yield watcher
    watcher.close()


def video_config(tmp_path, port: int, models: str, rules: list[dict], **sections) -> dict:
    camera = {
        "id": "entrance",
        "url": str(footage("entrance-one-by-one.mp4")),
        "kind": "file",
        "loop": True,
        "realtime": True,
        "detect_fps": 5,
        "zones": {"room": {"points": [[0, 0], [1, 0], [1, 1], [0, 1]]}},
        "lines": {  # as configs/demo.yaml: every visitor crosses both
            "floor": {"points": [[0.0, 0.965], [0.72, 0.965]], "in_side": [0.5, 0.5], "margin": 0.008},
            "exit": {"points": [[0.72, 0.70], [0.72, 1.0]], "in_side": [0.5, 0.9], "margin": 0.02},
        },
    }
    return base_config(
        tmp_path / "state",
        port,
        detector={"models_dir": models, "threads": 1},
        cameras=[camera],
        rules=rules,
        telemetry={"interval": 1},
        **sections,
    )


def intrusion(name: str) -> dict:
    return {
        "name": name,
        "type": "intrusion",
        "camera": "entrance",
        "zone": "room",
        "classes": ["person"],
        "min_dwell": 0.2,
        "clear_after": 30,
        "cooldown": 0,
    }


def pairs_are_whole(alerts: list[dict]) -> None:
    by_id = {a["event_id"]: a for a in alerts}  # at-least-once: the same id may arrive twice
    starts = {i for i, a in by_id.items() if a["phase"] == "start"}
    ends = [a["related_event_id"] for a in by_id.values() if a["phase"] == "end"]
    assert len(ends) == len(set(ends)), "a start got two ends"
    assert set(ends) <= starts, "an end without its start"


def test_sigkill_mid_episode_ends_it_once_after_restart(tmp_path, mosquitto, watcher, models_dir):  # noqa: F811
    config = video_config(tmp_path, mosquitto.port, str(models_dir), [intrusion("anyone")])
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        [start] = wait_for(lambda: watcher.payloads("alerts/intrusion")[:1], timeout=60, message="a start")
        assert start["phase"] == "start"
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait(10)
    finally:
        daemon.stop()
    daemon = Daemon(tmp_path / "agent", config).start()
    try:

        def the_end():
            return [a for a in watcher.payloads("alerts/intrusion") if a.get("related_event_id") == start["event_id"]]

        [end] = wait_for(the_end, timeout=60, message="the end of the episode the kill left open")
        assert end["phase"] == "end" and end["details"]["reason"] == "agent_restarted"
        assert "episodes open at the last stop: 0 continued, 1 ended" in daemon.log()
    finally:
        assert daemon.stop() == 0
    pairs_are_whole(watcher.payloads("alerts/intrusion"))


def test_reload_hands_the_camera_over_and_keeps_counts(tmp_path, mosquitto, watcher, models_dir):  # noqa: F811
    config = video_config(tmp_path, mosquitto.port, str(models_dir), [intrusion("anyone"), intrusion("removed")])
    daemon = Daemon(tmp_path / "agent", config).start()
    try:

        def lines() -> list[dict]:
            return [t["lines"] for t in watcher.payloads("telemetry") if t.get("lines")]

        def crossings() -> int:
            samples = lines()
            return sum(c["in"] + c["out"] for c in samples[-1].values()) if samples else 0

        wait_for(lambda: crossings() >= 1, timeout=90, message="a crossing counted")
        starts = wait_for(
            lambda: [a for a in watcher.payloads("alerts/intrusion") if a["rule"] == "removed"],
            timeout=30,
            message="the removed rule's episode open",
        )
        config["rules"] = [intrusion("anyone")]
        # nobody is detected from the reload on, so the counters stop where the reload left them and can be
        # compared exactly with the ledger (a reset counter could otherwise catch up with the old figure)
        config["detector"] = {**config["detector"], "score_threshold": 1.0}  # the clip's best person scores 0.93
        daemon.write_config(config)
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: "cameras kept running ['entrance']" in daemon.log(), timeout=30, message="handed over")

        def ended():
            return [
                a for a in watcher.payloads("alerts/intrusion") if a.get("related_event_id") == starts[0]["event_id"]
            ]

        [end] = wait_for(ended, timeout=30, message="the removed rule's episode ended")
        assert end["details"]["reason"] == "config_changed"
        wait_for(
            lambda: (watcher.command("status")["result"]["last_reload"] or {}).get("outcome") == "applied",
            timeout=30,
            message="the reload confirmed (broker connected, stages healthy)",
        )
        n = len(lines())
        wait_for(lambda: len(lines()) > n + 1, timeout=10, message="telemetry after the reload")
        reported = lines()[-1]
        reconnects = [
            t["cameras"]["entrance"]["reconnects"]
            for t in watcher.payloads("telemetry")
            if "entrance" in t.get("cameras", {})
        ]
        assert reconnects[-1] == 0  # the reader was never reopened
    finally:
        assert daemon.stop() == 0
    pairs_are_whole(watcher.payloads("alerts/intrusion"))
    # The ledger holds every crossing since the start, written through by whichever pipeline counted it
    # (daemon/counts.py); the new pipeline's counters report exactly that: carried over, neither reset nor
    # counted twice. Crossings before the reload exist (waited for above), so a reset would fall short.
    state = StateStore.beside(AgentConfig.model_validate(config).outbox_path)
    try:
        ledger = {key: {"in": fact["in"], "out": fact["out"]} for key, fact in state.facts(LINES_SCOPE).items()}
    finally:
        state.close()
    assert reported == ledger and sum(c["in"] + c["out"] for c in ledger.values()) >= 1


def test_a_door_held_open_across_a_reload_gets_its_end(tmp_path, mosquitto, watcher):
    port = free_port()
    config = base_config(
        tmp_path / "state", mosquitto.port, access=access_section(tmp_path, port), telemetry={"interval": 1}
    )
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        watcher.wait_ready()
        wait_for(lambda: post(port, {"type": "door.held_open"})[0] == 200, timeout=15, message="held-open posted")
        [start] = wait_for(lambda: watcher.payloads("alerts/door.held_open"), timeout=15, message="held-open start")
        config["telemetry"] = {"interval": 2}
        config["access"]["denials"] = {"count": 5, "window": 60}  # the door rules change, the door does not
        daemon.write_config(config)
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: "adapters kept running ['lobby-ctrl']" in daemon.log(), timeout=30, message="handed over")
        assert post(port, {"type": "door.closed"})[0] == 200  # the same port: the adapter never stopped
        ends = wait_for(
            lambda: [a for a in watcher.payloads("alerts/door.held_open") if a["phase"] == "end"],
            timeout=15,
            message="held-open end",
        )
        assert [e["related_event_id"] for e in ends] == [start["event_id"]]
    finally:
        assert daemon.stop() == 0


def test_set_config_to_a_missing_broker_is_reverted(tmp_path, mosquitto, watcher):
    # the local file lets the platform move the box to another port of this host (mqtt.remote_brokers)
    config = base_config(
        tmp_path / "state", mosquitto.port, commands={"confirm_timeout": 5}, mqtt={"remote_brokers": ["127.0.0.1"]}
    )
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        watcher.wait_ready()
        original = daemon.config_path.read_text()
        stranded = {**config, "mqtt": {**config["mqtt"], "port": free_port()}}
        reply = watcher.command("set-config", {"config": yaml.safe_dump(stranded)}, timeout=60)
        assert reply["ok"] is False and reply["result"]["outcome"] == "reverted", reply
        assert "not connected to the broker" in reply["result"]["reason"]
        [alert] = wait_for(lambda: watcher.health("config_reverted"), timeout=20, message="config_reverted alert")
        assert "reverted to the last known-good one" in alert["details"]["message"]
        assert daemon.config_path.read_text() == original
        status = watcher.command("status")["result"]
        assert status["mqtt_connected"] and "reverted" in status["last_reload"]["outcome"]
    finally:
        assert daemon.stop() == 0
