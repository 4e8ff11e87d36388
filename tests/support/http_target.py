"""A real local HTTP server standing in for a LAN device an `http` action calls.

Behaviour by the first path segment: `/slow/…` answers after 1 s, `/fail/…` answers 500,
`/hang/…` accepts the request and never answers (until the server is closed), `/drip/…` sends
its status line one byte every 0.2 s forever; anything else answers 200. Every request is kept
(method, raw path, headers, body) in arrival order.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    at: float = 0.0  # time.monotonic() when the request was read whole (bench/bench_response.py's latency)

    @property
    def kind(self) -> str:
        return self.path.lstrip("/").split("/", 1)[0].split("?", 1)[0]

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


class HttpTarget:
    def __init__(self):
        self.requests: list[Received] = []
        self.holding = 0  # /hang requests being held right now
        self._lock = threading.Lock()
        self._closing = threading.Event()
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                received = Received(self.command, self.path, list(self.headers.items()), body, time.monotonic())
                with target._lock:
                    target.requests.append(received)
                target._answer(self, received.kind)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _answer(self, handler: BaseHTTPRequestHandler, kind: str) -> None:
        if kind == "hang":
            with self._lock:
                self.holding += 1
            self._closing.wait()
            with self._lock:
                self.holding -= 1
            return
        if kind == "drip":
            for byte in b"HTTP/1.1 200 OK\r\n" * 1000:
                if self._closing.wait(0.2):
                    return
                try:
                    handler.wfile.write(bytes([byte]))
                    handler.wfile.flush()
                except OSError:
                    return
            return
        if kind == "slow":
            time.sleep(1.0)
        status = 500 if kind == "fail" else 200
        body = b'{"ok": false}' if status == 500 else b'{"ok": true}'
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def of_kind(self, kind: str) -> list[Received]:
        with self._lock:
            return [request for request in self.requests if request.kind == kind]

    def close(self) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()
