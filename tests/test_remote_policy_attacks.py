"""The remote-change allow-list and ${ENV}, attacked as the platform's account would: the real daemon, a real
mosquitto, set-config and get-config over MQTT (findings F1, F2, F3, F12 of the trust-boundary review)."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from pathlib import Path

import pytest
import yaml

from edge_agent.config import ConfigError, parse_config
from edge_agent.config.errors import dotted
from edge_agent.config.policy import remote_change_problems
from edge_agent.config.redaction import redact
from edge_agent.vision.models import ModelNotInstalled, record_path
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.wait import wait_for

ENV_SECRET = "s3cret-from-the-environment-7f3a"


class Listener:
    """A TCP server standing in for a broker of the attacker's choice: it records every byte it is sent."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = bytearray()
        self.connections = 0
        self.server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.settimeout(1)
            try:
                while chunk := connection.recv(65536):
                    self.received += chunk
            except OSError:
                pass
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()


@pytest.fixture
def attacker():
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture
def agent(tmp_path, mosquitto):
    config = base_config(
        tmp_path / "state",
        mosquitto.port,
        mqtt={"host": "127.0.0.1", "port": mosquitto.port, "username": "${EA_BROKER_USER}"},
        commands={"confirm_timeout": 5},
    )
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config, env={"EA_BROKER_USER": ENV_SECRET}).start()
    watcher.wait_ready()
    yield daemon, watcher, config
    assert daemon.stop() == 0, daemon.log()[-3000:]
    watcher.close()


def _set(watcher: Watcher, config: dict | str, **args) -> dict:
    text = config if isinstance(config, str) else yaml.safe_dump(config)
    return watcher.command("set-config", {"config": text, "persist": False, **args}, timeout=60)


def _everything_published(watcher: Watcher) -> bytes:
    return b"".join(payload for _, payload, _ in watcher.messages)


def test_f1_a_remote_config_cannot_send_a_file_of_its_choice_to_a_broker_of_its_choice(agent, attacker, tmp_path):
    daemon, watcher, config = agent
    secret = tmp_path / "site.key"
    secret.write_text("SITE-KEY-NEVER-ON-THE-WIRE\n")
    stolen = {**config, "mqtt": {**config["mqtt"], "port": attacker.port, "password_file": str(secret)}}
    reply = _set(watcher, stolen)
    assert reply["ok"] is False and reply["result"]["outcome"] == "refused", reply
    assert set(reply["result"]["fields"]) == {"mqtt.port", "mqtt.password_file"}
    assert "mqtt.password_file: may only be changed in the config file on the device" in reply["error"]
    assert "mqtt.remote_brokers" in reply["error"]  # how the file on the box can allow a move
    assert watcher.command("status")["result"]["mqtt_connected"]
    assert attacker.connections == 0 and b"SITE-KEY" not in attacker.received
    rejected = wait_for(lambda: watcher.health("config_rejected"), message="config_rejected alert")[0]
    assert "mqtt.password_file" in rejected["details"]["message"]


def test_f1_a_broker_the_local_file_allows_may_be_chosen_remotely_but_not_a_file(tmp_path, mosquitto, attacker):
    secret = tmp_path / "site.key"
    secret.write_text("SITE-KEY-NEVER-ON-THE-WIRE\n")
    allowed = f"127.0.0.1:{attacker.port}"
    config = base_config(
        tmp_path / "state", mosquitto.port, commands={"confirm_timeout": 5}, mqtt={"remote_brokers": [allowed]}
    )
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        watcher.wait_ready()
        with_file = {**config, "mqtt": {**config["mqtt"], "port": attacker.port, "password_file": str(secret)}}
        refused = _set(watcher, with_file)
        assert refused["result"]["fields"] == ["mqtt.password_file"], refused
        assert attacker.connections == 0
        # the port alone is allowed (the local file lists the broker): the box goes there, is not confirmed by a
        # broker that never answers MQTT, and reverts; nothing of the key file is ever sent
        moved = _set(watcher, {**config, "mqtt": {**config["mqtt"], "port": attacker.port}})
        assert moved["ok"] is False and moved["result"]["outcome"] == "reverted", moved
        assert attacker.connections >= 1 and b"SITE-KEY" not in attacker.received
        assert wait_for(lambda: watcher.command("status")["result"]["mqtt_connected"], timeout=20)
    finally:
        assert daemon.stop() == 0
        watcher.close()


