"""Line stream adapter against a real TCP server and a pty standing in for a serial port."""

from __future__ import annotations

import json
import os
import pty
import socket
import threading
import tty

import pytest

from edge_agent.clock import SystemClock
from edge_agent.config.access_adapters import LineStreamAdapterConfig
from edge_agent.sources.access.line_stream import LineSplitter, LineStreamAdapter
from tests.support.wait import wait_for
from tests.test_access_common import EventLog, tokenizer


class LineServer:
    """A TCP server the adapter connects to; the test writes lines to the current client."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.clients: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.clients.append(client)

    def send(self, data: bytes) -> None:
        self.clients[-1].sendall(data)

    def drop_client(self) -> None:
        self.clients[-1].close()

    def close(self) -> None:
        self.listener.close()
        for client in self.clients:
            client.close()


@pytest.fixture
def server():
    srv = LineServer()
    yield srv
    srv.close()


def make_adapter(**fields):
    config = LineStreamAdapterConfig.model_validate(
        {
            "type": "line_stream",
            "id": "wiegand-1",
            "default_door": "main-gate",
            "reconnect_min_delay": 0.05,
            "reconnect_max_delay": 0.4,
            "max_line_bytes": 256,
            **fields,
        }
    )
    events = EventLog()
    return LineStreamAdapter(config, events, SystemClock(), tokenizer()), events


def line(**event) -> bytes:
    return json.dumps(event).encode() + b"\n"


def test_tcp_lines_become_events_and_bad_lines_are_counted(server):
    adapter, events = make_adapter(tcp_host="127.0.0.1", tcp_port=server.port)
    adapter.start()
    try:
        wait_for(lambda: server.clients and adapter.online, message="adapter connected")
        server.send(
            line(type="access.granted", card="555000111", direction="in")
            + b"not json\r\n"
            + b'{"type": "access.gra'
            + b'nted", "pin": "4321"}\r\n'
            + b"\xc3\x28\n"
            + b"x" * 600
            + b"\n"
            + line(type="door.opened", door="side-door")
        )
        wait_for(lambda: len(events) == 3, message="three good events")
        assert [e.type for e in events.events] == ["access.granted", "access.granted", "door.opened"]
        assert events.events[0].credential_token == tokenizer().card("555000111")
        assert events.events[1].credential_token == tokenizer().pin("4321")
        assert events.events[2].door == "side-door"
        counters = adapter.counters
        assert counters["rejected.malformed"] == 2 and counters["rejected.oversized"] == 1
    finally:
        adapter.stop()
    assert not adapter.alive()


def test_reconnects_with_backoff_after_the_server_drops_it(server):
    adapter, events = make_adapter(tcp_host="127.0.0.1", tcp_port=server.port)
    adapter.start()
    try:
        wait_for(lambda: len(server.clients) == 1 and adapter.online, message="first connection")
        server.drop_client()
        wait_for(lambda: len(server.clients) == 2, message="reconnected")
        wait_for(lambda: adapter.online, message="online again")
        server.send(line(type="exit_request"))
        wait_for(lambda: len(events) == 1, message="event after reconnect")
        assert adapter.counters["disconnects"] == 1 and adapter.counters["connects"] == 2
    finally:
        adapter.stop()


def test_unreachable_server_is_retried_and_reported_offline():
    port = socket.create_server(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    adapter, _ = make_adapter(tcp_host="127.0.0.1", tcp_port=free)
    adapter.start()
    try:
        wait_for(lambda: adapter.counters.get("connect_failures", 0) >= 3, message="repeated attempts")
        assert not adapter.online and adapter.alive()
        assert adapter.snapshot()["online"] is False
    finally:
        adapter.stop()


def test_serial_device_via_pty():
    master, slave = pty.openpty()
    tty.setraw(slave)
    adapter, events = make_adapter(serial_device=os.ttyname(slave), baud=19200)
    adapter.start()
    try:
        wait_for(lambda: adapter.online, message="serial opened")
        os.write(master, line(type="access.denied", card="777", reason="expired"))
        wait_for(lambda: len(events) == 1, message="event over the pty")
        assert (events.events[0].type, events.events[0].reason) == ("access.denied", "expired")
    finally:
        adapter.stop()
        os.close(master)
        os.close(slave)


def test_splitter_handles_lines_split_across_reads():
    splitter = LineSplitter(limit=16)
    assert splitter.feed(b'{"a":') == []
    assert splitter.feed(b'1}\n{"b"') == [b'{"a":1}']
    out = splitter.feed(b"x" * 40)
    assert len(out) == 1 and out[0].reason == "oversized"
    assert splitter.feed(b"tail\n{}\n") == [b"{}"]
