"""The reference platform consumer against a real mosquitto: shared load, idempotent store, episodes, status."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.cli.main import main as cli_main
from edge_agent.config.mqtt import MqttConfig, ReconnectConfig
from edge_agent.config.outbox import OutboxConfig
from edge_agent.events import AlertFactory, Topics
from edge_agent.platform import ConsumerOptions, PlatformConsumer, PlatformStore
from edge_agent.publish import Publisher
from edge_agent.store import Outbox
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[1]
SITE = "site-1"


class Device:
    """One agent's delivery path: a real outbox file and publisher with its own session and Last Will."""

    def __init__(self, tmp_path: Path, port: int, device_id: str):
        self.device_id = device_id
        self.outbox = Outbox(tmp_path / f"{device_id}.db", OutboxConfig(), topic_prefix="edge")
        config = MqttConfig(port=port, will_delay=0, reconnect=ReconnectConfig(min_delay=0.05, max_delay=0.3))
        topics = Topics("edge", SITE, device_id)
        self.publisher = Publisher(config, self.outbox, topics, device_id, "test", rng=random.Random(1))
        self.factory = AlertFactory(device_id, SITE)

    def start(self) -> Device:
        self.publisher.start()
        return self

    def emit(self, alert_type: str = "intrusion", **kwargs) -> str:
        alert = self.factory.make(alert_type, "major", ("camera", "cam1"), **kwargs)
        self.outbox.emit(alert)
        return alert.event_id

    def delivered(self) -> bool:
        stats = self.outbox.stats()
        return sum(stats.pending.values()) == 0 and sum(stats.inflight.values()) == 0

    def stop(self) -> None:
        self.publisher.stop()
        self.outbox.close()


def consumer(broker, db: Path, client_id: str, group: str = "platform") -> PlatformConsumer:
    options = ConsumerOptions(group=group, client_id=client_id, reconnect_min_s=0.05, reconnect_max_s=0.3)
    instance = PlatformConsumer(MqttConfig(port=broker.port), PlatformStore(db), options).start()
    wait_for(instance.subscribed.is_set, message=f"{client_id} subscribed")
    return instance


def test_two_consumers_in_one_group_split_the_alerts_and_together_store_each_once(tmp_path, mosquitto):
    db = tmp_path / "platform.db"
    first, second = consumer(mosquitto, db, "c1"), consumer(mosquitto, db, "c2")
    devices = [Device(tmp_path, mosquitto.port, f"dev-{n}").start() for n in range(4)]
    emitted = {device.emit(details={"count": i}) for i in range(50) for device in devices}
    store = PlatformStore(db)
    wait_for(lambda: store.summary().alerts == len(emitted), timeout=30, message="every alert stored")
    for device in devices:
        device.stop()
    got_first, got_second = set(first.alert_ids), set(second.alert_ids)
    assert got_first and got_second, "the shared group gave one instance nothing"
    assert got_first | got_second == emitted
    # One member of the group gets each message; nothing disconnected here, so nothing was re-sent either.
    assert not got_first & got_second
    assert store.alert_deliveries() == dict.fromkeys(emitted, 1)
    first.stop()
    second.stop()


def test_a_duplicate_delivery_is_stored_once_and_counted(tmp_path, mosquitto):
    db = tmp_path / "platform.db"
    instance = consumer(mosquitto, db, "c1")
    device = Device(tmp_path, mosquitto.port, "dev-1").start()
    event_id = device.emit()
    store = PlatformStore(db)
    wait_for(lambda: store.summary().alerts == 1, message="the alert stored")
    wait_for(device.delivered, message="the outbox row acknowledged")
    # The agent re-sends what it cannot prove was delivered; replay that re-send from its own row.
    row = device.outbox.get(event_id)
    publish_raw(mosquitto.port, row.topic, row.payload)
    wait_for(lambda: instance.alert_ids[event_id] == 2, message="the second delivery consumed")
    summary = store.summary()
    assert (summary.alerts, summary.deliveries, summary.duplicates) == (1, 2, 1)
    device.stop()
    instance.stop()


