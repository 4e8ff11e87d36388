"""uvicorn's h11 connection with a deadline on each request's head (the slowloris defence).

What uvicorn bounds by itself: a head's size (h11_max_incomplete_event_size, 400 when over), an
idle connection between requests (timeout_keep_alive), the number of connections and requests at
once (limit_concurrency, 503 when over), and a TLS handshake (asyncio's 60 s). What it does not:
how long a client takes over a request's head. Its keep-alive timer is cancelled by any byte, so
a client sending one header byte every few seconds holds its connection (and a place under
limit_concurrency) forever. Here a head must be complete within `head_timeout` of its first byte
(or of the connection's opening), or the connection is closed. Bodies and answers are bounded in
guard.py, where the ASGI app sees them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


class HeadDeadlineProtocol(H11Protocol):
    def __init__(self, *args, head_timeout: float, on_timeout: Callable[[], None] = lambda: None, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_timeout = head_timeout
        self.on_timeout = on_timeout
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._follow_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _follow_head(self) -> None:
        """Armed while a head is awaited and something of it came (or the connection is new); else not."""
        awaiting_head = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if not awaiting_head:
            self._cancel_head_deadline()
        elif self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.on_timeout()
            client = self.client[0] if self.client else "unknown"
            log.warning("web: %s did not send a request head within %g s; connection closed", client, self.head_timeout)
            self.transport.close()

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
