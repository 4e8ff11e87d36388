"""The first checks on every request, before Starlette routes it: the Host, the body's size and the client's pace.

- **Host** must be one of the page's own names (loopback names and addresses, `web.bind`,
  `web.allowed_hosts`): a page of another site whose name was rebound to this box's address
  (DNS rebinding) sends its own name, and is refused with 421.
- **Body**: at most MAX_BODY bytes, enforced while reading. A Content-Length over it is refused
  before a byte of body is read; a chunked body is cut off at MAX_BODY + 1 bytes. Either way 413
  with `Connection: close`, so the server reads nothing more of it. The body is read here, whole,
  before any handler runs, so a handler (and a worker thread) never waits on a slow client.
- **Pace**: the body must arrive within `web.request_timeout` (else 408), and each part of the
  answer must be taken within it (else the connection is dropped). The request head's deadline
  is in connection.py: uvicorn hands nothing to the app until the head is complete.

Every refusal is counted in `counts` (by reason) and logged without the request's content.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Mapping

import anyio

from edge_agent.config.web import host_name

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024  # an edit is a few kB; anything near this is not from the page


class _TooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class _SlowReader(Exception):
    """The client did not take a part of the answer within the deadline."""


class RequestGuard:
    """ASGI middleware around the whole app; see the module's doc."""

    def __init__(self, app, hosts: frozenset[str], timeout: float, headers: Mapping[str, str], counts: dict):
        self.app = app
        self.hosts = hosts
        self.timeout = timeout
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        self.counts = counts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # lifespan; websockets are off in server.py
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])  # h11 lower-cases the names; a repeated header keeps its last value
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.host_allowed(host):
            return await self._refuse(scope, send, 421, "foreign_host", _foreign_host_message(host))
        declared = headers.get(b"content-length")
        if declared is not None and int(declared) > MAX_BODY:  # h11 has checked that it is a number
            return await self._refuse(scope, send, 413, "too_large", _too_large_message())
        try:
            body = await self._read_body(receive)
        except _TooLarge:
            return await self._refuse(scope, send, 413, "too_large", _too_large_message())
        except TimeoutError:
            message = f"the request's body did not arrive within web.request_timeout ({self.timeout:g} s)"
            return await self._refuse(scope, send, 408, "body_timeout", message)
        except _ClientGone:
            return None
        try:
            await self.app(scope, _replay(body, receive), self._timed(send))
        except _SlowReader:
            self._count("slow_reader")
            log.warning("web: %s did not take its answer within %g s; connection dropped", _who(scope), self.timeout)

    def host_allowed(self, header: str) -> bool:
        name = header.strip()
        if name.startswith("["):  # [IPv6]:port
            name = name[: name.find("]") + 1]
        elif name.count(":") == 1:  # name:port
            name = name.split(":")[0]
        name = host_name(name)
        if not name:
            return False
        if name in self.hosts:
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    async def _read_body(self, receive) -> bytes:
        chunks, size = [], 0
        with anyio.fail_after(self.timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY:
                    raise _TooLarge
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)

    def _timed(self, send):
        async def timed_send(message) -> None:
            try:
                with anyio.fail_after(self.timeout):
                    await send(message)
            except TimeoutError:
                raise _SlowReader from None

        return timed_send

    async def _refuse(self, scope, send, status: int, reason: str, message: str) -> None:
        self._count(reason)
        log.warning("web: %s %s from %s refused (%d): %s", scope["method"], scope["path"], _who(scope), status, message)
        body = json.dumps({"error": message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),  # the rest of an unread body is never read: the connection ends here
            *self.headers,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _count(self, reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1


def _replay(body: bytes, receive):
    """The app's receive: the body read above, once; then the server's own (which tells of a disconnect)."""
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _who(scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _foreign_host_message(host: str) -> str:
    shown = ascii(host[:100]) if host else "no Host header"
    return (
        f"this page does not answer to {shown}: open it by an address it serves (127.0.0.1 through the SSH "
        "tunnel, or its bind address), or add the name to web.allowed_hosts"
    )


def _too_large_message() -> str:
    return f"request too large: at most {MAX_BODY // 1024} kB of body"
