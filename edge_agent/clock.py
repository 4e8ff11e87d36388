"""Clocks passed into every stage, so dwell times, schedules and back-off are testable.

`wall()` is for timestamps that leave the device (seconds since the epoch, UTC);
`monotonic()` is for durations. Never mix them.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to; both readings advance together."""

    def __init__(self, wall: float = 1_767_225_600.0, monotonic: float = 1000.0):
        self._wall = wall
        self._monotonic = monotonic
        self._lock = threading.Lock()

    def wall(self) -> float:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not run backwards")
        with self._lock:
            self._wall += seconds
            self._monotonic += seconds


def iso_utc(epoch_seconds: float) -> str:
    """RFC 3339 UTC timestamp with milliseconds, as used in every published payload."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(timestamp: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp as `iso_utc` writes it (a trailing Z for UTC)."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
