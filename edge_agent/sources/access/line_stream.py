"""Line stream: one generic JSON event per line over TCP or a serial device (Wiegand bridges).

The adapter is the client: it connects, reads lines, and on any loss waits
with doubling back-off (reconnect_min_delay .. reconnect_max_delay) and tries
again until stopped. An over-long, non-UTF-8 or invalid line is refused and
counted; the stream carries on with the next line. An event whose alerts
could not be stored waits in a `StoreRetryQueue` (a stream cannot be asked to
resend), and the events after it queue behind it.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import termios
import threading
import time
import tty

from edge_agent.config.access_adapters import LineStreamAdapterConfig
from edge_agent.faults import ADAPTER_READER, reached
from edge_agent.sources.access.base import AccessAdapter, Rejected
from edge_agent.sources.access.normalize import EventContext, decode_json, parse_generic
from edge_agent.sources.access.store_retry import StoreRetryQueue

log = logging.getLogger(__name__)

_READ_CHUNK = 4096
_POLL_S = 0.2


class _Stream:
    """A connected byte stream: a TCP socket or a serial file descriptor."""

    def __init__(self, fd: int, closer, reader):
        self.fd = fd
        self._close = closer
        self._read = reader

    def read(self) -> bytes:
        return self._read(_READ_CHUNK)

    def close(self) -> None:
        try:
            self._close()
        except OSError:
            pass


def open_tcp(host: str, port: int, timeout: float = 5.0) -> _Stream:
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setblocking(False)
    return _Stream(sock.fileno(), sock.close, sock.recv)


def open_serial(device: str, baud: int) -> _Stream:
    fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        if os.isatty(fd):
            tty.setraw(fd)
            speed = getattr(termios, f"B{baud}", None)
            if speed is None:
                raise ValueError(f"baud rate {baud} is not supported by this system")
            attributes = termios.tcgetattr(fd)
            attributes[4] = attributes[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, attributes)
    except BaseException:
        os.close(fd)
        raise
    return _Stream(fd, lambda: os.close(fd), lambda n: os.read(fd, n))


class LineSplitter:
    """Bytes in, complete lines out; a line longer than `limit` is reported once and skipped."""

    def __init__(self, limit: int):
        self.limit = limit
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | Rejected]:
        out: list[bytes | Rejected] = []
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self.limit:
                    if not self._discarding:
                        out.append(Rejected("oversized", f"line longer than max_line_bytes {self.limit}"))
                    self._discarding = True
                    self._buffer.clear()
                return out
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._discarding:
                self._discarding = False  # the tail of the over-long line
                continue
            if len(line) > self.limit:
                out.append(Rejected("oversized", f"line of {len(line)} bytes exceeds max_line_bytes {self.limit}"))
                continue
            line = line.rstrip(b"\r")
            if line.strip():
                out.append(line)

    def reset(self) -> None:
        self._buffer.clear()
        self._discarding = False


class LineStreamAdapter(AccessAdapter):
    type = "line_stream"

    def __init__(self, config: LineStreamAdapterConfig, on_event, clock, tokenizer):
        super().__init__(config, on_event, clock, tokenizer)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: _Stream | None = None
        self._splitter = LineSplitter(config.max_line_bytes)
        self._line_no = 0
        self.store_retry = StoreRetryQueue(self)
        self.loops = 0

    @property
    def endpoint(self) -> str:
        config = self.config
        return config.serial_device or f"{config.tcp_host}:{config.tcp_port}"

    def start(self) -> None:
        self.store_retry.start()
        # a fresh event per thread: one abandoned by a restart (hung) still sees its own stop
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stopping,), name=f"line-stream-{self.id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.store_retry.stop(timeout)
        self.set_online(False)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> dict:
        return {**super().snapshot(), "store_queue_depth": self.store_retry.depth}

    def handle_line(self, line: bytes) -> None:
        """Parse one line and emit its event, or count why not (also the fuzzing entry point)."""
        self._line_no += 1
        where = f"line {self._line_no}"
        try:
            ctx = EventContext(self.id, self.clock.wall(), self.tokenizer, self.config.default_door)
            event = parse_generic(decode_json(line, where), ctx, where)
        except Rejected as error:
            self.reject(error)
            return
        self.store_retry.submit(event)

    def handle_bytes(self, data: bytes) -> None:
        reached(ADAPTER_READER)  # a test's hang or death of the reader thread (edge_agent/faults.py)
        for item in self._splitter.feed(data):
            if isinstance(item, Rejected):
                self.reject(item)
            else:
                self.handle_line(item)

    def _run(self, stopping: threading.Event) -> None:
        delay = self.config.reconnect_min_delay
        while not stopping.is_set():
            try:
                stream = self._connect()
            except (OSError, ValueError) as exc:
                self.count("connect_failures")
                self._burst.rejected("connect_failed", f"{self.endpoint}: {exc}")
            else:
                received = self._pump(stream, stopping)
                stream.close()
                if received:
                    delay = self.config.reconnect_min_delay
            if self.set_online(False) and not stopping.is_set():
                log.warning(
                    "adapter %s lost %s; reconnecting with back-off", self.id, self.endpoint, extra={"adapter": self.id}
                )
            if self._pause(delay, stopping):
                break
            delay = min(delay * 2, self.config.reconnect_max_delay)

    def _pause(self, delay: float, stopping: threading.Event) -> bool:
        """Back-off in _POLL_S slices, each a loop turn (a long back-off is not a hang); True when stopping."""
        until = time.monotonic() + delay
        while time.monotonic() < until:
            if stopping.wait(min(_POLL_S, until - time.monotonic())):
                return True
            self.loops += 1
        return stopping.is_set()

    def _connect(self) -> _Stream:
        config = self.config
        if config.serial_device is not None:
            stream = open_serial(config.serial_device, config.baud)
        else:
            stream = open_tcp(config.tcp_host, config.tcp_port)
        self._splitter.reset()
        self.count("connects")
        if self.set_online(True):
            log.info("adapter %s connected to %s", self.id, self.endpoint, extra={"adapter": self.id})
        return stream

    def _pump(self, stream: _Stream, stopping: threading.Event) -> bool:
        """Read until the stream ends, fails, idles out or we stop; True when any data came."""
        received = False
        idle_limit = self.config.idle_timeout or None
        idle = 0.0
        while not stopping.is_set():
            self.loops += 1
            ready, _, _ = select.select([stream.fd], [], [], _POLL_S)
            if not ready:
                idle += _POLL_S
                if idle_limit is not None and idle >= idle_limit:
                    self.count("idle_timeouts")
                    return received
                continue
            try:
                data = stream.read()
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EIO, errno.ECONNRESET, errno.EBADF):
                    log.warning(
                        "adapter %s: read from %s failed: %s", self.id, self.endpoint, exc, extra={"adapter": self.id}
                    )
                self.count("disconnects")
                return received
            if not data:
                self.count("disconnects")
                return received
            idle = 0.0
            received = True
            self.handle_bytes(data)
        return received
