"""MQTT v5 request/response on commands: the reply goes to the request's Response Topic with its Correlation Data,
but only inside the device's own reply area (publish/reply_route.py); v3.1.1 clients keep `cmd/<name>/reply`."""

from __future__ import annotations

import json
import threading
import uuid

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.publish.reply_route import reply_route, response_topic_problem
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.wait import wait_for

BASE = "edge/site-1/dev-1"


class Requester:
    """A platform's v5 client: sends requests with properties, records everything with its properties."""

    def __init__(self, port: int, protocol=paho.MQTTv5):
        self.seen: list[tuple[str, dict, bytes | None]] = []
        self._lock = threading.Lock()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"platform-{uuid.uuid4().hex[:8]}", protocol=protocol
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_connect = lambda client, *args: client.subscribe([("#", 1), ("$SYS/broker/edge/#", 1)])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, client, userdata, message) -> None:
        correlation = getattr(message.properties, "CorrelationData", None) if message.properties else None
        try:
            payload = json.loads(message.payload)
        except ValueError:
            payload = {"raw": message.payload.decode("utf-8", "replace")}
        with self._lock:
            self.seen.append((message.topic, payload, correlation))

    def on(self, topic: str) -> list[tuple[dict, bytes | None]]:
        with self._lock:
            return [(payload, correlation) for seen_topic, payload, correlation in self.seen if seen_topic == topic]

    def request(self, name: str, args: dict, response_topic: str | None, correlation: bytes | None) -> str:
        request_id = uuid.uuid4().hex
        properties = Properties(PacketTypes.PUBLISH)
        if response_topic is not None:
            properties.ResponseTopic = response_topic
        if correlation is not None:
            properties.CorrelationData = correlation
        payload = json.dumps({"request_id": request_id, "args": args})
        self.client.publish(f"{BASE}/cmd/{name}", payload, qos=1, properties=properties)
        return request_id

    def reply_to(self, request_id: str, topic: str) -> tuple[dict, bytes | None]:
        def found():
            return next(((p, c) for p, c in self.on(topic) if p.get("request_id") == request_id), None)

        return wait_for(found, timeout=15, message=f"the reply to {request_id} on {topic}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.mark.parametrize(
    "topic, allowed",
    [
        (f"{BASE}/reply/platform-7", True),
        (f"{BASE}/reply/a/b", True),
        (f"{BASE}/cmd/ping/reply", True),
        (f"{BASE}/cmd/status/reply", False),  # another command's reply topic: not this request's
        (f"{BASE}/cmd/ping", False),  # its own command topic: the reply would come back as a request
        ("edge/site-1/dev-2/cmd/set-config", False),  # another device's command
        ("edge/site-1/dev-2/reply/x", False),
        (f"{BASE}/reply/#", False),
        (f"{BASE}/reply/+", False),
        (f"{BASE}/reply/", False),
        ("$SYS/broker/clients", False),
        ("platform/replies/7", False),
        (f"{BASE}/reply/" + "x" * 600, False),
        (f"{BASE}/reply/a\x00b", False),
    ],
)
def test_only_the_devices_own_reply_area_is_a_response_topic(topic, allowed):
    assert (response_topic_problem(BASE, "ping", topic) is None) is allowed


def test_a_v3_request_or_one_without_response_topic_is_answered_on_the_reply_topic():
    assert reply_route(BASE, "ping", None).topic == f"{BASE}/cmd/ping/reply"
    properties = Properties(PacketTypes.PUBLISH)
    properties.CorrelationData = b"\x00\x01"
    route = reply_route(BASE, "ping", properties)
    assert (route.topic, route.correlation_data, route.refusal) == (f"{BASE}/cmd/ping/reply", b"\x00\x01", None)


@pytest.fixture
def agent(tmp_path, mosquitto):
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", base_config(tmp_path / "state", mosquitto.port)).start()
    watcher.wait_ready()
    requester = Requester(mosquitto.port)
    yield daemon, requester
    requester.close()
    assert daemon.stop() == 0
    watcher.close()


def test_the_reply_goes_to_the_response_topic_with_the_correlation_data(agent, mosquitto):
    daemon, requester = agent
    mine = f"{BASE}/reply/platform-7"
    request_id = requester.request("ping", {}, mine, b"\x00corr\xff")
    reply, correlation = requester.reply_to(request_id, mine)
    assert (reply["ok"], reply["result"], correlation) == (True, {"pong": True}, b"\x00corr\xff")
    status_id = requester.request("status", {}, f"{BASE}/reply/platform-7", None)  # no Correlation Data: none back
    status, correlation = requester.reply_to(status_id, mine)
    assert status["ok"] and correlation is None
    assert all(p.get("request_id") not in (request_id, status_id) for p, _ in requester.on(f"{BASE}/cmd/ping/reply"))

    v3 = Requester(mosquitto.port, protocol=paho.MQTTv311)  # a v3.1.1 client: no properties, the reply topic
    try:
        request_id = uuid.uuid4().hex
        v3.client.publish(f"{BASE}/cmd/ping", json.dumps({"request_id": request_id}), qos=1)
        reply, _ = v3.reply_to(request_id, f"{BASE}/cmd/ping/reply")
        assert reply["ok"]
    finally:
        v3.close()


ATTACKS = [
    "edge/site-1/dev-2/cmd/set-config",  # make this box command another device
    f"{BASE}/cmd/set-config",  # or itself, in a loop
    f"{BASE}/reply/#",
    "$SYS/broker/edge/x",
    "platform/replies/7",
]


def test_a_response_topic_outside_the_reply_area_is_refused_and_the_request_not_run(agent):
    """The attack: a sender points the reply (and the box's publish rights) at a topic it chooses."""
    daemon, requester = agent
    before = daemon.config_path.read_text()
    changed = {**yaml.safe_load(before), "telemetry": {"interval": 7}}
    for response_topic in ATTACKS:
        request_id = requester.request("set-config", {"config": changed}, response_topic, b"attack")
        reply, correlation = requester.reply_to(request_id, f"{BASE}/cmd/set-config/reply")
        assert reply["ok"] is False and "response topic" in reply["error"] and "refused" in reply["error"], reply
        assert correlation == b"attack"
    assert daemon.config_path.read_text() == before  # not run
    for response_topic in ATTACKS:
        assert [payload for payload, _ in requester.on(response_topic) if "ok" in payload] == [], response_topic
    assert daemon.running() and requester.reply_to(requester.request("ping", {}, None, None), f"{BASE}/cmd/ping/reply")
