"""The access stage under a real Supervisor, in process: link health alerts, restarts, one fusion subscription.

A line-stream adapter connects to a TCP "Wiegand bridge" run by the test. The bridge going
away raises `agent.health` adapter_offline, and coming back adapter_online; an adapter whose
thread dies gets the stage restarted (stage_crashed) with its counters kept, and the fusion
stays subscribed to the crossing source exactly once.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from pathlib import Path

import pytest

from edge_agent.clock import SystemClock
from edge_agent.config import parse_config
from edge_agent.daemon.access_stages import AccessNotAvailable, access_stages
from edge_agent.daemon.health import Health
from edge_agent.daemon.supervisor import Supervisor
from edge_agent.events import AlertFactory, ListSink
from tests.support.wait import wait_for
from tests.test_access_common import services_around, write_site_key

CARD = "4010042"


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def bound_below_ephemeral_range() -> socket.socket:
    """A listening socket on a port no client socket can get: while the bridge is away, the
    adapter's reconnects to a port inside the ephemeral range could connect to themselves
    (TCP simultaneous open) and take the port."""
    low, high = ephemeral_range()
    ports = [port for port in range(20000, 32000) if not low <= port <= high]
    for port in random.sample(ports, 50):
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind(("127.0.0.1", port))
        except OSError:
            server.close()
            continue
        return server
    raise RuntimeError("no free port below the ephemeral range")


class Bridge:
    """A TCP server sending JSON lines to whoever connects; can vanish and come back on its port."""

    def __init__(self):
        self.port = 0
        self.clients: list[socket.socket] = []
        self._server: socket.socket | None = None
        self.listen()

    def listen(self) -> None:
        if self.port:
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", self.port))
        else:
            server = bound_below_ephemeral_range()
        server.listen()
        self.port = server.getsockname()[1]
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        try:
            while True:
                client, _ = server.accept()
                self.clients.append(client)
        except OSError:
            return

    def send(self, event: dict) -> None:
        self.clients[-1].sendall(json.dumps(event).encode() + b"\n")

    def vanish(self) -> None:
        try:
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone leaves it listening
        except OSError:
            pass  # already gone
        self._server.close()
        for client in self.clients:
            client.close()
        self.clients.clear()


class CrossingSource:
    def __init__(self):
        self.listeners = []

    def add_crossing_listener(self, listener) -> None:
        self.listeners.append(listener)


def agent_config(tmp_path, bridge_port: int):
    document = {
        "device": {"id": "dev-1", "site": "site-1", "state_dir": str(tmp_path / "state")},
        "cameras": [
            {
                "id": "gate",
                "url": "rtsp://127.0.0.1:8554/gate",
                "lines": {"door-line": {"points": [[0.1, 0.5], [0.9, 0.5]], "in_side": [0.5, 0.9]}},
            }
        ],
        "access": {
            "site_key_file": str(write_site_key(tmp_path)),
            "adapters": [
                {
                    "type": "line_stream",
                    "id": "bridge",
                    "tcp_host": "127.0.0.1",
                    "tcp_port": bridge_port,
                    "default_door": "main-gate",
                    "reconnect_min_delay": 0.1,
                    "reconnect_max_delay": 0.2,
                }
            ],
            "doors": [{"id": "main-gate", "camera_line": {"camera": "gate", "line": "door-line"}}],
        },
    }
    return parse_config(json.dumps(document))


@pytest.fixture
def running(tmp_path):
    bridge = Bridge()
    config = agent_config(tmp_path, bridge.port)
    clock = SystemClock()
    factory = AlertFactory("dev-1", "site-1", clock)
    sink = ListSink()
    source = CrossingSource()
    parts = access_stages(config, services_around(tmp_path, sink, clock), crossings=source)
    supervisor = Supervisor(30.0, 5, 60.0, clock, Health(factory, sink), stop_timeout=2.0)
    supervisor.start(parts.stages.specs)
    yield bridge, parts, supervisor, sink, source
    supervisor.stop()
    bridge.vanish()


def health(sink: ListSink, reason: str) -> list:
    return [a for a in sink.of_type("agent.health") if a.details.reason == reason]


def test_link_loss_and_return_raise_health_alerts_and_a_dead_adapter_is_restarted(running):
    bridge, parts, supervisor, sink, source = running
    [adapter] = parts.service.adapters
    wait_for(lambda: adapter.online and bridge.clients, timeout=5, message="adapter connected")
    bridge.send({"type": "access.granted", "reader": "r1", "card": CARD})
    wait_for(lambda: sink.of_type("access.granted"), timeout=5, message="grant forwarded")
    assert supervisor.check() and parts.adapters()["bridge"]["online"] is True

    bridge.vanish()
    wait_for(lambda: not adapter.online, timeout=5, message="adapter offline")
    supervisor.check()
    # the link flag flips on the adapter's thread before its listener raises the alert: wait for the alert itself
    [offline] = wait_for(lambda: health(sink, "adapter_offline"), timeout=5, message="the adapter_offline alert")
    assert offline.details.extra == {"adapter": "bridge", "adapter_type": "line_stream"}
    assert parts.adapters()["bridge"]["online"] is False

    adapter.stop(1.0)  # its thread ends as if it had crashed
    assert supervisor.check() is False
    assert health(sink, "stage_crashed")[0].details.extra["stage"] == "access"
    assert supervisor.snapshot()["access"]["restarts"] == 1

    bridge.listen()
    wait_for(lambda: adapter.online, timeout=5, message="adapter reconnected after the restart")
    assert supervisor.check()
    assert len(health(sink, "adapter_online")) == 1 and len(health(sink, "adapter_offline")) == 1
    figures = parts.adapters()["bridge"]
    assert figures["events"] == 1 and figures["connects"] == 2  # counters carried across the restart
    assert len(source.listeners) == 1  # the fusion is subscribed once per pipeline, not per start
    assert all(CARD not in alert.model_dump_json() for alert in sink.alerts)


def test_unreadable_site_key_fails_the_build_naming_the_file(tmp_path):
    config = agent_config(tmp_path, 9)
    (tmp_path / "site.key").write_text("too short\n")
    clock = SystemClock()
    with pytest.raises(AccessNotAvailable, match="site key file .*site.key"):
        access_stages(config, services_around(tmp_path, ListSink(), clock))
