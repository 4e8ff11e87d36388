"""Actions in the real daemon: an intrusion on a shared clip calls a local HTTP server while the broker is down;
`run-action` over a real broker runs only `remote: true` actions; a remote set-config may not add a command."""

from __future__ import annotations

import json
import signal
import sqlite3

import pytest

from edge_agent.vision.models import fetch_model
from tests.support.actions import schema_problems
from tests.support.assets import WHOLE_PICTURE, assets_dir, entrance_camera, model_path
from tests.support.broker import free_port
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.http_target import HttpTarget
from tests.support.wait import wait_for
from tests.test_daemon_access import access_section, post


@pytest.fixture
def models_dir(tmp_path):
    model_path()  # fails in CI, skips elsewhere, when the shared model is missing
    directory = tmp_path / "models"
    fetch_model("yolox_nano", directory, mirror_dir=assets_dir())
    return directory


def outbox_rows(state_dir) -> list[tuple[str, dict, str]]:
    """(topic, payload, state) of every row, oldest first (the daemon has stopped)."""
    with sqlite3.connect(state_dir / "outbox.db") as connection:
        rows = connection.execute("SELECT topic, payload, state FROM outbox ORDER BY seq").fetchall()
    return [(topic, json.loads(payload), state) for topic, payload, state in rows]


def test_an_intrusion_calls_the_local_device_while_the_broker_is_down(tmp_path, models_dir, target):
    config = base_config(
        tmp_path / "state",
        free_port(),  # nothing listens there: the uplink is down for the whole run
        detector={"models_dir": str(models_dir), "threads": 1},
        cameras=[entrance_camera(zones={"room": {"points": WHOLE_PICTURE}})],
        rules=[{"name": "anyone", "type": "intrusion", "camera": "entrance", "zone": "room", "min_dwell": 0.2}],
        actions=[
            {
                "name": "siren",
                "kind": "http",
                "url": f"{target.url}/ok/{{rule}}?zone={{zone}}",
                "body": {"alert": "{event_id}", "count": "{count}"},
                "on": [{"rule": "anyone"}],
            }
        ],
    )
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        request = wait_for(lambda: target.of_kind("ok"), timeout=90, message="the siren's request")[0]
        wait_for(lambda: "siren" in _action_topics(tmp_path / "state"), timeout=10, message="the siren's record")
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()[-3000:]
    assert request.path == "/ok/anyone?zone=room"
    body = json.loads(request.body)
    rows = outbox_rows(tmp_path / "state")
    alerts = {payload["event_id"]: payload for topic, payload, _ in rows if "/alerts/intrusion" in topic}
    records = [(payload, state) for topic, payload, state in rows if topic == "edge/site-1/dev-1/actions/siren"]
    assert body["alert"] in alerts and isinstance(body["count"], int) and body["count"] >= 1
    record, state = records[0]
    assert state == "pending"  # kept for the broker
    assert record["outcome"] == "ok" and record["status_code"] == 200 and record["alert_event_id"] == body["alert"]
    assert record["rule"] == "anyone" and record["phase"] == "start" and record["latency_ms"] > 0
    assert all(schema_problems(payload) == [] for payload, _ in records)


def _action_topics(state_dir) -> set[str]:
    try:
        with sqlite3.connect(f"file:{state_dir / 'outbox.db'}?mode=ro", uri=True) as connection:
            topics = connection.execute("SELECT topic FROM outbox WHERE topic LIKE '%/actions/%'").fetchall()
    except sqlite3.Error:
        return set()
    return {topic.rsplit("/", 1)[1] for (topic,) in topics}


def actions_config(tmp_path, port: int, target: HttpTarget, health_path: str = "health") -> dict:
    return base_config(
        tmp_path / "state",
        port,
        actions=[
            {
                "name": "notify",
                "kind": "http",
                "url": f"{target.url}/ok/remote/{{type}}",
                "body": {"alert": "{event_id}", "reason": "{reason}"},
                "remote": True,
            },
            {
                "name": "health-hook",
                "kind": "http",
                "url": f"{target.url}/ok/{health_path}/{{reason}}",
                "on": [{"type": "agent.health"}],
            },
        ],
    )


