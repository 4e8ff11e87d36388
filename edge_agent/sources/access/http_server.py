"""The push receiver's sockets: one loop reads every connection; only complete requests get a thread.

Why a loop and not a thread per connection (finding F7): with a thread per
connection and a per-read timeout, ten clients dripping a byte every few
seconds held every one of `max_connections` threads and signed events got
503 for as long as they dripped. A per-request deadline alone does not cure
it: the drippers reconnect. So:

- One thread (`PushServer._run`) owns the listening socket and every
  connection, non-blocking, on a `selectors` loop. A connection costs a socket
  and its buffer (at most its head and `max_body_bytes`), not a thread, up to
  `max_open_connections`.
- Each connection has one **total deadline** from its accept
  (`request_timeout`): head and body must both have arrived by then, however
  the bytes are spread out; past it the reply is 408 (`timeout`).
- Only a **complete** request (head checked by the adapter's envelope, whole
  body read) is handed to a handler thread, at most `max_connections` at once;
  a complete request beyond that is answered 503 `busy` from the loop.
- When `max_open_connections` are open, a new connection **evicts** the one
  that has waited longest without completing a request (503, `evicted`): a
  controller's request completes in milliseconds, so it is never the oldest
  incomplete one, however many drippers cycle their connections.
- Replies are written by the loop too (a handler only computes the response),
  then the connection is half-closed and read to EOF for a moment ("lingering
  close") so a client still sending a refused body sees our reply, not a reset.

One request per connection (every reply says `Connection: close`), as before.
The loop turns at least every POLL_S; each turn is reported (`on_turn`) so
the access stage can tell a hung loop from an idle one.
"""

from __future__ import annotations

import logging
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from edge_agent.config.access_adapters import HttpPushAdapterConfig
from edge_agent.sources.access.base import Rejected
from edge_agent.sources.access.http_wire import CONTINUE, Response, head_length, parse_head, render

log = logging.getLogger(__name__)

POLL_S = 0.2  # the loop turns at least this often (a hung one is noticed; deadlines are this precise)
REPLY_TIMEOUT_S = 5.0  # a client that does not read a reply of a few hundred bytes in this long is gone
LINGER_S = 1.0  # after the reply: read what the client still sends, then close
DRAIN_LIMIT = 1 << 20  # bytes read and dropped while lingering
ACCEPTS_PER_TURN = 64
RECV_BYTES = 64 * 1024
LISTEN_BACKLOG = 128

READING, HANDLING, WRITING, LINGERING = "reading", "handling", "writing", "lingering"


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    deadline: float  # monotonic: the request must be complete by then (then: reply written, linger over)
    state: str = READING
    buffer: bytearray = field(default_factory=bytearray)
    head: object | None = None  # RequestHead once the head is in
    length: int = 0  # the body's Content-Length
    outgoing: bytes = b""
    then: str = LINGERING  # what follows once `outgoing` is written: LINGERING, or READING after a 100 Continue
    drained: int = 0


class PushReceiver(Protocol):
    """What the loop asks of the HTTP push adapter (http_push.py) about each request."""

    id: str
    config: HttpPushAdapterConfig

    def check_envelope(self, method: str, path: str, headers: Mapping[str, str]) -> Response | int:
        """Before reading the body: the body length to read, or the response that ends the request."""

    def process(self, headers: Mapping[str, str], body: bytes, declared_length: int | None = None) -> Response:
        """A complete request's answer (on a handler thread)."""

    def refuse(self, error: Rejected, status: int | None = None) -> Response:
        """Count a refusal under its reason and answer it."""

    def count(self, key: str, n: int = 1) -> None: ...


