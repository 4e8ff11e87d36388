"""Privacy: after a scenario with known card numbers, they appear in no stored, logged or published byte.

Card numbers and PINs enter over every adapter (OSDP from libosdp's PD, HTTP
push in generic and Hikvision form, a TCP line stream), including in bad
input that is refused, and in a welfare watch configured by card number. The
events pass the door rules and the tailgating fusion into the outbox; the
publisher sends them to a real mosquitto where a subscriber records them.
Then the SQLite files (with the -wal as it stood before close), all log output
(Python logging, a JSON log file as the daemon writes it, libosdp's stderr),
the text of every rejection and every HTTP reply, and every published payload
are scanned for the numbers and the PIN.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import pty
import random
import socket
import time
import tty

import osdp
import pytest

from edge_agent.access.service import AccessService
from edge_agent.clock import SystemClock
from edge_agent.config.mqtt import MqttConfig, ReconnectConfig
from edge_agent.config.outbox import OutboxConfig
from edge_agent.credentials import wiegand26
from edge_agent.events import AlertFactory, Topics
from edge_agent.logs import JsonFormatter
from edge_agent.publish import Publisher
from edge_agent.sources.access.osdp import FdChannel
from edge_agent.sources.access.signing import sign
from edge_agent.store import Outbox
from tests.support.broker import Recorder
from tests.support.wait import wait_for
from tests.test_access_common import access_config, tokenizer

DEVICE, SITE = "dev-privacy", "site-p"
SECRET = b"privacy push secret"
SCBK = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
HTTP_CARD, DENIED_CARD, LINE_CARD, HIK_CARD, REFUSED_CARD, WELFARE_CARD = (
    "5550001234",
    "5550004321",
    "00777123456",
    "6660012345",
    "5550009999",
    "8880055555",
)
OSDP_FACILITY, OSDP_CARD = 201, 54321
OSDP_NUMBER = str(OSDP_FACILITY * 65536 + OSDP_CARD)
PIN = "80417365"  # long enough not to turn up by chance in hex ids and tokens
SECRETS = [HTTP_CARD, DENIED_CARD, LINE_CARD, LINE_CARD.lstrip("0"), HIK_CARD, REFUSED_CARD, WELFARE_CARD, OSDP_NUMBER]


@pytest.fixture
def line_server():
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener
    listener.close()


REPLIES: list[bytes] = []  # every HTTP reply body of the test, scanned like the logs


def post(port, body: bytes, path="/events"):
    stamp = str(int(time.time()))
    headers = {"X-Timestamp": stamp, "X-Signature": sign(SECRET, stamp, body), "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        REPLIES.append(response.read())
        return response.status
    finally:
        connection.close()


def record_rejections(adapters) -> list[str]:
    """The text of every rejection the adapters make (the log shows only the first of a burst)."""
    texts: list[str] = []
    for adapter in adapters:

        def recording(error, reject=adapter.reject):
            texts.append(str(error))
            reject(error)

        adapter.reject = recording
    return texts


def scenario_access(tmp_path, serial_device: str, line_port: int):
    (tmp_path / "push.secret").write_bytes(SECRET)
    (tmp_path / "scbk").write_text(SCBK.hex())
    auth = {"hmac_secret_file": str(tmp_path / "push.secret")}
    return access_config(
        tmp_path,
        doors=[{"id": "main-gate", "camera_line": {"camera": "entrance", "line": "door"}}, {"id": "side-door"}],
        welfare=[{"name": "resident-7", "card_numbers": [WELFARE_CARD], "max_silence_hours": 24}],
        forward_events=["access.granted", "access.denied", "credential.read", "keypad"],  # the PIN's token too
        adapters=[
            {"type": "http_push", "id": "push", "port": 0, "default_door": "main-gate", "auth": auth},
            {
                "type": "http_push",
                "id": "hik",
                "port": 0,
                "format": "hikvision",
                "hikvision_doors": {1: "side-door"},
                "path": "/ISAPI/event",
                "auth": auth,
            },
            {
                "type": "line_stream",
                "id": "wiegand",
                "tcp_host": "127.0.0.1",
                "tcp_port": line_port,
                "default_door": "side-door",
                "reconnect_min_delay": 0.05,
            },
            {
                "type": "osdp",
                "id": "bus",
                "device": serial_device,
                "readers": [{"address": 3, "door": "main-gate", "scbk_file": str(tmp_path / "scbk")}],
            },
        ],
    )


def drive_scenario(adapters, line_client, pd) -> None:
    """Good and bad input carrying the card numbers, over every adapter."""
    push, hik, line, bus = adapters
    assert post(push.port, json.dumps({"type": "access.granted", "card": HTTP_CARD, "direction": "in"}).encode()) == 200
    for seq in range(3):  # distinct bodies: an identical signed request is a replay
        assert (
            post(
                push.port,
                json.dumps(
                    {
                        "type": "access.denied",
                        "card": DENIED_CARD,
                        "codes": {"seq": seq},
                        "reason": "unknown_card",
                        "reader": "r1",
                    }
                ).encode(),
            )
            == 200
        )
    assert (
        post(push.port, json.dumps({"type": "access.granted", "card": REFUSED_CARD, "cardNo": REFUSED_CARD}).encode())
        == 400
    )
    assert post(push.port, ('{"type": "access.granted", "card": "' + REFUSED_CARD).encode()) == 400
    hik_body = {
        "eventType": "AccessControllerEvent",
        "dateTime": "2026-01-01T08:00:00+08:00",
        "AccessControllerEvent": {
            "majorEventType": 1,
            "subEventType": 0x40A,
            "doorNo": 1,
            "cardReaderNo": 1,
            "cardNo": HIK_CARD,
            "name": "A Resident",
        },
    }
    assert post(hik.port, json.dumps(hik_body).encode(), "/ISAPI/event") == 200
    line_client.sendall(
        json.dumps({"type": "access.granted", "card": LINE_CARD}).encode()
        + b"\n"
        + json.dumps({"type": "keypad", "pin": PIN}).encode()
        + b"\n"
        + json.dumps({"type": "keypad", "pin": PIN, "door": 7.5}).encode()
        + b"\n"
        + json.dumps({"type": "keypad", "pin": PIN + "x"}).encode()
        + b"\n"
        + ('{"type": "access.granted", "card": "' + REFUSED_CARD + '", "door": 7.5}\n').encode()
        + json.dumps({"type": "credential.read", "card": WELFARE_CARD}).encode()
        + b"\n"
    )
    wait_for(lambda: bus.online, timeout=10, message="OSDP reader online")
    pd.submit_event(
        {
            "event": osdp.Event.CardRead,
            "reader_no": 0,
            "direction": 0,
            "format": osdp.CardFormat.Wiegand,
            "length": 26,
            "data": wiegand26(OSDP_FACILITY, OSDP_CARD),
        }
    )
    wait_for(
        lambda: line.counters.get("events") == 3 and bus.counters.get("events", 0) >= 2, message="line and OSDP events"
    )


EXPECTED_PUBLISHED = {
    "access.granted": 2,
    "access.denied": 3,
    "access.denied_burst": 1,
    "duress": 1,
    "credential.read": 2,
    "keypad": 1,
}


def test_card_numbers_never_reach_the_store_logs_or_broker(tmp_path, mosquitto, line_server, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    REPLIES.clear()
    log_file = logging.FileHandler(tmp_path / "agent.log")  # what the daemon writes, with extras and tracebacks
    log_file.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(log_file)
    master, slave = pty.openpty()
    tty.setraw(slave)
    access = scenario_access(tmp_path, os.ttyname(slave), line_server.getsockname()[1])
    clock = SystemClock()
    outbox = Outbox(tmp_path / "outbox.db", OutboxConfig(), clock, topic_prefix="edge")
    recorder = Recorder(mosquitto.port, "edge/#").start()
    publisher = Publisher(
        MqttConfig(port=mosquitto.port, reconnect=ReconnectConfig(min_delay=0.05, max_delay=0.3)),
        outbox,
        Topics("edge", SITE, DEVICE),
        DEVICE,
        "test",
        clock,
        rng=random.Random(1),
    )
    service = AccessService(access, AlertFactory(DEVICE, SITE, clock), outbox, clock)
    rejections = record_rejections(service.adapters)
    pd = osdp.PeripheralDevice(
        osdp.PDInfo(3, FdChannel(master), scbk=SCBK, flags=[osdp.LibFlag.EnforceSecure]),
        osdp.PDCapabilities([]),
        log_level=osdp.LogLevel.Debug,
    )
    try:
        publisher.start()
        pd.start()
        service.start()
        client, _ = line_server.accept()
        with client:
            drive_scenario(service.adapters, client, pd)

            def published_all():
                types = [p["type"] for p in recorder.payloads()]
                return all(types.count(t) == n for t, n in EXPECTED_PUBLISHED.items())

            wait_for(published_all, timeout=15, message="alerts published")
            wal = tmp_path / "outbox.db-wal"
            before_close = {
                path.name: path.read_bytes() for path in tmp_path.glob("outbox.db*")
            }  # close folds the WAL in
    finally:
        service.stop()
        if pd.thread is not None:
            pd.stop()
        publisher.stop()
        recorder.stop()
        outbox.close()
        os.close(master)
        os.close(slave)
        logging.getLogger().removeHandler(log_file)
        log_file.close()
    assert before_close.get(wal.name), "the outbox had no -wal to scan"
    stored = b"".join(before_close.values()) + b"".join(path.read_bytes() for path in tmp_path.glob("outbox.db*"))
    assert_no_card_numbers(stored, recorder, caplog, capfd, (tmp_path / "agent.log").read_text(), rejections)


def assert_no_card_numbers(stored: bytes, recorder, caplog, capfd, log_file: str, rejections: list[str]) -> None:
    payloads = recorder.payloads()
    tokens = {p["details"].get("credential_token") for p in payloads} - {None}
    for card in (HTTP_CARD, OSDP_NUMBER, WELFARE_CARD, HIK_CARD, LINE_CARD):
        assert tokenizer().card(card) in tokens  # the events made it through, as tokens
    assert tokenizer().pin(PIN) in tokens
    published = b"".join(topic.encode() + payload for topic, payload, *_ in recorder.snapshot())
    captured = capfd.readouterr()
    logged = "\n".join(record.getMessage() for record in caplog.records) + caplog.text + captured.err + captured.out
    refused = "\n".join(rejections) + b"\n".join(REPLIES).decode()
    assert "rejected input" in logged and "rejected input" in log_file
    assert len(rejections) >= 5 and len(REPLIES) >= 6 and len(stored) > 0 and len(published) > 0
    for secret in [*SECRETS, PIN]:
        assert secret.encode() not in stored, f"{secret} in the SQLite files"
        assert secret.encode() not in published, f"{secret} in a published payload"
        assert secret not in logged, f"{secret} in the logs"
        assert secret not in log_file, f"{secret} in the log file"
        assert secret not in refused, f"{secret} in a rejection's text or an HTTP reply"
    assert b"A Resident" not in stored + published