def test_run_action_over_the_broker_and_the_command_guard(tmp_path, mosquitto, target):
    config = actions_config(tmp_path, mosquitto.port, target)
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        watcher.wait_ready()
        reply = watcher.command("run-action", {"action": "notify"})
        assert reply["ok"] and reply["result"]["outcome"] == "ok" and reply["result"]["status_code"] == 200
        assert [request.path for request in target.requests] == ["/ok/remote/"]

        refused = watcher.command("run-action", {"action": "health-hook"})
        assert not refused["ok"] and "may not be run remotely" in refused["error"]
        assert "no action named 'siren'" in watcher.command("run-action", {"action": "siren"})["error"]

        with_command = json.loads(json.dumps(config))
        with_command["actions"].append({"name": "x", "kind": "command", "argv": ["/bin/true"], "remote": True})
        denied = watcher.command("set-config", {"config": with_command, "persist": False})
        assert not denied["ok"] and "adding command action 'x'" in denied["error"] and "config file" in denied["error"]

        rejected = wait_for(lambda: watcher.health("config_rejected"), message="the config_rejected alert")[0]
        hook = wait_for(lambda: watcher.payloads("actions/health-hook"), message="the hook's record")[0]
        assert hook["alert_event_id"] == rejected["event_id"] and hook["outcome"] == "ok"
        assert "/ok/health/config_rejected" in [request.path for request in target.requests]

        about = watcher.command("run-action", {"action": "notify", "event_id": rejected["event_id"]})
        assert about["ok"] and about["result"]["alert_event_id"] == rejected["event_id"]
        assert target.requests[-1].path == "/ok/remote/agent.health"
        assert json.loads(target.requests[-1].body) == {"alert": rejected["event_id"], "reason": "config_rejected"}
        published = {about["result"]["record_event_id"], reply["result"]["record_event_id"]}
        wait_for(
            lambda: published <= {record["event_id"] for record in watcher.payloads("actions/notify")},
            message="both remote runs' records on actions/notify",
        )

        # a reload hands the after-store listener to the new runner: the next alert reaches the new URL only
        # (where an http action sends is the local file's to change: a SIGHUP reload, not a remote set-config)
        moved = actions_config(tmp_path, mosquitto.port, target, health_path="health2")
        assert daemon.reload_file(moved, watcher)["last_reload"]["outcome"] == "applied"
        watcher.command("set-config", {"config": with_command, "persist": False})
        wait_for(
            lambda: "/ok/health2/config_rejected" in [request.path for request in target.requests],
            message="the new runner's request",
        )
        paths = [request.path for request in target.requests]
        assert paths.count("/ok/health/config_rejected") == 1
    finally:
        code = daemon.stop()
        watcher.close()
    assert code == 0, daemon.log()[-3000:]


def door_end_config(tmp_path, port: int, target: HttpTarget, **sections) -> dict:
    """An access-only agent whose `release` action runs on the end of a door held open (whoever decides it)."""
    return base_config(
        tmp_path / "state",
        port,
        access=access_section(tmp_path, free_port()),
        actions=[
            {
                "name": "release",
                "kind": "http",
                "url": f"{target.url}/ok/release/{{reason}}",
                "on": [{"type": "door.held_open", "phases": ["end"]}],
            }
        ],
        **sections,
    )


def _post_held_open(config: dict) -> None:
    port = config["access"]["adapters"][0]["port"]

    def posted() -> bool:
        try:
            return post(port, {"type": "door.held_open"})[0] == 200
        except OSError:  # the adapter is not listening yet
            return False

    wait_for(posted, timeout=30, message="held-open posted")


def test_an_end_the_agent_decides_at_start_up_runs_its_end_action(tmp_path, target):
    """A door held open when the box died: at start-up the agent ends it (`agent_restarted`), and the action bound
    to `end` (releasing what the start held) runs for that end too, broker down. It is offered as the runner starts,
    ahead of anything the new pipeline raises: not after the start grace, when a new `start` may already be held."""
    config = door_end_config(tmp_path, free_port(), target, supervisor={"start_grace": 5})
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        _post_held_open(config)
        wait_for(lambda: _alert_topics(tmp_path / "state") == ["door.held_open"], message="the start stored")
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait(10)
    finally:
        daemon.stop()
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        request = wait_for(lambda: target.of_kind("ok"), timeout=30, message="the release request")[0]
        assert " running as " not in daemon.log()  # the pipeline is still in its 5 s start grace
        wait_for(lambda: "release" in _action_topics(tmp_path / "state"), timeout=10, message="the release record")
    finally:
        assert daemon.stop() == 0, daemon.log()[-3000:]
    assert request.path == "/ok/release/agent_restarted"
    [(record, _)] = [(p, s) for topic, p, s in outbox_rows(tmp_path / "state") if topic.endswith("/actions/release")]
    assert record["outcome"] == "ok" and record["phase"] == "end" and schema_problems(record) == []


def test_ends_of_a_restart_with_a_new_store_run_their_end_action(tmp_path, mosquitto, target):
    """A change of the outbox section rebuilds the store (break before make): the episodes ended `config_changed`
    on the way reach the new pipeline's action runner."""
    config = door_end_config(tmp_path, mosquitto.port, target)
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        watcher.wait_ready()
        _post_held_open(config)
        wait_for(lambda: watcher.payloads("alerts/door.held_open"), timeout=15, message="the start published")
        config["outbox"] = {"max_rows": 50_000}  # the outbox is the local file's: a SIGHUP reload
        assert daemon.reload_file(config, watcher)["last_reload"]["outcome"] == "applied"
        assert "running (restarted_all)" in daemon.log()
        request = wait_for(lambda: target.of_kind("ok"), timeout=30, message="the release request")[0]
        [record] = wait_for(lambda: watcher.payloads("actions/release"), timeout=15, message="the release record")
    finally:
        code = daemon.stop()
        watcher.close()
    assert code == 0, daemon.log()[-3000:]
    assert request.path == "/ok/release/config_changed" and record["outcome"] == "ok"


def _alert_topics(state_dir) -> list[str]:
    try:
        with sqlite3.connect(f"file:{state_dir / 'outbox.db'}?mode=ro", uri=True) as connection:
            topics = connection.execute("SELECT topic FROM outbox WHERE topic LIKE '%/alerts/%'").fetchall()
    except sqlite3.Error:
        return []
    return [topic.rsplit("/", 1)[1] for (topic,) in topics]
