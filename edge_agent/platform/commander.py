"""Sending one command to one device and waiting for its reply: how the platform acts (`platform dispose`).

MQTT v5, a throwaway client: subscribe to `…/cmd/<name>/reply`, publish the request (QoS 1) with a fresh
request id, wait for the reply carrying that id. The device answers every request exactly once
(publish/commands.py); a device that is offline answers when it is back only if the request waited in
its session, so this waits a bounded time and says so when nothing came.
"""

from __future__ import annotations

import json
import threading
import uuid

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.config.base import read_secret
from edge_agent.config.mqtt import MqttConfig
from edge_agent.publish.mqtt_client import tls_context


class NoReply(TimeoutError):
    """The device did not answer in time (offline, or the broker refused the request)."""


def send_command(mqtt: MqttConfig, site: str, device_id: str, name: str, args: dict, timeout: float = 15.0) -> dict:
    """The device's reply (a dict with `ok`, `result`, `error`); raises NoReply."""
    base = f"{mqtt.topic_prefix}/{site}/{device_id}/cmd/{name}"
    request_id = str(uuid.uuid4())
    replied: dict = {}
    subscribed, answered = threading.Event(), threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"platform-cmd-{request_id[:8]}", protocol=paho.MQTTv5)
    password = read_secret(mqtt.password_file, mqtt.password)
    if mqtt.username is not None:
        client.username_pw_set(mqtt.username, password.get_secret_value() if password else None)
    if mqtt.tls.enabled:
        client.tls_set_context(tls_context(mqtt.tls))

    def on_message(client, userdata, message) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(body, dict) and body.get("request_id") == request_id:
            replied.update(body)
            answered.set()

    client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{base}/reply", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = on_message
    client.connect(mqtt.host, mqtt.port, mqtt.keepalive)
    client.loop_start()
    try:
        if not subscribed.wait(timeout):
            raise NoReply(f"could not subscribe to {base}/reply on {mqtt.host}:{mqtt.port}")
        client.publish(base, json.dumps({"request_id": request_id, "args": args}), qos=1)
        if not answered.wait(timeout):
            raise NoReply(f"{device_id} did not answer {name} within {timeout:g} s (offline?)")
    finally:
        client.disconnect()
        client.loop_stop()
    return replied