def test_f2_a_remote_config_cannot_point_the_outbox_at_an_existing_file(agent, tmp_path):
    daemon, watcher, config = agent
    victim = tmp_path / "password-hash"
    victim.write_text("scrypt$precious\n")
    for key, value in (("outbox", {"path": str(victim)}), ("device", {**config["device"], "state_dir": str(tmp_path)})):
        reply = _set(watcher, {**config, key: value})
        assert reply["ok"] is False and reply["result"]["outcome"] == "refused", reply
        assert reply["result"]["fields"] == [f"{key}.{next(iter(k for k in value if k in ('path', 'state_dir')))}"]
    assert victim.read_text() == "scrypt$precious\n"
    assert not list(tmp_path.glob("password-hash.corrupt*")) and not (tmp_path / "outbox.db").exists()


def test_f3_environment_values_never_leave_through_get_config_replies_or_errors(agent):
    daemon, watcher, config = agent
    got = watcher.command("get-config")["result"]["config"]
    assert got["mqtt"]["username"] == "${EA_BROKER_USER}"  # shown as written, never its value
    hostile = [
        {**config, "rules": [{"name": "r", "type": "intrusion", "camera": "c", "zone": "${EA_BROKER_USER}"}]},
        {**config, "device": {**config["device"], "timezone": "${EA_BROKER_USER}"}},
        {**config, "telemetry": {"interval": "${HOME}"}},
    ]
    for attempt in hostile:
        reply = _set(watcher, attempt)
        assert reply["ok"] is False and "expanded only in the config file on the device" in reply["error"], reply
    # the running config's own reference may be kept where it is (a get-config sent back, with a change)
    kept = _set(watcher, {**config, "telemetry": {"interval": 5}})
    assert kept["ok"] and kept["result"]["outcome"] == "applied", kept
    assert ENV_SECRET.encode() not in _everything_published(watcher)
    assert repr(os.environ["HOME"]) not in reply["error"]  # the last attempt's ${HOME} is named, never read
    assert ENV_SECRET not in daemon.log()


def test_f3_a_local_file_error_shows_the_reference_not_the_value(tmp_path, mosquitto):
    config = base_config(tmp_path / "state", mosquitto.port)
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config, env={"EA_TZ": ENV_SECRET}).start()
    try:
        watcher.wait_ready()
        daemon.write_config({**config, "device": {**config["device"], "timezone": "${EA_TZ}"}})
        daemon.signal(signal.SIGHUP)
        alert = wait_for(lambda: watcher.health("config_rejected"), timeout=20, message="config_rejected")[0]
        assert "${EA_TZ}" in alert["details"]["message"] and ENV_SECRET not in alert["details"]["message"]
    finally:
        assert daemon.stop() == 0
        watcher.close()
    assert ENV_SECRET not in daemon.log()


@pytest.mark.parametrize("poison", ["\x07", "\x00", "\x1b[31m", "\ufffe"])
def test_f12_control_characters_are_a_config_issue_not_a_traceback(agent, poison):
    daemon, watcher, config = agent
    text = yaml.safe_dump(config) + f"# {poison}\n"
    reply = _set(watcher, text)
    assert reply["ok"] is False and reply["error"].startswith("config rejected"), reply
    assert "unacceptable character" in reply["error"] and "internal error" not in reply["error"]
    raw = json.dumps({"request_id": "r1", "args": {"config": {"device": {"site": f"a{poison}b"}}}}).encode()
    nested = watcher.command("set-config", raw=raw)
    assert nested["ok"] is False and "internal error" not in nested["error"], nested
    assert "Traceback" not in daemon.log() and daemon.running()