def test_start_and_end_pair_into_one_episode_even_when_end_is_stored_first(tmp_path, mosquitto):
    db = tmp_path / "platform.db"
    instance = consumer(mosquitto, db, "c1")
    store = PlatformStore(db)
    factory = AlertFactory("dev-9", SITE)
    start = factory.make("loitering", "minor", ("camera", "cam1"), phase="start")
    end = factory.make("loitering", "minor", ("camera", "cam1"), phase="end", related_event_id=start.event_id)
    topic = Topics("edge", SITE, "dev-9").alert("loitering")
    publish_raw(mosquitto.port, topic, end.to_json().encode())
    wait_for(lambda: store.episode(start.event_id), message="the end's half of the episode")
    early = store.summary()  # the start is not known yet: neither open nor closed
    assert (early.episodes_open, early.episodes_closed, early.ends_awaiting_start) == (0, 0, 1)
    publish_raw(mosquitto.port, topic, start.to_json().encode())
    wait_for(lambda: store.summary().alerts == 2, message="both alerts stored")
    episode = store.episode(start.event_id)
    assert episode["end_event_id"] == end.event_id and episode["started_at"] == start.started_at
    summary = store.summary()
    assert (summary.episodes_open, summary.episodes_closed, summary.ends_awaiting_start) == (0, 1, 0)
    instance.stop()


DEVICE_PROCESS = """
import sys, time
from edge_agent.config.mqtt import MqttConfig, ReconnectConfig
from edge_agent.config.outbox import OutboxConfig
from edge_agent.events import Topics
from edge_agent.publish import Publisher
from edge_agent.store import Outbox

db, port = sys.argv[1], int(sys.argv[2])
outbox = Outbox(db, OutboxConfig(), topic_prefix="edge")
config = MqttConfig(port=port, will_delay=0, keepalive=5)
Publisher(config, outbox, Topics("edge", "site-1", "dev-k"), "dev-k", "kill-test").start()
while True:
    time.sleep(3600)
"""


def test_a_killed_agent_shows_offline_and_one_that_stops_cleanly_too(tmp_path, mosquitto):
    db = tmp_path / "platform.db"
    instance = consumer(mosquitto, db, "c1")
    store = PlatformStore(db)
    script = tmp_path / "device.py"
    script.write_text(DEVICE_PROCESS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path / "k.db"), str(mosquitto.port)], env=env)
    try:
        wait_for(lambda: store.device_state("dev-k") == "online", timeout=20, message="dev-k online")
        process.send_signal(signal.SIGKILL)  # no DISCONNECT: only the broker's Last Will can say so
        process.wait(10)
        wait_for(lambda: store.device_state("dev-k") == "offline", timeout=20, message="the Will marks dev-k offline")
    finally:
        if process.poll() is None:
            process.kill()
    graceful = Device(tmp_path, mosquitto.port, "dev-g").start()
    wait_for(lambda: store.device_state("dev-g") == "online", message="dev-g online")
    graceful.stop()
    wait_for(lambda: store.device_state("dev-g") == "offline", message="dev-g's own offline status")
    assert store.summary().offline == ["dev-g", "dev-k"]
    instance.stop()


def test_a_consumer_started_later_learns_status_from_the_retained_message(tmp_path, mosquitto, capsys):
    device = Device(tmp_path, mosquitto.port, "dev-r").start()
    wait_for(lambda: device.publisher.connected, message="dev-r connected")
    db = tmp_path / "platform.db"
    late = consumer(mosquitto, db, "late")
    store = PlatformStore(db)
    wait_for(lambda: store.device_state("dev-r") == "online", message="retained online status")
    late.stop()
    device.stop()
    assert cli_main(["platform", "summary", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["devices_online"] == 1


def publish_raw(port: int, topic: str, payload: bytes) -> None:
    """Publish as a device would, at QoS 1, and wait for the broker's PUBACK."""
    acked = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="raw-publisher", protocol=paho.MQTTv5)
    client.on_publish = lambda *args: acked.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, payload, qos=1)
    wait_for(acked.is_set, message="PUBACK")
    client.disconnect()
    client.loop_stop()


def test_the_command_consumes_until_sigterm_and_prints_the_summary(tmp_path, mosquitto):
    db = tmp_path / "platform.db"
    command = [sys.executable, "-m", "edge_agent", "platform", "consume", "--db", str(db)]
    command += ["--port", str(mosquitto.port), "--client-id", "cli-1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        store = PlatformStore(db) if wait_for(db.exists, timeout=20, message="the store created") else None
        device = Device(tmp_path, mosquitto.port, "dev-c").start()
        wait_for(lambda: store.device_state("dev-c") == "online", timeout=20, message="dev-c online via the command")
        device.emit()
        wait_for(lambda: store.summary().alerts == 1, message="the alert stored by the command")
        device.stop()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "alerts: 1 unique, 0 duplicate deliveries (intrusion=1)" in output
    assert "devices: 0 online, 1 offline (dev-c)" in output
