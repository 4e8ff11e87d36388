"""`platform evidence`: ask a device for an alert's evidence and keep it only if its hash is the one published.

The expected hash is the platform's own copy of what the device published before anyone asked: the alert's
`details.evidence.sha256` (a snapshot) or the clip's `evidence_kept` record (store.py `evidence_sha256`). Parts
arrive on `{base}/evidence/{event_id}`; each is checked against its own sha256 and the whole-file hash, kept by
index (a part seen twice counts once), and the file is written only when every part is in and the whole matches.
Parts lost to a broker restart (acknowledged by the broker, never forwarded) are asked for again by sending the
request again once nothing has arrived for `quiet_s`; each request is recorded on the device (`evidence_sent`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.config.base import read_secret
from edge_agent.config.mqtt import MqttConfig
from edge_agent.events.evidence_messages import EvidencePart
from edge_agent.publish.mqtt_client import tls_context


class EvidenceFetchError(RuntimeError):
    """The evidence could not be fetched, or did not match: the message says which."""


@dataclass
class FetchRequest:
    base: str  # {prefix}/{site}/{device_id}
    event_id: str
    kind: str
    expected_sha256: str
    requested_by: str | None = None
    timeout_s: float = 60.0
    quiet_s: float = 3.0
    max_requests: int = 5


@dataclass
class _Progress:
    parts: dict[int, bytes] = field(default_factory=dict)
    count: int | None = None
    refused: str | None = None
    changed: float = 0.0
    requests: int = 0
    ignored: int = 0  # messages that were not a reply or a part (damaged, or someone else's)


def fetch_evidence(mqtt: MqttConfig, request: FetchRequest) -> tuple[bytes, int]:
    """The evidence's bytes, checked against the expected hash, and how many requests it took."""
    progress, lock, done = _Progress(changed=time.monotonic()), threading.Lock(), threading.Event()
    client = _client(mqtt, request, progress, lock, done)
    client.loop_start()
    deadline = time.monotonic() + request.timeout_s
    try:
        while not done.wait(0.2):
            with lock:
                stalled = time.monotonic() - progress.changed >= request.quiet_s
                if stalled and progress.requests < request.max_requests and client.is_connected():
                    progress.changed = time.monotonic()
                    _ask(client, request, progress)
            if time.monotonic() >= deadline:
                raise EvidenceFetchError(f"evidence of {request.event_id} incomplete after {request.timeout_s:g} s")
        if progress.refused:
            raise EvidenceFetchError(f"the device refused: {progress.refused}")
        data = b"".join(progress.parts[index] for index in range(progress.count or 0))
        if hashlib.sha256(data).hexdigest() != request.expected_sha256:
            raise EvidenceFetchError("the evidence does not match the hash the device published for the alert")
        return data, progress.requests
    finally:
        client.disconnect()
        client.loop_stop()


def _client(mqtt: MqttConfig, request: FetchRequest, progress: _Progress, lock, done) -> paho.Client:
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"evidence-{uuid.uuid4().hex[:12]}", protocol=paho.MQTTv5
    )
    client.reconnect_delay_set(0.1, 1.0)
    password = read_secret(mqtt.password_file, mqtt.password)
    if mqtt.username is not None:
        client.username_pw_set(mqtt.username, password.get_secret_value() if password else None)
    if mqtt.tls.enabled:
        client.tls_set_context(tls_context(mqtt.tls))
    parts_topic = f"{request.base}/evidence/{request.event_id}"
    reply_topic = f"{request.base}/cmd/get-evidence/reply"

    def on_connect(client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            client.subscribe([(parts_topic, 1), (reply_topic, 1)])

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        with lock:
            if progress.requests == 0:
                _ask(client, request, progress)

    def on_message(client, userdata, message):
        with lock:
            try:
                if message.topic == reply_topic:
                    _on_reply(json.loads(message.payload), progress, done)
                else:
                    _on_part(message.payload, request, progress, done)
            except (ValueError, TypeError, AttributeError):  # not ours or damaged (pydantic's errors are ValueErrors)
                progress.ignored += 1

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect_async(mqtt.host, mqtt.port, mqtt.keepalive)
    return client


def _ask(client: paho.Client, request: FetchRequest, progress: _Progress) -> None:
    progress.requests += 1
    args = {"event_id": request.event_id, "kind": request.kind}
    if request.requested_by:
        args["requested_by"] = request.requested_by
    body = {"request_id": f"evidence-{uuid.uuid4().hex[:12]}", "args": args}
    client.publish(f"{request.base}/cmd/get-evidence", json.dumps(body), qos=1)


def _on_reply(reply: dict, progress: _Progress, done: threading.Event) -> None:
    if not reply.get("ok") and progress.count is None:
        progress.refused = str(reply.get("error"))
        done.set()


def _on_part(payload: bytes, request: FetchRequest, progress: _Progress, done: threading.Event) -> None:
    part = EvidencePart.model_validate_json(payload)
    data = base64.b64decode(part.data, validate=True)
    if part.file_sha256 != request.expected_sha256 or hashlib.sha256(data).hexdigest() != part.sha256:
        return  # not the file the alert described, or damaged: never kept
    progress.count = part.count
    progress.parts[part.index] = data
    progress.changed = time.monotonic()
    if len(progress.parts) == part.count:
        done.set()