def test_remote_changes_inside_the_allow_list_still_apply(agent, tmp_path):
    """The allow-list is not a wall: zones, rules and telemetry stay the platform's to tune."""
    daemon, watcher, config = agent
    clip = tmp_path / "missing.mp4"
    local = {
        **config,
        "cameras": [
            {
                "id": "c",
                "url": str(clip),
                "enabled": False,
                "zones": {"z": {"points": [[0, 0], [1, 0], [1, 1]]}},
            }
        ],
    }
    daemon.write_config(local)
    daemon.signal(signal.SIGHUP)
    wait_for(
        lambda: watcher.command("get-config")["result"]["config"]["cameras"], timeout=20, message="the local reload"
    )
    tuned = json.loads(json.dumps(local))
    tuned["cameras"][0]["zones"]["z"]["points"].append([0, 1])
    tuned["rules"] = [{"name": "after-hours", "type": "intrusion", "camera": "c", "zone": "z"}]
    tuned["telemetry"] = {"interval": 7}
    applied = _set(watcher, tuned)
    assert applied["ok"] and applied["result"]["outcome"] == "applied", applied
    moved = json.loads(json.dumps(tuned))
    moved["cameras"][0]["url"] = "/etc/shadow"
    refused = _set(watcher, moved)
    assert refused["result"]["fields"] == ["cameras[0].url"], refused
    assert watcher.command("get-config")["result"]["config"]["rules"][0]["name"] == "after-hours"


# -- the second attack run (N1-N8): what got through the first version of the allow-list ----------------------


def test_n1_n2_welfare_watches_are_the_local_file_s(agent):
    """A remote watch named like a video rule ran that rule's local actions (N1); one with a card number gave back
    the card's token (N2)."""
    daemon, watcher, config = agent
    watch = {"name": "probe", "doors": ["lobby"], "max_silence_hours": 0.0005}
    doors = [{"id": "lobby"}]  # doors are the platform's to tune: only the watch is refused
    reply = _set(watcher, {**config, "access": {"doors": doors, "welfare": [watch]}})
    assert reply["ok"] is False and reply["result"]["fields"] == ["access.welfare[0]"], reply
    assert "adding welfare watch 'probe'" in reply["error"]
    card = {**watch, "card_numbers": ["1001"]}
    with_card = _set(watcher, {**config, "access": {"doors": doors, "welfare": [card]}})
    assert with_card["ok"] is False and "1001" not in with_card["error"], with_card


def test_n1_a_welfare_watch_may_not_take_a_video_rule_s_name_even_in_the_file():
    text = """
device: {id: dev-1, site: site-1}
cameras: [{id: c, url: rtsp://cam/1, zones: {z: {points: [[0, 0], [1, 0], [1, 1]]}}}]
rules: [{name: table-visit, type: intrusion, camera: c, zone: z}]
access: {welfare: [{name: table-visit, doors: [], max_silence_hours: 1}]}
"""
    with pytest.raises(ConfigError, match=r"access\.welfare\[0\]\.name: welfare watch 'table-visit' has the name"):
        parse_config(text)


def test_n3_the_detector_model_is_a_name_never_a_path(agent, tmp_path):
    daemon, watcher, config = agent
    for name in ("../elsewhere/evil", "/tmp/evil", ".."):
        reply = _set(watcher, {**config, "detector": {"model": name}})
        assert reply["ok"] is False and "detector.model" in reply["error"], reply
        assert "is not installed" not in reply["error"]  # no oracle of which files exist
    record = tmp_path / "m" / "evil.model.yaml"
    record.parent.mkdir()
    with pytest.raises(ModelNotInstalled, match="not a plain file name"):
        record_path(record.parent, "../evil")


def test_n4_a_remote_path_is_never_opened_so_a_fifo_cannot_hang_the_commands_nor_probe_files(agent, tmp_path):
    daemon, watcher, config = agent
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    errors = []
    for path in (fifo, tmp_path / "does-not-exist", Path("/etc/shadow"), Path("/etc")):
        action = {"name": "h", "kind": "http", "url": "http://127.0.0.1:9/x", "remote": True}
        reply = _set(watcher, {**config, "actions": [{**action, "secret_headers": {"X-T": str(path)}}]})
        assert reply["ok"] is False and reply["result"]["outcome"] == "refused", reply
        errors.append(reply["error"].replace(str(path), "PATH"))
    assert len(set(errors)) == 1, errors  # the same refusal whatever the path: nothing learnt about the files
    assert watcher.command("ping")["ok"]


def test_n4_a_fifo_named_in_the_local_file_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    text = f"device: {{id: d, site: s}}\nmqtt: {{password_file: {fifo}}}\n"
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(_rejection(text)), daemon=True)
    worker.start()
    worker.join(10)
    assert outcome and "is not a regular file" in outcome[0]


def _rejection(text: str) -> str:
    try:
        parse_config(text)
    except ConfigError as exc:
        return exc.report()
    return "accepted"


@pytest.mark.parametrize(
    "section",
    [{"detector": {"classes": ["person", "\udc80"]}}, {"detector": {"model": "\udc80"}}, {"telemetry": {"\udc80": 1}}],
)
def test_n5_a_lone_surrogate_is_refused_and_every_reply_and_alert_still_goes_out(agent, section):
    daemon, watcher, config = agent
    before = len(watcher.health("config_rejected"))
    raw = json.dumps({"request_id": "s1", "args": {"config": {**config, **section}, "persist": True}}).encode()
    reply = watcher.command("set-config", raw=raw)
    assert reply["ok"] is False and reply["error"].startswith("config rejected"), reply
    wait_for(lambda: len(watcher.health("config_rejected")) > before, message="the config_rejected alert")
    assert watcher.command("get-config")["ok"] and watcher.command("status")["ok"]
    assert "\\udc80" not in daemon.config_path.read_text()


def test_n7_get_config_masks_credentials_in_any_header_and_in_a_url():
    dumped = {
        "actions": [
            {
                "url": "https://gate:pa55@10.1.1.1/open?door={door}&token=t0k3n",
                "headers": {"X-Auth": "xa", "X-Access-Key": "xak", "X-Device-Code": "c0de", "X-Door": "{door}"},
                "secret_headers": {"Authorization": "/etc/edge-agent/token"},
            }
        ]
    }
    shown = json.dumps(redact(dumped))
    assert not any(secret in shown for secret in ("pa55", "t0k3n", '"xa"', "xak", "c0de")), shown
    assert "{door}" in shown and "/etc/edge-agent/token" in shown  # data and paths stay readable


def test_n8_listeners_stay_the_local_file_s(agent):
    daemon, watcher, config = agent
    reply = _set(watcher, {**config, "telemetry": {"prometheus": {"enabled": True, "port": 1884}}})
    assert reply["result"]["fields"] == ["telemetry.prometheus.enabled", "telemetry.prometheus.port"], reply


# -- the third attack run: guessing a hidden value, a welfare watch's quiet hours, a busy-loop setting ----------


def test_a_hidden_value_cannot_be_guessed_right_and_wrong_get_the_same_refusal(agent):
    """A right guess of a masked or environment value was "no change" (applied), a wrong one refused: an oracle."""
    daemon, watcher, config = agent
    replies = []
    for guess in (ENV_SECRET, "wrong-guess"):
        reply = _set(watcher, {**config, "mqtt": {**config["mqtt"], "username": guess}})
        assert reply["ok"] is False and "keeps this value hidden" in reply["error"], reply
        replies.append(reply["error"].replace(guess, "GUESS"))
    assert replies[0] == replies[1]
    shown = watcher.command("get-config")["result"]["config"]
    kept = _set(watcher, {**config, "mqtt": shown["mqtt"], "telemetry": {"interval": 9}})
    assert kept["ok"] and kept["result"]["outcome"] == "applied", kept  # get-config's answer, sent back, works


def test_a_welfare_watch_s_quiet_hours_are_local_too():
    running = {
        "device": {"id": "dev-1", "site": "site-1"},
        "access": {"doors": [{"id": "lobby"}], "welfare": [{"name": "w", "doors": ["lobby"], "max_silence_hours": 8}]},
    }
    quiet = json.loads(json.dumps(running))
    quiet["access"]["welfare"][0]["quiet_hours"] = [{"start": "00:00", "end": "24:00"}]
    problems = remote_change_problems(parse_config(json.dumps(running)), parse_config(json.dumps(quiet)))
    assert [dotted(path) for path, _ in problems] == ["access.welfare[0].quiet_hours"]


def test_sampling_has_a_floor_a_remote_sender_cannot_go_below():
    with pytest.raises(ConfigError, match="counts.sample_every"):
        parse_config("device: {id: d, site: s}\ncounts: {sample_every: 1.0e-9}\n")
