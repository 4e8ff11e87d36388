"""An access adapter that cannot start runs offline and is retried; nothing else waits on it.

An OSDP bus configured on a serial device that is not there yet (a path in tmp standing in for
an unplugged USB-RS485 dongle): the access stage starts, the HTTP push adapter next to it
serves, the OSDP adapter reports offline with the reason and raises adapter_offline once. Then
the "dongle" is plugged in (a pty with libosdp's PD on the other side, symlinked to that path)
and the adapter comes online by retry, reads cards and raises adapter_online. Stop ends
everything, also an adapter mid-retry; the retry delay grows with full jitter up to its cap.
"""

from __future__ import annotations

import http.client
import json
import os
import pty
import socket
import tty

import osdp
import pytest

from edge_agent.access.service import AccessService
from edge_agent.clock import FakeClock, SystemClock
from edge_agent.config import parse_config
from edge_agent.config.access_adapters import LineStreamAdapterConfig
from edge_agent.credentials import wiegand26
from edge_agent.daemon.access_stages import access_stages
from edge_agent.daemon.health import Health
from edge_agent.daemon.supervisor import Supervisor
from edge_agent.events import AlertFactory, ListSink
from edge_agent.sources.access.line_stream import LineStreamAdapter
from tests.support.wait import wait_for
from tests.test_access_common import EventLog, access_config, services_around, tokenizer, write_site_key
from tests.test_osdp import SCBK, Peripheral

CARD_FACILITY, CARD_NUMBER = 18, 4660


def osdp_adapter(device, scbk_file) -> dict:
    return {
        "type": "osdp",
        "id": "rs485-a",
        "device": str(device),
        "readers": [{"address": 1, "door": "main-gate", "scbk_file": str(scbk_file)}],
    }


def agent_config(tmp_path, device):
    scbk_file = tmp_path / "scbk"
    scbk_file.write_text(SCBK.hex())
    document = {
        "device": {"id": "dev-1", "site": "site-1", "state_dir": str(tmp_path / "state")},
        "access": {
            "site_key_file": str(write_site_key(tmp_path)),
            "retry_min_delay": 0.1,
            "retry_max_delay": 0.4,
            "adapters": [
                osdp_adapter(device, scbk_file),
                {
                    "type": "http_push",
                    "id": "push",
                    "port": 0,
                    "default_door": "main-gate",
                    "auth": {"allow_unauthenticated": True},
                },
            ],
            "doors": [{"id": "main-gate"}],
        },
    }
    return parse_config(json.dumps(document))


def health(sink: ListSink, reason: str) -> list:
    return [a for a in sink.of_type("agent.health") if a.details.reason == reason]


