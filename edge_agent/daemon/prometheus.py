"""Optional Prometheus text endpoint (GET /metrics) rendering the latest telemetry sample.

It binds to loopback by default; only the figures already in telemetry are exposed.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edge_agent.events import Telemetry

log = logging.getLogger(__name__)

_NAME_BAD = re.compile(r"[^a-zA-Z0-9_]")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(telemetry: Telemetry | None) -> str:
    if telemetry is None:
        return "# no telemetry sample yet\n"
    out = _Writer()
    out.sample("edge_agent_uptime_seconds", {}, telemetry.uptime_s)
    for camera, figures in sorted(telemetry.cameras.items()):
        out.section("edge_agent_camera", figures, {"camera": camera})
    for line, counts in sorted(telemetry.lines.items()):
        for direction, count in sorted(counts.items()):
            out.sample("edge_agent_line_crossings_total", {"line": line, "direction": direction}, count)
    out.section("edge_agent_outbox", telemetry.outbox, {})
    for adapter, figures in sorted(telemetry.adapters.items()):
        out.section("edge_agent_adapter", figures, {"adapter": adapter})
    for stage, figures in sorted(telemetry.stages.items()):
        out.section("edge_agent_stage", figures, {"stage": stage})
    out.section("edge_agent_detector", telemetry.detector, {})
    out.section("edge_agent_system", telemetry.system, {})
    return out.text()


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.typed: set[str] = set()

    def section(self, prefix: str, figures: dict, labels: dict) -> None:
        for key, value in sorted(figures.items()):
            name = f"{prefix}_{_metric_name(key)}"
            if isinstance(value, dict):
                for sub_key, sub_value in _flatten(value):
                    self.sample(name, {**labels, "key": sub_key}, sub_value)
            else:
                self.sample(name, labels, value)

    def sample(self, name: str, labels: dict, value) -> None:
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, (int, float)):
            return  # text figures (errors, states) stay in the MQTT telemetry
        if name not in self.typed:
            self.typed.add(name)
            self.lines.append(f"# TYPE {name} gauge")
        rendered = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
        self.lines.append(f"{name}{{{rendered}}} {value}" if rendered else f"{name} {value}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _flatten(value: dict, prefix: str = ""):
    for key, item in sorted(value.items()):
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, dict):
            yield from _flatten(item, path)
        else:
            yield path, item


def _metric_name(key: str) -> str:
    return _NAME_BAD.sub("_", str(key))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsServer:
    """Serves /metrics; `start()` raises OSError when the address is taken (a start failure)."""

    def __init__(self, bind: str, port: int, latest: Callable[[], Telemetry | None]):
        self.bind = bind
        self.port = port
        self._latest = latest
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        latest = self._latest

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics is served here")
                    return
                body = render(latest()).encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer((self.bind, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)
        self._thread.start()
        log.info("Prometheus metrics on http://%s:%d/metrics", self.bind, self.port)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout)
