"""Server-side sessions with a CSRF token each, and failed-login counting per client address.

Sessions live in the web server's memory, never in the cookie: logging out (or an idle timeout)
ends a session for good, even if someone kept a copy of the cookie.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field

from edge_agent.clock import Clock

COOKIE = "edge_agent_session"
MAX_ADDRESSES = 10_000  # failed-login histories kept before stale ones are dropped


@dataclass
class Session:
    user: str
    csrf: str
    created: float
    last_seen: float
    last_image: dict[str, float] = field(default_factory=dict)  # camera id -> monotonic time of the last image


class Sessions:
    def __init__(self, clock: Clock, idle_timeout: float):
        self.clock = clock
        self.idle_timeout = idle_timeout
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, user: str) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        now = self.clock.monotonic()
        session = Session(user, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._expire(now)
            self._sessions[token] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        now = self.clock.monotonic()
        with self._lock:
            self._expire(now)
            session = self._sessions.get(token)
            if session is not None:
                session.last_seen = now
            return session

    def end(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _expire(self, now: float) -> None:
        for token in [t for t, s in self._sessions.items() if now - s.last_seen > self.idle_timeout]:
            del self._sessions[token]


def csrf_ok(session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(session.csrf.encode(), presented.encode())


class LoginLimiter:
    """At most `max_failures` failed logins per address per `window` seconds; every attempt is counted."""

    def __init__(self, clock: Clock, max_failures: int, window: float):
        self.clock = clock
        self.max_failures = max_failures
        self.window = window
        self.counts = {"succeeded": 0, "failed": 0, "refused": 0}
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> float | None:
        """Seconds until `address` may try again, or None when it may try now (a refusal is counted)."""
        now = self.clock.monotonic()
        with self._lock:
            failures = self._recent(address, now)
            if len(failures) < self.max_failures:
                return None
            self.counts["refused"] += 1
            return max(1.0, failures[0] + self.window - now)

    def record(self, address: str, succeeded: bool) -> None:
        with self._lock:
            if succeeded:
                self.counts["succeeded"] += 1
                self._failures.pop(address, None)
            else:
                self.counts["failed"] += 1
                now = self.clock.monotonic()
                if len(self._failures) >= MAX_ADDRESSES:  # many addresses guessing: forget the ones whose window passed
                    self._failures = {a: f for a, f in self._failures.items() if self._recent(a, now)}
                self._failures.setdefault(address, deque()).append(now)

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.get(address, deque())
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures
