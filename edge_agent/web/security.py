"""Server-side sessions with a CSRF token each, and failed-login counting per client address.

Sessions live in the web server's memory, never in the cookie: logging out, an idle timeout, the
session's maximum age or a new password ends a session for good, even if someone kept a copy of
the cookie. Each session remembers the version of the password hash it logged in with
(passwords.password_version), and a request is only let in while that is still the stored one.
"""

from __future__ import annotations

import hashlib
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
    password_version: str
    role: str = "technician"  # web/accounts.py ROLES
    last_image: dict[str, float] = field(default_factory=dict)  # camera id -> monotonic time of the last image


class Sessions:
    def __init__(self, clock: Clock, idle_timeout: float, max_age: float):
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, user: str, password_version: str, role: str = "technician") -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        now = self.clock.monotonic()
        session = Session(user, secrets.token_urlsafe(32), now, now, password_version, role)
        with self._lock:
            self._expire(now, None, versions=False)  # by time only: another user's hash is checked on their next use
            self._sessions[token] = session
        return token, session

    def get(self, token: str | None, password_version: str | None | dict[str, str]) -> Session | None:
        """The live session of `token`; `password_version` is the stored hash's now (None: no password set), or
        per user (web/accounts.py: several accounts, each session checked against its own user's hash)."""
        if not token:
            return None
        now = self.clock.monotonic()
        with self._lock:
            self._expire(now, password_version)
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

    def _expire(self, now: float, password_version: str | None | dict[str, str], versions: bool = True) -> None:
        def version(session: Session) -> str | None:
            return password_version.get(session.user) if isinstance(password_version, dict) else password_version

        def over(session: Session) -> bool:
            return (
                now - session.last_seen > self.idle_timeout
                or now - session.created > self.max_age
                or (versions and session.password_version != version(session))
            )

        for token in [token for token, session in self._sessions.items() if over(session)]:
            del self._sessions[token]


def csrf_ok(session: Session, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(session.csrf.encode(), presented.encode())


def same_text(given: str, expected: str) -> bool:
    """Constant time whatever `given` is, its length included (both are hashed first): a user name probe
    learns nothing from how long the answer took."""
    digest = hashlib.sha256
    return hmac.compare_digest(
        digest(given.encode(errors="surrogatepass")).digest(), digest(expected.encode()).digest()
    )


class LoginLimiter:
    """At most `max_failures` failed logins per address per `window` seconds; every attempt is counted."""

    def __init__(self, clock: Clock, max_failures: int, window: float):
        self.clock = clock
        self.max_failures = max_failures
        self.window = window
        self.counts = {"succeeded": 0, "failed": 0, "refused": 0}
        self._failures: dict[str, deque[float]] = {}
        self._told: dict[str, float] = {}  # address -> the first failure of the lockout already audited
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

    def first_refusal(self, address: str) -> bool:
        """True once per lockout of `address` (after retry_after refused it): what goes to the audit log and the
        journal, so a client trying on without a password cannot fill the disk with one line per try."""
        with self._lock:
            failures = self._failures.get(address)
            started = failures[0] if failures else None
            if started is None or self._told.get(address) == started:
                return False
            if len(self._told) >= MAX_ADDRESSES:
                self._told.clear()
            self._told[address] = started
            return True

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