class PushServer:
    """start() binds (raising if it cannot), stop(timeout), alive(), `port`."""

    def __init__(self, adapter: PushReceiver, on_turn: Callable[[], None]):
        self._adapter = adapter
        self._config = adapter.config
        self._on_turn = on_turn
        self._listener: socket.socket | None = None
        self._selector: selectors.BaseSelector | None = None
        self._connections: dict[socket.socket, _Connection] = {}  # insertion order: oldest accept first
        self._replies: queue.SimpleQueue[tuple[_Connection, bytes]] = queue.SimpleQueue()
        self._handling = 0  # complete requests on a handler thread (touched by the loop only)
        self._wake_read: socket.socket | None = None
        self._wake_write: socket.socket | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self._config.bind else socket.AF_INET
        listener = socket.create_server((self._config.bind, self._config.port), family=family, backlog=LISTEN_BACKLOG)
        listener.setblocking(False)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_read, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._run, name=f"http-push-{self._adapter.id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Ends the loop; one that hangs is abandoned after `timeout` and the port released anyway."""
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._listener is not None:
            self._listener.close()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _wake(self) -> None:
        try:
            self._wake_write.send(b"\0")
        except OSError:  # the pipe is full: the loop is already due to wake
            pass

    # -- the loop --------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._turn()
                self._on_turn()
        finally:
            for connection in list(self._connections.values()):
                self._close(connection)
            self._selector.close()
            self._listener.close()
            self._wake_read.close()
            self._wake_write.close()

    def _turn(self) -> None:
        for key, mask in self._selector.select(POLL_S):
            if isinstance(key.data, _Connection) and key.data.sock not in self._connections:
                continue  # closed earlier in this turn (evicted to make room, say)
            try:
                if key.data == "accept":
                    self._accept()
                elif key.data == "wake":
                    self._wake_read.recv(4096)
                elif mask & selectors.EVENT_WRITE:
                    self._write(key.data)
                else:
                    self._read(key.data)
            except Exception:  # one connection's trouble must not stop the receiver
                self._adapter.count("internal_errors")
                log.exception("adapter %s: connection handling failed", self._adapter.id)
                if isinstance(key.data, _Connection):
                    self._close(key.data)
        self._collect_replies()
        self._expire(time.monotonic())

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_TURN):
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # out of descriptors, say: the next turn tries again
                self._adapter.count("accept_failures")
                log.warning("adapter %s: accept failed: %s", self._adapter.id, error)
                return
            sock.setblocking(False)
            if len(self._connections) >= self._config.max_open_connections and not self._make_room():
                self._refuse_now(sock, Rejected("busy", "every open connection is being handled"))
                continue
            connection = _Connection(sock, time.monotonic() + self._config.request_timeout)
            self._connections[sock] = connection
            self._selector.register(sock, selectors.EVENT_READ, connection)

    def _make_room(self) -> bool:
        """Close a lingering connection, else the oldest incomplete one (evicted); False when all are handled."""
        waiting = [c for c in self._connections.values() if c.state in (LINGERING, READING)]
        lingering = next((c for c in waiting if c.state == LINGERING), None)
        if lingering is not None:
            self._close(lingering)
            return True
        if not waiting:
            return False
        oldest = waiting[0]
        limit = self._config.max_open_connections
        self._forget(oldest)
        self._refuse_now(oldest.sock, Rejected("evicted", f"closed to make room: {limit} connections were open"))
        return True

    def _refuse_now(self, sock: socket.socket, error: Rejected) -> None:
        """Count, try one non-blocking send of the reply, close: for connections we will not keep."""
        response = self._adapter.refuse(error)
        try:
            sock.send(render(response))
        except OSError:
            pass
        sock.close()

    # -- reading a request ----------------------------------------------

    def _read(self, connection: _Connection) -> None:
        try:
            data = connection.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset by the client
            self._close(connection)
            return
        if connection.state == LINGERING:
            connection.drained += len(data)
            if not data or connection.drained > DRAIN_LIMIT:
                self._close(connection)
            return
        if not data:
            self._ended_early(connection)
            return
        connection.buffer += data
        try:
            if connection.head is None:
                self._read_head(connection)
            if connection.head is not None and connection.state == READING:
                self._read_body(connection)
        except Rejected as error:
            self._reply(connection, self._adapter.refuse(error))

    def _ended_early(self, connection: _Connection) -> None:
        """EOF before a complete request: a silent probe is closed, a part-sent request refused."""
        if connection.head is None and not connection.buffer.strip(b"\r\n"):
            self._close(connection)
            return
        got = f"body ended after {len(connection.buffer)} of {connection.length} bytes" if connection.head else ""
        detail = got or "connection closed before the request head was complete"
        self._reply(connection, self._adapter.refuse(Rejected("truncated", detail)))

    def _read_head(self, connection: _Connection) -> None:
        buffer = connection.buffer
        while buffer[:1] in (b"\r", b"\n"):  # blank lines before a request line are tolerated (RFC 9112 2.2)
            del buffer[:1]
        size = head_length(buffer)
        if size is None:
            return
        head = parse_head(bytes(buffer[:size]))
        del buffer[:size]
        verdict = self._adapter.check_envelope(head.method, head.target, head.headers)
        if isinstance(verdict, Response):
            self._reply(connection, verdict)
            return
        connection.head, connection.length = head, verdict
        expect = head.headers.get("Expect", "").lower()
        if expect == "100-continue" and head.version == "HTTP/1.1" and len(buffer) < verdict:
            self._send(connection, CONTINUE, then=READING)

    def _read_body(self, connection: _Connection) -> None:
        if len(connection.buffer) < connection.length:
            return
        body = bytes(connection.buffer[: connection.length])
        connection.buffer.clear()  # anything past the body is not read: one request per connection
        if self._handling >= self._config.max_connections:
            limit = self._config.max_connections
            self._reply(connection, self._adapter.refuse(Rejected("busy", f"{limit} requests are being handled")))
            return
        self._handling += 1
        connection.state = HANDLING
        self._selector.unregister(connection.sock)
        head = connection.head
        threading.Thread(
            target=self._handle,
            args=(connection, head.headers, body),
            name=f"http-push-{self._adapter.id}-request",
            daemon=True,
        ).start()

    def _handle(self, connection: _Connection, headers, body: bytes) -> None:
        """On a handler thread: the adapter decides, the loop writes the reply."""
        try:
            response = self._adapter.process(headers, body, len(body))
        except Exception:  # the receiver must keep serving whatever one request does
            self._adapter.count("internal_errors")
            log.exception("adapter %s: request handling failed", self._adapter.id, extra={"adapter": self._adapter.id})
            response = Response(500, {"ok": False, "reason": "internal_error"})
        self._replies.put((connection, render(response)))
        self._wake()

    def _collect_replies(self) -> None:
        while True:
            try:
                connection, data = self._replies.get_nowait()
            except queue.Empty:
                return
            self._handling -= 1
            if connection.sock in self._connections:
                self._selector.register(connection.sock, selectors.EVENT_READ, connection)
                self._send(connection, data, then=LINGERING)

    # -- writing and closing --------------------------------------------

    def _reply(self, connection: _Connection, response: Response) -> None:
        self._send(connection, render(response), then=LINGERING)

    def _send(self, connection: _Connection, data: bytes, then: str) -> None:
        connection.outgoing += data
        connection.then = then
        if then == LINGERING:
            connection.state = WRITING
            connection.deadline = time.monotonic() + REPLY_TIMEOUT_S
        self._selector.modify(connection.sock, selectors.EVENT_WRITE, connection)

    def _write(self, connection: _Connection) -> None:
        try:
            sent = connection.sock.send(connection.outgoing)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._adapter.count("reply_failed")
            self._close(connection)
            return
        connection.outgoing = connection.outgoing[sent:]
        if connection.outgoing:
            return
        if connection.then == READING:  # the 100 Continue is out: the body may come
            self._selector.modify(connection.sock, selectors.EVENT_READ, connection)
            return
        connection.state = LINGERING
        connection.deadline = time.monotonic() + LINGER_S
        try:
            connection.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(connection)
            return
        self._selector.modify(connection.sock, selectors.EVENT_READ, connection)

    def _expire(self, now: float) -> None:
        for connection in [c for c in self._connections.values() if c.deadline <= now and c.state != HANDLING]:
            if connection.state == READING:
                seconds = self._config.request_timeout
                error = Rejected("timeout", f"client sent no complete request within {seconds:g} s")
                self._reply(connection, self._adapter.refuse(error))
            elif connection.state == WRITING:
                self._adapter.count("reply_failed")
                self._close(connection)
            else:
                self._close(connection)

    def _close(self, connection: _Connection) -> None:
        if self._forget(connection):
            connection.sock.close()

    def _forget(self, connection: _Connection) -> bool:
        """Stop watching a connection (the caller closes its socket); False when it was already gone."""
        if self._connections.pop(connection.sock, None) is None:
            return False
        if connection.state != HANDLING:
            try:
                self._selector.unregister(connection.sock)
            except (KeyError, ValueError):
                pass
        return True
