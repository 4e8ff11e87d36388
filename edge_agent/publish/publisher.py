"""The publisher: drains the outbox to the broker at QoS 1, one network thread, no paho buffering.

At most `window` rows are handed to paho at once; a row becomes delivered only when its PUBACK arrives.
When a session ends, rows still in flight go back to pending and are re-sent on the next connection with the
same event_id (that bookkeeping is publish/inflight.py).

All paho calls happen on the publisher's own thread. Other threads reach it through
`publish_now` (a reply waits for a connection: replies.py) and `subscribe`, which queue work
and wake the thread; the outbox wakes it when rows become pending. Subscription callbacks run on that
thread, so they must hand work off quickly (see publish/commands.py).
"""

from __future__ import annotations

import logging
import random
import select
import threading
import time
from collections import deque
from collections.abc import Callable

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.backoff import FullJitterBackoff
from edge_agent.clock import Clock, SystemClock, iso_utc
from edge_agent.config.mqtt import MqttConfig
from edge_agent.connection_errors import describe_connection_error
from edge_agent.events import Status
from edge_agent.events.topics import Topics
from edge_agent.faults import PUBLISHER, reached
from edge_agent.publish.inflight import InflightRows
from edge_agent.publish.mqtt_client import (
    CONNECT_TIMEOUT_S,
    build_client,
    connect,
    is_v5,
    warn_insecure,
)
from edge_agent.publish.publisher_state import PublisherStats, SessionState
from edge_agent.publish.replies import HeldReplies
from edge_agent.publish.subscriptions import MessageCallback, Subscriptions
from edge_agent.publish.waker import Waker
from edge_agent.publish.wire import reply_properties, row_properties
from edge_agent.store import Outbox, OutboxRow

log = logging.getLogger(__name__)

NO_SUBSCRIBERS = 0x10  # MQTT v5 PUBACK reason: accepted, but no subscriber matched

RESERVED_SLOTS = 2  # paho in-flight slots kept for status and command replies
MAINTAIN_EVERY_S = 60.0
IDLE_WAIT_S = 0.5


class Publisher:
    def __init__(
        self,
        mqtt: MqttConfig,
        outbox: Outbox,
        topics: Topics,
        device_id: str,
        agent_version: str,
        clock: Clock | None = None,
        *,
        rng: random.Random | None = None,
        started_at: float | None = None,
    ):
        self._config = mqtt
        self._outbox = outbox
        self.topics = topics
        self._device_id = device_id
        self._agent_version = agent_version
        self._clock = clock or SystemClock()
        self.started_at = self._clock.wall() if started_at is None else started_at  # the agent's, for the status
        self._backoff = FullJitterBackoff(mqtt.reconnect.min_delay, mqtt.reconnect.max_delay, rng)
        self._state = SessionState(window_size=mqtt.max_inflight)
        self._subscriptions = Subscriptions()
        self._requests: deque[Callable[[], None]] = deque()
        self.replies = HeldReplies()  # public: a publisher that replaces this one adopts them (daemon/delivery.py)
        self._waker = Waker()
        self._stopping = threading.Event()
        self._stop_deadline = float("inf")
        self._thread: threading.Thread | None = None
        self.loops = 0  # network-loop turns: the watchdog's progress token (an idle loop still turns)
        self._client: paho.Client | None = None
        self._inflight = InflightRows(outbox, self._state, self._clock, self._backoff)
        self._just_connected = False
        self._maintain_due = 0.0
        self._awaited_mid: int | None = None
        self._awaited_acked = False
        self._disconnect_reason: str | None = None
        self._established = self._connack_refused = False

    # -- public API --------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("publisher already started")
        self._outbox.add_listener(self._on_rows_pending)
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish in-flight rows, publish status offline (retained), disconnect; rows left stay pending."""
        if self._thread is None:
            return
        self._stop_deadline = self._clock.monotonic() + timeout * 0.8
        self._stopping.set()
        self._waker.wake()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("publisher did not stop within %.1fs", timeout)
        self._outbox.remove_listener(self._on_rows_pending)
        self._thread = None

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    connected = property(lambda self: self._state.connected, doc="True between CONNACK and the connection's end.")
    last_error = property(
        lambda self: self._state.last_error, doc="Why the last connect or session failed; None once connected."
    )

    def stats(self) -> PublisherStats:
        return self._state.snapshot(inflight=len(self._inflight.window))

    def subscribe(self, topic_filter: str, callback: MessageCallback) -> None:
        """Receive messages on `topic_filter` (QoS 1); renewed on every connect."""
        self._subscriptions.add(topic_filter, callback)
        if self._state.connected:
            self._call_soon(lambda: self._client.subscribe(topic_filter, qos=1))

    def publish_now(self, topic: str, payload: str | bytes, qos=1, retain=False, correlation_data=None) -> bool:
        """Send an ephemeral message (a command reply, with the request's v5 Correlation Data) outside the outbox: now
        when connected (True), else held for the next connection (False). Never dropped for want of a connection."""
        self.replies.hold(
            topic, payload, qos, retain, reply_properties(correlation_data) if is_v5(self._config) else None
        )
        self._waker.wake()
        return self._state.connected

    # -- thread main -------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                established = self._session()
            except Exception as exc:  # a bug here must not end delivery for good
                log.exception("publisher session failed")
                self._fail(f"internal error: {type(exc).__name__}: {exc}")
                established = False
            self._maintain_if_due()
            if self._stopping.is_set():
                break
            if established:
                self._backoff.reset()
            delay = self._backoff.next_delay()
            self._state.next_retry_s = delay
            self._pause(delay)
        self._state.next_retry_s = None

    def _pause(self, delay: float) -> None:
        """Wait out a back-off in short slices, each one a loop turn, so a long back-off is not a hang."""
        until = time.monotonic() + delay
        while not self._stopping.wait(max(0.0, min(IDLE_WAIT_S, until - time.monotonic()))):
            self.loops += 1
            if time.monotonic() >= until:
                return

    def _session(self) -> bool:
        """One connection from connect to loss (or stop); True if the broker accepted it."""
        client = self._ensure_client()
        if client is None:
            return False
        client.drop_out_messages()
        self._state.connect_attempts += 1
        try:
            connect(client, self._config)
        except Exception as exc:
            config = self._config
            self._fail(
                describe_connection_error(exc, config.host, config.port, during_tls_handshake=config.tls.enabled)
            )
            return False
        self._established = self._connack_refused = False
        connack_deadline = self._clock.monotonic() + CONNECT_TIMEOUT_S
        try:
            while True:
                if self._stopping.is_set():
                    if self._state.connected:
                        self._close_gracefully()
                    return self._established
                if self._state.connected:
                    self._pump()
                elif not self._established and self._clock.monotonic() > connack_deadline:
                    self._fail(f"no CONNACK from {self._config.host}:{self._config.port} within {CONNECT_TIMEOUT_S:g}s")
                    return False
                rc = self._io(0.0 if self._requests else IDLE_WAIT_S)
                if rc != paho.MQTT_ERR_SUCCESS:
                    if not self._stopping.is_set():
                        self._fail_session(rc)
                    return self._established
        finally:
            self._end_session()

    def _ensure_client(self) -> paho.Client | None:
        if self._client is not None:
            return self._client
        try:
            client = build_client(self._config, self._device_id, self.topics.status, self._status_json("offline"))
            client.max_inflight_messages_set(self._config.max_inflight + RESERVED_SLOTS)
        except Exception as exc:  # unreadable key or CA file: say so, retry with backoff
            self._fail(f"cannot set up the MQTT client: {exc}")
            return None
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client
        return client

    def _io(self, timeout: float) -> int:
        self.loops += 1
        reached(PUBLISHER)  # a test's hang or death of this thread (edge_agent/faults.py)
        client = self._client
        sock = client.socket()
        if sock is None:
            return paho.MQTT_ERR_NO_CONN
        pending = getattr(sock, "pending", None)
        buffered = bool(pending and pending())
        try:
            readable, writable, _ = select.select(
                [sock, self._waker.reader], [sock] if client.want_write() else [], [], 0.0 if buffered else timeout
            )
        except (OSError, ValueError):
            return paho.MQTT_ERR_CONN_LOST
        if self._waker.reader in readable:
            self._waker.drain()
        if sock in readable or buffered:
            rc = client.loop_read()
            if rc != paho.MQTT_ERR_SUCCESS:
                return rc
        if writable or client.want_write():
            rc = client.loop_write()
            if rc != paho.MQTT_ERR_SUCCESS:
                return rc
        return client.loop_misc()

    def _pump(self) -> None:
        if self._just_connected:
            self._begin_session()
        while self._requests:
            self._requests.popleft()()
        self.replies.send(self._client.publish)
        if self._inflight.has_refusals:
            self._inflight.settle()
        self._inflight.feed(self._send_row)
        self._maintain_if_due()

    def _begin_session(self) -> None:
        self._just_connected = False
        self._outbox.requeue_inflight()
        self._inflight.rows_waiting = True
        # Subscribe before announcing "online": the broker handles one connection's
        # packets in order, so whoever sees "online" can rely on the subscriptions.
        for topic_filter in self._subscriptions.filters():
            self._client.subscribe(topic_filter, qos=1)
        self._client.publish(self.topics.status, self._status_json("online"), qos=1, retain=True)

    def _send_row(self, row: OutboxRow) -> int:
        properties = row_properties(row, self._clock.wall()) if is_v5(self._config) else None
        return self._client.publish(row.topic, row.payload, qos=1, retain=False, properties=properties).mid

    def _close_gracefully(self) -> None:
        client = self._client
        self.replies.send(client.publish)  # written out by the loops below, before the offline status
        while self._inflight.window and self._clock.monotonic() < self._stop_deadline:
            if self._io(0.05) != paho.MQTT_ERR_SUCCESS:
                return
            self._inflight.settle()
        info = client.publish(self.topics.status, self._status_json("offline"), qos=1, retain=True)
        self._awaited_mid, self._awaited_acked = info.mid, False
        while not self._awaited_acked and self._clock.monotonic() < self._stop_deadline:
            if self._io(0.05) != paho.MQTT_ERR_SUCCESS:
                return
        self._inflight.settle()
        client.disconnect()  # normal DISCONNECT: the broker discards the Will

    def _end_session(self) -> None:
        self._state.connected = False
        self._just_connected = False
        self._inflight.settle()
        self._inflight.forget_session()  # still in flight in the outbox: requeued below
        if self._client is not None:
            self._client.drop_out_messages()
            sock = self._client.socket()
            if sock is not None:
                sock.close()
        self._outbox.requeue_inflight()
        if self._established:
            self._state.disconnects += 1

    # -- paho callbacks (run inside loop_read on the publisher thread) ------------

    def _on_connect(self, client, userdata, flags, reason_code: ReasonCode, properties) -> None:
        if reason_code.is_failure:
            self._connack_refused = True
            self._fail(
                f"broker {self._config.host}:{self._config.port} refused the connection: {reason_code.getName()}"
            )
            return
        # The broker's Receive Maximum caps what may be unacknowledged at once;
        # keep a couple of those slots for status and command replies.
        receive_maximum = getattr(properties, "ReceiveMaximum", None) if properties is not None else None
        window = self._config.max_inflight
        if receive_maximum:
            window = min(window, receive_maximum - RESERVED_SLOTS)
        self._state.window_size = max(1, window)
        self._state.mark_connected(self._clock.wall())
        if self._config.tls.enabled and self._config.tls.insecure:
            warn_insecure()
        self._established = True
        self._just_connected = True
        tls = ", TLS" if self._config.tls.enabled else ""
        log.info(
            "connected to %s:%d (MQTT %s%s, window %d)",
            self._config.host,
            self._config.port,
            self._config.protocol,
            tls,
            self._state.window_size,
        )

    def _on_disconnect(self, client, userdata, flags, reason_code: ReasonCode, properties) -> None:
        if flags.is_disconnect_packet_from_server and reason_code is not None and reason_code.is_failure:
            self._disconnect_reason = f"broker sent DISCONNECT: {reason_code.getName()}"
        self._state.connected = False

    def _on_publish(self, client, userdata, mid: int, reason_code: ReasonCode, properties) -> None:
        refused = reason_code is not None and reason_code.is_failure
        unrouted = self._config.retry_unrouted and reason_code is not None and reason_code.value == NO_SUBSCRIBERS
        if not self._inflight.answer(mid, refused, unrouted):
            if mid == self._awaited_mid:
                self._awaited_acked = True
            return
        if refused:
            self._fail(f"broker refused a message on {self._config.host}:{self._config.port}: {reason_code.getName()}")

    def _on_message(self, client, userdata, message: paho.MQTTMessage) -> None:
        self._subscriptions.dispatch(message.topic, bytes(message.payload), message.properties)

    # -- helpers ---------------------------------------------------------------------

    def _fail_session(self, rc: int) -> None:
        where = f"{self._config.host}:{self._config.port}"
        if self._established:
            self._fail(f"connection to {where} lost: {self._loss_reason(rc)}")
        elif not self._connack_refused:  # a refusing CONNACK was already reported by _on_connect
            hint = "client certificate rejected?" if self._config.tls.enabled else "credentials or ACL?"
            self._fail(f"{where} closed the connection before CONNACK ({self._loss_reason(rc)}; {hint})")

    def _loss_reason(self, rc: int) -> str:
        reason, self._disconnect_reason = self._disconnect_reason, None
        return reason or paho.error_string(rc).rstrip(".")

    def _status_json(self, state: str) -> str:
        at = iso_utc(self._clock.wall()) if state == "online" else None  # the Will is sent later, by the broker
        started = iso_utc(self.started_at)
        status = Status(
            device_id=self._device_id, state=state, agent_version=self._agent_version, started_at=started, at=at
        )
        return status.model_dump_json(exclude_none=True)

    def _fail(self, message: str) -> None:
        if message != self._state.last_error:
            log.warning("mqtt: %s", message)
        else:
            log.debug("mqtt: %s", message)
        self._state.record_error(message, self._clock.wall())

    def _maintain_if_due(self) -> None:
        now = self._clock.monotonic()
        if now < self._maintain_due:
            return
        self._maintain_due = now + MAINTAIN_EVERY_S
        self._inflight.rows_waiting = True
        try:
            self._outbox.maintain()
        except Exception:
            log.exception("outbox maintenance failed")

    def _on_rows_pending(self) -> None:
        self._inflight.rows_waiting = True
        self._waker.wake()

    def _call_soon(self, action: Callable[[], None]) -> None:
        self._requests.append(action)  # deque.append is thread-safe
        self._waker.wake()
