"""OSDP control panel against libosdp's own peripheral-device side over a pty, secure channel on.

Card reads, a keypad entry, a tamper and the door contact travel the real
OSDP protocol (libosdp PD -> pty -> our CP adapter), become normalized door
events, pass the door rules and land in the outbox; the PD going away raises
reader.offline.
"""

from __future__ import annotations

import json
import os
import pty
import tty

import osdp
import pytest

from edge_agent.clock import SystemClock
from edge_agent.config.outbox import OutboxConfig
from edge_agent.credentials import wiegand26
from edge_agent.events import AlertFactory
from edge_agent.rules.door import DoorRules
from edge_agent.sources.access import build_adapters
from edge_agent.sources.access.osdp import FdChannel
from edge_agent.store.outbox import Outbox
from tests.support.wait import wait_for
from tests.test_access_common import EventLog, access_config, tokenizer

SCBK = bytes.fromhex("303132333435363738393a3b3c3d3e3f")
RAW34 = bytes([0x9C, 0x40, 0x3A, 0x5B, 0x80])  # a 34-bit read in an unspecified raw format
RAW34_NUMBER = f"w34:{int.from_bytes(RAW34, 'big') >> 6}"
WIEGAND_FACILITY, WIEGAND_CARD = 18, 4660
WIEGAND_NUMBER = str(WIEGAND_FACILITY * 65536 + WIEGAND_CARD)


CAPABILITIES = osdp.PDCapabilities([(osdp.Capability.ContactStatusMonitoring, 1, 1)])


class Peripheral:
    """libosdp's PD on the master side of the pty."""

    def __init__(self, fd: int, address: int, scbk: bytes):
        info = osdp.PDInfo(address, FdChannel(fd), scbk=scbk, flags=[osdp.LibFlag.EnforceSecure])
        self.pd = osdp.PeripheralDevice(info, CAPABILITIES, log_level=osdp.LogLevel.Warning)
        self.pd.start()

    def submit(self, event: dict) -> None:
        assert self.pd.submit_event(event) is not False

    def stop(self) -> None:
        if self.pd.thread is not None:
            self.pd.stop()


@pytest.fixture
def bench(tmp_path):
    master, slave = pty.openpty()
    tty.setraw(slave)
    scbk_file = tmp_path / "scbk"
    scbk_file.write_text(SCBK.hex())
    access = access_config(
        tmp_path,
        doors=[{"id": "main-gate"}],
        adapters=[
            {
                "type": "osdp",
                "id": "rs485-a",
                "device": os.ttyname(slave),
                "readers": [
                    {
                        "address": 1,
                        "door": "main-gate",
                        "direction": "in",
                        "scbk_file": str(scbk_file),
                        "door_contact_input": 0,
                    }
                ],
            }
        ],
    )
    clock = SystemClock()
    outbox = Outbox(tmp_path / "outbox.db", OutboxConfig(), clock)
    rules = DoorRules(access, AlertFactory("dev-1", "site-1", clock), outbox, clock)
    events = EventLog()

    def on_event(event):
        events(event)
        rules.on_event(event)

    [adapter] = build_adapters(access, on_event, clock)
    peripheral = Peripheral(master, 1, SCBK)
    adapter.start()
    try:
        yield adapter, peripheral, events, outbox
    finally:
        adapter.stop()
        peripheral.stop()
        outbox.close()
        os.close(master)
        os.close(slave)


def stored(outbox: Outbox) -> list[dict]:
    return [json.loads(row.payload) for row in outbox.tail(100)]


def test_card_reads_keypad_and_tamper_reach_the_store_then_offline(bench):
    adapter, peripheral, events, outbox = bench
    wait_for(lambda: events.of_type("reader.online"), timeout=10, message="reader online over the secure channel")
    assert adapter.online and adapter.counters.get("secure_channel_up") == 1

    peripheral.submit(
        {
            "event": osdp.Event.CardRead,
            "reader_no": 0,
            "direction": 0,
            "format": osdp.CardFormat.Wiegand,
            "length": 26,
            "data": wiegand26(WIEGAND_FACILITY, WIEGAND_CARD),
        }
    )
    peripheral.submit(
        {
            "event": osdp.Event.CardRead,
            "reader_no": 0,
            "direction": 0,
            "format": osdp.CardFormat.Unspecified,
            "length": 34,
            "data": RAW34,
        }
    )
    peripheral.submit({"event": osdp.Event.KeyPress, "reader_no": 0, "data": b"1234\x0d"})
    peripheral.submit(
        {"event": osdp.Event.Status, "type": osdp.StatusReportType.Local, "nr_entries": 2, "report": bytes([1, 0])}
    )
    peripheral.submit(
        {"event": osdp.Event.Status, "type": osdp.StatusReportType.Input, "nr_entries": 1, "report": bytes([1])}
    )
    wait_for(lambda: events.of_type("door.opened") and events.of_type("tamper"), timeout=10, message="status reports")

    reads = events.of_type("credential.read")
    assert [e.credential_token for e in reads] == [tokenizer().card(WIEGAND_NUMBER), tokenizer().card(RAW34_NUMBER)]
    assert all((e.door, e.reader, e.direction) == ("main-gate", "rs485-a-1", "in") for e in reads)
    assert reads[0].raw == {"osdp_event": "card_read", "format": "wiegand", "bits": 26}
    [keypad] = events.of_type("keypad")
    assert keypad.credential_token == tokenizer().pin("1234")

    alerts = stored(outbox)
    by_type = {}
    for alert in alerts:
        by_type.setdefault(alert["type"], []).append(alert)
    assert [a["details"]["credential_token"] for a in by_type["credential.read"]] == [e.credential_token for e in reads]
    [tamper] = by_type["tamper"]
    assert (tamper["severity"], tamper["source"]) == ("critical", {"kind": "door", "id": "main-gate"})
    assert tamper["details"]["reader"] == "rs485-a-1"
    raw_db = outbox.path.read_bytes()
    for secret in (str(int.from_bytes(RAW34, "big") >> 6), WIEGAND_NUMBER):
        assert secret.encode() not in raw_db

    peripheral.stop()  # the reader goes away: libosdp gives up after its poll retries (~8 s)
    wait_for(lambda: events.of_type("reader.offline"), timeout=20, message="reader.offline after the PD stopped")
    assert not adapter.online
    offline = wait_for(  # the door event is seen before its alert's commit returns
        lambda: [a for a in stored(outbox) if a["type"] == "reader.offline"], timeout=10, message="stored"
    )
    assert [(a["phase"], a["severity"], a["details"]["reader"]) for a in offline] == [("start", "major", "rs485-a-1")]


def test_malformed_osdp_events_are_counted_not_raised(bench):
    adapter, _, events, _ = bench
    reader = adapter.readers[0]
    adapter._on_osdp_event(
        0, {"event": osdp.Event.CardRead, "format": osdp.CardFormat.Wiegand, "length": 26, "data": b"\x01"}
    )
    adapter._on_osdp_event(0, {"event": osdp.Event.KeyPress, "data": b"12\x05"})
    adapter._on_osdp_event(0, {"event": 99})
    assert adapter.counters["rejected.invalid_event"] == 2
    assert adapter.counters["rejected.unmapped_event"] == 1
    assert reader.keys == []
    assert not events.of_type("credential.read")
