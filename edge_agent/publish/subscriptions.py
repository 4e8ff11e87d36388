"""Topic filters the publisher keeps subscribed across reconnects, and dispatch of incoming messages."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as paho

log = logging.getLogger(__name__)

MessageCallback = Callable[[str, bytes, object], None]


class Subscriptions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[str, MessageCallback]] = []

    def add(self, topic_filter: str, callback: MessageCallback) -> None:
        with self._lock:
            self._entries.append((topic_filter, callback))

    def filters(self) -> list[str]:
        with self._lock:
            return list(dict.fromkeys(topic_filter for topic_filter, _ in self._entries))

    def dispatch(self, topic: str, payload: bytes, properties) -> None:
        """Call every matching callback; one that raises is logged and the rest still run."""
        with self._lock:
            matching = [
                callback for topic_filter, callback in self._entries if paho.topic_matches_sub(topic_filter, topic)
            ]
        for callback in matching:
            try:
                callback(topic, payload, properties)
            except Exception:
                log.exception("subscription callback for %s failed", topic)
