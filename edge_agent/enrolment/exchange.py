"""One request/answer over MQTT: subscribe to the answer, publish the request (again every retry interval)."""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.enrolment.enrol_wire import parse_message

log = logging.getLogger(__name__)


class ExchangeError(RuntimeError):
    """The broker refused us or could not be reached; the message says which."""


def mqtt_client(client_id: str, context: ssl.SSLContext, username: str | None = None, password: str | None = None):
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.tls_set_context(context)
    if username is not None:
        client.username_pw_set(username, password)
    return client


def exchange(
    client,
    host: str,
    port: int,
    request: tuple[str, str],
    answer_topic: str,
    *,
    retry: float,
    deadline: float,
    accept=lambda answer: True,
    stopping: threading.Event | None = None,
) -> dict:
    """The first well-formed answer on `answer_topic` that `accept`s; raises ExchangeError (refused, timeout, stop)."""
    answers: queue.Queue = queue.Queue()
    subscribed = threading.Event()

    def on_connect(c, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            answers.put(ExchangeError(f"the broker at {host}:{port} refused the connection: {reason_code}"))
        else:
            c.subscribe(answer_topic, qos=1)

    def on_message(c, userdata, message):
        try:
            answers.put(parse_message(bytes(message.payload), ("serial", "status")))
        except ValueError as exc:
            log.warning("enrolment: ignored a malformed answer on %s: %s", message.topic, exc)

    client.on_connect = on_connect
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_message = on_message
    try:
        client.connect(host, port, keepalive=30)
    except (OSError, ssl.SSLError) as exc:
        raise ExchangeError(f"cannot connect to {host}:{port}: {exc}") from None
    client.loop_start()
    try:
        return _await(client, answers, subscribed, request, (retry, deadline), accept, stopping)
    finally:
        client.disconnect()
        client.loop_stop()


def _await(client, answers, subscribed, request, timing, accept, stopping) -> dict:
    retry, deadline = timing
    sent_at = None
    while time.monotonic() < deadline:
        if stopping is not None and stopping.is_set():
            raise ExchangeError("stopped")
        if subscribed.is_set() and (sent_at is None or time.monotonic() - sent_at >= retry):
            client.publish(request[0], request[1], qos=1)
            sent_at = time.monotonic()
        try:
            answer = answers.get(timeout=0.1)
        except queue.Empty:
            continue
        if isinstance(answer, Exception):
            raise answer
        if accept(answer):
            return answer
    raise ExchangeError("no answer in time")
