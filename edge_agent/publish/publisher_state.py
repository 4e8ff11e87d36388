"""The publisher's counters and connection state, and the snapshot `Publisher.stats()` returns."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class PublisherStats:
    connected: bool
    connect_attempts: int
    connects: int
    disconnects: int
    published: int
    delivered: int
    refused: int
    unrouted: int  # alarms and events the broker had no subscriber for, sent again (mqtt.retry_unrouted)
    first_unrouted_at: float | None  # since then every alarm/event found no subscriber; None once one found one
    inflight: int
    peak_inflight: int
    window_size: int
    errors: int
    last_error: str | None
    last_error_at: float | None
    last_connected_at: float | None
    next_retry_s: float | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class SessionState:
    """Written by the publisher thread only; read by anyone (plain attribute reads are atomic)."""

    def __init__(self, window_size: int):
        self._lock = threading.Lock()
        self.connected = False
        self.connect_attempts = 0
        self.connects = 0
        self.disconnects = 0
        self.published = 0
        self.delivered = 0
        self.refused = 0
        self.unrouted = 0
        self.first_unrouted_at: float | None = None
        self.window_size = window_size
        self.peak_inflight = 0
        self.errors = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.last_connected_at: float | None = None
        self.next_retry_s: float | None = None

    def mark_connected(self, wall: float) -> None:
        with self._lock:
            self.connected = True
            self.connects += 1
            self.last_connected_at = wall
            self.last_error = None
            self.next_retry_s = None

    def record_error(self, message: str, wall: float) -> None:
        with self._lock:
            self.errors += 1
            self.last_error = message
            self.last_error_at = wall

    def snapshot(self, inflight: int) -> PublisherStats:
        with self._lock:
            return PublisherStats(
                connected=self.connected,
                connect_attempts=self.connect_attempts,
                connects=self.connects,
                disconnects=self.disconnects,
                published=self.published,
                delivered=self.delivered,
                refused=self.refused,
                unrouted=self.unrouted,
                first_unrouted_at=self.first_unrouted_at,
                inflight=inflight,
                peak_inflight=self.peak_inflight,
                window_size=self.window_size,
                errors=self.errors,
                last_error=self.last_error,
                last_error_at=self.last_error_at,
                last_connected_at=self.last_connected_at,
                next_retry_s=self.next_retry_s,
            )
