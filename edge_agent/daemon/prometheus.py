"""Optional Prometheus endpoint (GET /metrics): the telemetry figures as they are at each scrape.

The figures and their names are telemetry_metrics.py's (`TelemetryMetrics`, read at scrape time); this
module serves them: one WSGI server thread, only /metrics, bound to loopback unless configured.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from edge_agent.daemon.telemetry_metrics import TelemetryMetrics
from edge_agent.events import Telemetry
from edge_agent.faults import METRICS_SERVER, reached

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass  # a scrape every few seconds is not worth a log line


def _only_metrics(app):
    def serve(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"only /metrics is served here\n"]
        return app(environ, start_response)

    return serve


class MetricsServer:
    """Serves /metrics from `read()` (normally `TelemetryCollector.current`).

    `start()` raises OSError when the address is taken, which the supervisor treats as a
    start failure. With port 0 the kernel picks one; `port` holds it once started. The accept
    loop turns at least every `POLL_S` (`loops` is the supervisor's progress token), so a hung
    loop is restarted; `stop()` abandons one that does not end and releases the port anyway.
    """

    POLL_S = 0.5

    def __init__(self, bind: str, port: int, read: Callable[[], Telemetry]):
        self.bind = bind
        self.port = port
        self.metrics = TelemetryMetrics(read)
        self.loops = 0
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        registry = CollectorRegistry(auto_describe=False)  # no describe: nothing is read until a scrape
        registry.register(self.metrics)
        server_class = _Ipv6Server if ":" in self.bind else ThreadingWSGIServer
        self._server = make_server(
            self.bind, self.port, _only_metrics(make_wsgi_app(registry)), server_class, handler_class=_QuietHandler
        )
        self._server.timeout = self.POLL_S
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._serve, args=(self._server,), name="metrics-http", daemon=True)
        self._thread.start()
        log.info("Prometheus metrics on http://%s:%d/metrics", self.bind, self.port)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._server is not None:
            self._server.server_close()  # releases the port
            self._server = None

    def _serve(self, server: WSGIServer) -> None:
        while not self._stopping.is_set():
            self._serve_once(server)
            self.loops += 1

    def _serve_once(self, server: WSGIServer) -> None:
        reached(METRICS_SERVER)  # a test's hang or death of this loop (edge_agent/faults.py)
        server.handle_request()  # one request (handled on its own thread), or nothing within POLL_S


class _Ipv6Server(ThreadingWSGIServer):
    address_family = socket.AF_INET6
