"""The one interface every access adapter implements, and what they share.

An adapter turns a controller's feed into normalized `DoorEvent`s handed to
`on_event`. Bad input is refused with a reason (`Rejected`), counted per
reason, logged once per burst, and never stops the adapter; an exception in
`on_event` is likewise logged and counted, not propagated into the feed.

An event is acknowledged only once its alerts are stored: `on_event` raises
`StoreUnavailable` when they could not be committed (outbox locked, disk full,
I/O error), and `emit` tells the adapter so (`Outcome.retry`) instead of
swallowing it: HTTP push answers 503, line stream and OSDP keep the event in a
`StoreRetryQueue` and commit it later.
"""

from __future__ import annotations

import abc
import enum
import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from edge_agent.clock import Clock
from edge_agent.credentials import CredentialTokenizer
from edge_agent.events import DoorEvent

log = logging.getLogger(__name__)

OnEvent = Callable[[DoorEvent], None]

LOG_BURST_SECONDS = 60.0


class StoreUnavailable(Exception):
    """The alerts of an event could not be committed; the event is not stored and may be handed over again."""


class Outcome(enum.Enum):
    stored = "stored"  # the consumer took the event and committed whatever alerts it raised
    retry = "retry"  # the store failed: hand the same event over again later
    failed = "failed"  # the consumer itself failed (a bug): handing it over again would fail again


_STORE_ERRORS = (StoreUnavailable, sqlite3.OperationalError, OSError)


def event_identity(event: DoorEvent) -> tuple:
    """What makes a resent event the same event: everything but our arrival time (`edge_time`)."""
    raw = json.dumps(event.raw, sort_keys=True, default=str)
    return (
        event.adapter,
        event.type,
        event.door,
        event.device_time,
        event.reader,
        event.direction,
        event.credential_token,
        event.reason,
        raw,
    )


class Rejected(Exception):
    """Input refused. `reason` is a short counter key; `detail` says what and where, never the value."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class BurstLog:
    """Logs the first rejection of each reason, then at most one summary per `interval` seconds."""

    def __init__(self, logger: logging.Logger, adapter_id: str, clock: Clock, interval: float = LOG_BURST_SECONDS):
        self._log = logger
        self._adapter = adapter_id
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self._next_at: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def rejected(self, reason: str, detail: str) -> None:
        now = self._clock.monotonic()
        with self._lock:
            if now < self._next_at.get(reason, float("-inf")):
                self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
                return
            suppressed = self._suppressed.pop(reason, 0)
            self._next_at[reason] = now + self._interval
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        self._log.warning(
            "adapter %s rejected input: %s (%s)%s",
            self._adapter,
            reason,
            detail,
            more,
            extra={"adapter": self._adapter},
        )


class AccessAdapter(abc.ABC):
    """start(), stop(), alive(), `online`/`health`, `counters` by reason, `snapshot()` for telemetry."""

    type: ClassVar[str]

    def __init__(self, config: Any, on_event: OnEvent, clock: Clock, tokenizer: CredentialTokenizer):
        self.config = config
        self.id: str = config.id
        self._on_event = on_event
        self.clock = clock
        self.tokenizer = tokenizer
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._online = False
        self._last_error: str | None = None
        self._burst = BurstLog(logging.getLogger(type(self).__module__), self.id, clock)
        self.on_link: Callable[[AccessAdapter, bool], None] | None = None  # link state changes, for health
        # Turns of the adapter's own loop, for the hang check (AccessService.alive); None: the loop
        # is not ours to count (libosdp's), so only liveness is watched.
        self.loops: int | None = None

    @abc.abstractmethod
    def start(self) -> None: ...

    def rebind(self, on_event: OnEvent) -> None:
        """Send events to another consumer from now on (a reload hands a running adapter to a new pipeline)."""
        self._on_event = on_event

    @abc.abstractmethod
    def stop(self, timeout: float = 5.0) -> None: ...

    def alive(self) -> bool:
        """Whether the adapter's threads still run (the supervisor restarts it when not)."""
        return True

    @property
    def online(self) -> bool:
        return self._online

    @property
    def health(self) -> str:
        return "online" if self._online else "offline"

    @property
    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def snapshot(self) -> dict[str, Any]:
        counters = self.counters
        rejected = {key.removeprefix("rejected."): n for key, n in counters.items() if key.startswith("rejected.")}
        figures = {key: n for key, n in counters.items() if not key.startswith("rejected.")}
        return {
            "type": self.type,
            "online": self._online,
            "last_error": self._last_error,
            **figures,
            "rejected_total": sum(rejected.values()),
            "rejected": rejected,
        }

    @property
    def last_error(self) -> str | None:
        """Why the last start failed (the adapter then runs offline, retried); None once it started."""
        return self._last_error

    def set_last_error(self, error: str | None) -> None:
        with self._lock:
            self._last_error = error

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + n

    def reject(self, error: Rejected) -> None:
        self.count(f"rejected.{error.reason}")
        self._burst.rejected(error.reason, error.detail)

    def set_online(self, online: bool) -> bool:
        """Record the link state; True when it changed (then `on_link` hears of it)."""
        with self._lock:
            changed = self._online != online
            self._online = online
        if changed and self.on_link is not None:
            try:
                self.on_link(self, online)
            except Exception:  # whoever listens must not break the feed
                log.exception("adapter %s: the link listener failed", self.id, extra={"adapter": self.id})
        return changed

    def emit(self, event: DoorEvent) -> Outcome:
        """Hand one event to the consumer; `events` counts it once it is stored (or the consumer failed on it)."""
        try:
            self._on_event(event)
        except _STORE_ERRORS as error:
            self.count("store_failures")
            self._burst.rejected("store_unavailable", f"a {event.type} event was not stored: {error}")
            return Outcome.retry
        except Exception:
            self.count("events")
            self.count("consumer_errors")
            log.exception(
                "adapter %s: the door event consumer failed on a %s event",
                self.id,
                event.type,
                extra={"adapter": self.id},
            )
            return Outcome.failed
        self.count("events")
        return Outcome.stored