def post_grant(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        body = json.dumps({"type": "access.granted", "reader": "r9"}).encode()
        connection.request("POST", "/events", body=body, headers={"Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.fixture
def stage(tmp_path):
    device = tmp_path / "ttyUSB0"
    clock = SystemClock()
    factory = AlertFactory("dev-1", "site-1", clock)
    sink = ListSink()
    parts = access_stages(agent_config(tmp_path, device), services_around(tmp_path, sink, clock))
    supervisor = Supervisor(30.0, 5, 60.0, clock, Health(factory, sink), stop_timeout=2.0)
    supervisor.start(parts.stages.specs)
    yield device, parts, supervisor, sink
    supervisor.stop()


def test_missing_serial_device_leaves_the_adapter_offline_until_it_appears(stage):
    device, parts, supervisor, sink = stage
    bus, push = parts.service.adapters
    wait_for(lambda: supervisor.check() and health(sink, "adapter_offline"), timeout=5, message="adapter_offline alert")
    [offline] = health(sink, "adapter_offline")
    assert (
        offline.details.extra["adapter"] == "rs485-a" and "No such file or directory" in offline.details.extra["error"]
    )
    assert str(device) in offline.details.message
    figures = parts.adapters()
    assert figures["rs485-a"]["online"] is False and "No such file or directory" in figures["rs485-a"]["last_error"]
    assert "next_start_in_s" in figures["rs485-a"]
    assert figures["push"]["online"] is True and figures["push"]["last_error"] is None
    assert post_grant(push.port) == 200  # the other adapter serves meanwhile
    wait_for(lambda: sink.of_type("access.granted"), timeout=5, message="grant through the push adapter")
    wait_for(lambda: bus.counters.get("start_failures", 0) >= 3, timeout=10, message="start retried")
    assert supervisor.check() and parts.service.alive()
    assert supervisor.snapshot()["access"]["restarts"] == 0
    assert len(health(sink, "adapter_offline")) == 1  # once, not per attempt

    master, slave = pty.openpty()
    tty.setraw(slave)
    peripheral = Peripheral(master, 1, SCBK)
    try:
        device.symlink_to(os.ttyname(slave))  # the dongle is plugged in
        wait_for(
            lambda: supervisor.check() and health(sink, "adapter_online"),
            timeout=20,
            message="adapter online by retry over the secure channel",
        )
        assert bus.online and bus.last_error is None and parts.service.retrying() == set()
        assert "next_start_in_s" not in parts.adapters()["rs485-a"]
        peripheral.submit(
            {
                "event": osdp.Event.CardRead,
                "reader_no": 0,
                "direction": 0,
                "format": osdp.CardFormat.Wiegand,
                "length": 26,
                "data": wiegand26(CARD_FACILITY, CARD_NUMBER),
            }
        )
        [read] = wait_for(lambda: sink.of_type("credential.read"), timeout=10, message="card read after the retry")
        assert read.details.credential_token == tokenizer().card(str(CARD_FACILITY * 65536 + CARD_NUMBER))
        assert supervisor.check() and supervisor.snapshot()["access"]["restarts"] == 0
        assert len(health(sink, "adapter_offline")) == 1 and len(health(sink, "adapter_online")) == 1
    finally:
        supervisor.stop()
        peripheral.stop()
        os.close(master)
        os.close(slave)
    assert not bus.alive() and not push.alive() and not parts.service.alive()


def test_stop_ends_an_adapter_mid_retry(tmp_path):
    scbk_file = tmp_path / "scbk"
    scbk_file.write_text(SCBK.hex())
    access = access_config(
        tmp_path,
        doors=[{"id": "main-gate"}],
        retry_min_delay=0.05,
        retry_max_delay=0.1,
        adapters=[osdp_adapter(tmp_path / "ttyUSB0", scbk_file)],
    )
    clock = SystemClock()
    service = AccessService(access, AlertFactory("dev", "site", clock), ListSink(), clock, tick_interval=0.05)
    service.start()
    [bus] = service.adapters
    try:
        wait_for(lambda: bus.counters.get("start_failures", 0) >= 2, timeout=5, message="retrying")
        assert service.alive() and service.retrying() == {"rs485-a"}
    finally:
        service.stop(2.0)
    assert not service.alive() and service.retrying() == set()
    assert not service._retry_thread.is_alive() and not bus.alive()


def test_retry_delay_grows_with_jitter_up_to_the_cap_on_the_injected_clock(tmp_path):
    taken = socket.create_server(("127.0.0.1", 0))
    access = access_config(
        tmp_path,
        doors=[{"id": "main-gate"}],
        retry_min_delay=1.0,
        retry_max_delay=8.0,
        adapters=[
            {"type": "http_push", "id": "push", "port": taken.getsockname()[1], "auth": {"allow_unauthenticated": True}}
        ],
    )
    clock = FakeClock()
    service = AccessService(access, AlertFactory("dev", "site", clock), ListSink(), clock, tick_interval=0.05)
    service.start()
    [push] = service.adapters
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # of the delay after the 1st, 2nd, ... failure
    try:
        assert push.counters["start_failures"] == 1 and "Address already in use" in push.last_error
        for failures in range(1, 6):
            waiting = service.snapshot()["push"]["next_start_in_s"]
            assert 0 < waiting <= ceilings[failures - 1]
            clock.advance(waiting + 0.01)
            wait_for(
                lambda failures=failures: push.counters["start_failures"] == failures + 1,
                timeout=5,
                message=f"attempt {failures + 1} once the fake clock passed the delay",
            )
        taken.close()
        clock.advance(service.snapshot()["push"]["next_start_in_s"] + 0.01)
        wait_for(lambda: push.online, timeout=5, message="started once the port is free")
        assert push.last_error is None and service.retrying() == set() and service.alive()
    finally:
        service.stop(2.0)
        taken.close()


def test_line_stream_on_a_serial_device_plugged_in_later(tmp_path):
    device = tmp_path / "ttyACM0"
    config = LineStreamAdapterConfig.model_validate(
        {
            "type": "line_stream",
            "id": "bridge",
            "serial_device": str(device),
            "default_door": "main-gate",
            "reconnect_min_delay": 0.05,
            "reconnect_max_delay": 0.2,
        }
    )
    events = EventLog()
    adapter = LineStreamAdapter(config, events, SystemClock(), tokenizer())
    adapter.start()
    master, slave = pty.openpty()
    tty.setraw(slave)
    try:
        wait_for(lambda: adapter.counters.get("connect_failures", 0) >= 2, timeout=5, message="device missing")
        assert not adapter.online and adapter.alive()
        device.symlink_to(os.ttyname(slave))
        wait_for(lambda: adapter.online, timeout=5, message="serial opened once present")
        os.write(master, json.dumps({"type": "access.denied", "card": "777", "reason": "expired"}).encode() + b"\n")
        wait_for(lambda: len(events) == 1, timeout=5, message="event over the late device")
    finally:
        adapter.stop()
        os.close(master)
        os.close(slave)
