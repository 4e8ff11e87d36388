"""Request authentication for HTTP push: HMAC signature with a replay window, or a bearer token.

Signature scheme (docs/access-control.md):

    X-Timestamp: 1767225600            (epoch seconds of the sender)
    X-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

The timestamp must be within `replay_window` seconds of our clock, and each
signature is accepted once: a repeat inside the window is a replay (409).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Mapping

from edge_agent.clock import Clock
from edge_agent.sources.access.base import Rejected

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The X-Signature value for a request (what a controller or a test computes)."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class ReplayCache:
    """Signatures seen within the window; the oldest is forgotten when the cache is full."""

    def __init__(self, window: float, size: int):
        self._window = window
        self._size = size
        self._seen: OrderedDict[str, float] = OrderedDict()  # signature -> its timestamp, in arrival order
        self._lock = threading.Lock()

    def first_use(self, signature: str, timestamp: float, now: float) -> bool:
        with self._lock:
            while self._seen:
                oldest_signature, oldest_ts = next(iter(self._seen.items()))
                if oldest_ts >= now - self._window and len(self._seen) < self._size:
                    break
                del self._seen[oldest_signature]
            if signature in self._seen:
                return False
            self._seen[signature] = timestamp
            return True


class RequestAuthenticator:
    def __init__(
        self, hmac_secret: bytes | None, bearer_token: str | None, replay_window: float, cache_size: int, clock: Clock
    ):
        self._secret = hmac_secret
        self._bearer = bearer_token
        self._window = replay_window
        self._clock = clock
        self._replays = ReplayCache(replay_window, cache_size)

    @property
    def required(self) -> bool:
        return self._secret is not None or self._bearer is not None

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Return when the request is authentic; raise `Rejected` naming why not."""
        if not self.required:
            return
        if self._secret is not None and headers.get(SIGNATURE_HEADER) is not None:
            self._verify_signature(headers, body)
            return
        authorization = headers.get("Authorization")
        if self._bearer is not None and authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._bearer.encode()):
                raise Rejected("bad_token", "Authorization bearer token does not match")
            return
        wanted = " or ".join(
            name
            for name, on in (
                (f"{SIGNATURE_HEADER} + {TIMESTAMP_HEADER}", self._secret),
                ("Authorization: Bearer", self._bearer),
            )
            if on
        )
        raise Rejected("missing_auth", f"request carries no credentials (expected {wanted})")

    def _verify_signature(self, headers: Mapping[str, str], body: bytes) -> None:
        timestamp_text = (headers.get(TIMESTAMP_HEADER) or "").strip()
        try:
            timestamp = float(timestamp_text)
        except ValueError:
            raise Rejected("bad_signature", f"{TIMESTAMP_HEADER} header missing or not epoch seconds") from None
        if not timestamp_text.isascii():
            raise Rejected("bad_signature", f"{TIMESTAMP_HEADER} header is not ASCII")
        given = headers.get(SIGNATURE_HEADER, "").strip()
        expected = sign(self._secret, timestamp_text, body)
        if not given.startswith("sha256="):
            given = "sha256=" + given
        if not hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode()):
            raise Rejected("bad_signature", f"{SIGNATURE_HEADER} does not match the body and timestamp")
        now = self._clock.wall()
        skew = now - timestamp
        if not abs(skew) <= self._window:
            raise Rejected(
                "expired", f"timestamp is {skew:+.0f} s from ours, outside the {self._window:.0f} s replay window"
            )
        if not self._replays.first_use(expected, timestamp, now):
            raise Rejected("replayed", "this signed request was already accepted")
