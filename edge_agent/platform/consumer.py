"""The reference platform consumer: the fleet's alerts, action records, counts and status into a PlatformStore.

Alerts, action records and counts arrive on MQTT v5 shared subscriptions (`$share/{group}/...`): the broker
hands each message to one instance of the group, so instances split the load and any of them
may die. Status comes on a plain subscription: every instance sees every device's status,
including the retained one on subscribe (whether a broker sends retained messages to a
*shared* subscription varies, and status is a handful of messages per device per day).

A message is acknowledged only after it is stored: it is checked on paho's network thread
(message_checks.py), its row is written in a batch by the writer thread (store_writer.py, one transaction
per batch), and its PUBACK is sent when that transaction has committed (paho's manual acknowledgement).
The session is persistent (`clean_start=False` and a session expiry), so what is
published while an instance or the broker restarts waits in the session instead of being
dropped for want of a subscriber; the price is that a QoS 1 message can come twice, which the
store absorbs on `event_id`. A message that cannot be stored (not JSON, an action record that
fails its check in message_checks.py) is logged and counted in `rejected`, and acknowledged all the same:
sending it again would not make it better.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.config.base import read_secret
from edge_agent.config.mqtt import MqttConfig
from edge_agent.platform.message_checks import (
    RejectedMessage,
    action_row,
    alert_row,
    check_payload,
    check_topic_ids,
    counts_row,
    disposition,
    evidence_kept,
    status_row,
)
from edge_agent.platform.response import ResponseStore
from edge_agent.platform.store import PlatformStore, parse_json
from edge_agent.platform.store_writer import Pending, StoreWriter
from edge_agent.platform.stored_rows import StoredRow
from edge_agent.publish.mqtt_client import tls_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerOptions:
    group: str = "platform"
    client_id: str = "platform-consumer-1"
    session_expiry_s: int = 3600
    # A few instances, not a fleet: come back fast, so the window in which a restarted broker
    # has no subscriber for the group (and drops what devices send) stays short; see docs/platform.md.
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 1.0
    # Messages the broker may have in flight to this instance unacknowledged (MQTT v5 Receive Maximum): what
    # waits for the writer, and so the largest batch one transaction stores.
    receive_maximum: int = 500


def subscription_filters(prefix: str, group: str) -> list[str]:
    """Alerts, action records and counts shared within the group; status on a plain subscription (module doc)."""
    return [
        f"$share/{group}/{prefix}/+/+/alerts/#",
        f"$share/{group}/{prefix}/+/+/actions/+",
        f"$share/{group}/{prefix}/+/+/counts",
        f"$share/{group}/{prefix}/+/+/dispositions",
        f"$share/{group}/{prefix}/+/+/evidence_kept",
        f"{prefix}/+/+/status",
    ]


class PlatformConsumer:
    def __init__(
        self,
        mqtt: MqttConfig,
        store: PlatformStore,
        options: ConsumerOptions | None = None,
        response: ResponseStore | None = None,
    ):
        """`response`: where dispositions go (platform/response.py); without it they are rejected."""
        self._mqtt = mqtt
        self._store = store
        self._response = response
        self.options = options or ConsumerOptions()
        self.filters = subscription_filters(mqtt.topic_prefix, self.options.group)
        self.received: Counter[str] = Counter()  # message kind -> messages stored by this instance
        self.alert_ids: Counter[str] = Counter()  # event_id -> deliveries stored by this instance
        self.action_ids: Counter[str] = Counter()  # event_id -> deliveries stored by this instance
        self.rejected = 0
        self.rejected_by_kind: Counter[str] = Counter()  # message kind (or "unknown") -> messages not stored
        self.subscribed = threading.Event()
        # called on the writer thread after each commit with the rows it stored (benchmarks time it)
        self.commit_listeners: list[Callable[[list[StoredRow]], None]] = []
        self._lock = threading.Lock()
        self._session = 0  # counts connections: an acknowledgement is only sent on the one its message came on
        depth = 2 * self.options.receive_maximum
        self._writer = StoreWriter(store, self._stored, self._refused, self.options.receive_maximum, depth)
        self._client = self._build_client()

    def _build_client(self) -> paho.Client:
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=self.options.client_id, protocol=paho.MQTTv5, manual_ack=True
        )
        client.reconnect_delay_set(self.options.reconnect_min_s, self.options.reconnect_max_s)
        password = read_secret(self._mqtt.password_file, self._mqtt.password)
        if self._mqtt.username is not None:
            client.username_pw_set(self._mqtt.username, password.get_secret_value() if password else None)
        if self._mqtt.tls.enabled:
            client.tls_set_context(tls_context(self._mqtt.tls))
            client.tls_insecure_set(self._mqtt.tls.insecure)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def start(self) -> PlatformConsumer:
        self._writer.start()
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.options.session_expiry_s
        properties.ReceiveMaximum = self.options.receive_maximum
        self._client.connect_async(
            self._mqtt.host, self._mqtt.port, self._mqtt.keepalive, clean_start=False, properties=properties
        )
        self._client.loop_start()
        return self

    def stop(self) -> None:
        """Store and acknowledge what was received, then disconnect."""
        self._writer.stop()
        self._client.disconnect()
        self._client.loop_stop()

    def kill(self) -> None:
        """Drop the connection without DISCONNECT, as a crashed instance would (tests)."""
        self._client.loop_stop()
        sock = self._client.socket()
        if sock is not None:
            sock.close()

    # -- paho callbacks (paho's network thread) ---------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("platform consumer: broker refused the connection: %s", reason_code.getName())
            return
        with self._lock:
            self._session += 1
        # Resubscribe even on a resumed session: cheap, and right if the broker lost the session.
        client.subscribe([(topic_filter, 1) for topic_filter in self.filters])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [code.getName() for code in reason_codes if code.is_failure]
        if refused:
            log.warning("platform consumer: subscriptions refused: %s", ", ".join(refused))
            return
        self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.subscribed.clear()

    def _on_message(self, client, userdata, message: paho.MQTTMessage) -> None:
        try:
            row = self.check(message.topic, bytes(message.payload))
        except RejectedMessage as exc:
            self._reject(message.topic, str(exc))
            client.ack(message.mid, message.qos)  # the same bytes sent again would fail again
            return
        except Exception:  # one bad message must not stop consumption; it is counted
            log.exception("platform consumer: cannot check a message on %s", message.topic)
            self._count_rejected(message.topic)
            client.ack(message.mid, message.qos)
            return
        if row is None:  # stored already (check's doc)
            with self._lock:
                self.received[_kind(message.topic.split("/")) or "unknown"] += 1
            client.ack(message.mid, message.qos)
            return
        self._writer.put(Pending(row, message.mid, message.qos, self._session))

    def check(self, topic: str, payload: bytes) -> StoredRow | None:
        """The row to store for one message, by its topic: {prefix}/{site}/{device}/(alerts/{type} |
        actions/{name} | counts | status); None for a disposition or an evidence_kept record, which it stores
        itself at once (their tables are not the batches'; a few per alert at most). Raises RejectedMessage
        for one it will not store."""
        levels = topic.split("/")
        kind = _kind(levels)
        if kind is None:
            raise RejectedMessage("not a topic this consumer stores")
        check_payload(payload)
        body = parse_json(payload)
        if body is None:
            raise RejectedMessage("the payload is not a JSON object")
        now = time.time()
        text = payload.decode("utf-8")
        if kind in ("alert", "action"):
            check_topic_ids(site=levels[-4], device_id=levels[-3])
            builder = alert_row if kind == "alert" else action_row
            return builder(body, levels, text, now)
        check_topic_ids(site=levels[-3], device_id=levels[-2])
        if kind == "counts":
            return counts_row(body, levels, text, now)
        if kind == "disposition":
            if self._response is None:
                raise RejectedMessage("this consumer stores no dispositions (no response store)")
            self._response.add(disposition(body, site=levels[-3], device_id=levels[-2]), text, now)
            return None
        if kind == "evidence_kept":
            self._store.add_evidence_kept(evidence_kept(body, site=levels[-3], device_id=levels[-2]), text, now)
            return None
        return status_row(body, levels, now)

    # -- the writer's reports (its thread) -------------------------------------------

    def _stored(self, batch: list[Pending], new: list[bool]) -> None:
        rows = [pending.row for pending in batch]
        for listener in self.commit_listeners:
            listener(rows)
        with self._lock:
            session = self._session
            for row in rows:
                self.received[row.kind] += 1
                if row.kind == "alert":
                    self.alert_ids[row.key] += 1
                elif row.kind == "action":
                    self.action_ids[row.key] += 1
        for pending in batch:
            if pending.session == session:  # else the broker re-sends it on the new connection
                self._client.ack(pending.mid, pending.qos)

    def _refused(self, pending: Pending, error: BaseException) -> None:
        self._reject(f"({pending.row.kind} {pending.row.key})", f"the database refused it: {error}", pending.row.kind)
        with self._lock:
            session = self._session
        if pending.session == session:
            self._client.ack(pending.mid, pending.qos)

    def _reject(self, topic: str, reason: str, kind: str | None = None) -> None:
        count = self._count_rejected(topic, kind)
        if count == 1 or count % 100 == 0:  # the first says what is wrong; a flood of them is not logged in full
            log.warning("platform consumer: message on %s not stored (%d so far): %s", topic, count, reason)

    def _count_rejected(self, topic: str, kind: str | None = None) -> int:
        with self._lock:
            self.rejected += 1
            self.rejected_by_kind[kind or _kind(topic.split("/")) or "unknown"] += 1
            return self.rejected


def _kind(levels: list[str]) -> str | None:
    if len(levels) >= 5 and levels[-2] == "alerts":
        return "alert"
    if len(levels) >= 5 and levels[-2] == "actions":
        return "action"
    if len(levels) >= 4 and levels[-1] in ("counts", "status", "evidence_kept"):
        return levels[-1]
    if len(levels) >= 4 and levels[-1] == "dispositions":
        return "disposition"
    return None
