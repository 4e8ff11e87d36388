"""Clocks passed into every stage, so dwell times, schedules and back-off are testable.

`wall()` is for timestamps that leave the device (seconds since the epoch, UTC);
`monotonic()` is for durations. Never mix them.
"""

from __future__ import annotations

import re
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


# Date, time and optional zone as devices and operators write them (RFC 3339, plus the offset
# without a colon and minutes-only times that Python 3.11's fromisoformat also took).
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2})(:\d{2})?(?:[.,](\d+))?([Zz]|[+-]\d{2}:?\d{2})?")


def wire_time(key: str, value):
    """A figure for the wire: a `*_at` epoch number becomes RFC 3339 UTC (every time the agent publishes is one)."""
    if key.endswith("_at") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return iso_utc(value)
    return value


def parse_rfc3339(text: str) -> datetime:
    """The moment an RFC 3339 text names; naive when it has no zone, so callers can reject that.

    Parsed here rather than by `datetime.fromisoformat` alone because Python 3.10's takes
    neither `Z` nor fractions other than 3 or 6 digits, and 3.10 is what JetPack 6 ships.
    Raises ValueError for anything else, including impossible dates.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    date, hours_minutes, seconds, fraction, zone = match.groups()
    micros = (fraction or "")[:6].ljust(6, "0")
    if zone in ("Z", "z"):
        zone = "+00:00"
    elif zone and ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    return datetime.fromisoformat(f"{date}T{hours_minutes}{seconds or ':00'}.{micros}{zone or ''}")


def parse_utc(timestamp: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp with a zone (as `iso_utc` writes it)."""
    return parse_rfc3339(timestamp).timestamp()
