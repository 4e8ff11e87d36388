"""`osdp_output` actions in the real daemon, closing the loop at a door while the broker is down.

The agent runs as a subprocess with an `osdp` access adapter on a pty; libosdp's own
PeripheralDevice sits on the other end (secure channel on) as the reader. The door contact
opening with no card read before it becomes door.forced, which sounds the reader's buzzer; a
card read becomes a credential.read alert, which drives output 0 on for 2.5 s and lights an
LED. The reader sees exactly those commands (each action only on its own alert type); the
outbox holds the alerts and an `action` record per run, pointing at its alert; the card number
is nowhere in the outbox or the log. A SIGHUP reload that keeps the adapter and the actions
hands the running adapter to the new pipeline, and the next card read still drives the output
(the action looks the adapter up when it runs). MQTT points at a port where nothing listens
throughout, so the reload runs as on site, with `--no-revert` (else it is reverted, unconfirmed).
"""

from __future__ import annotations

import json
import os
import pty
import signal
import sqlite3
import tty

import osdp
import pytest

from tests.support.actions import schema_problems
from tests.support.broker import free_port
from tests.support.daemon import Daemon, base_config
from tests.support.osdp_reader import SCBK, Reader
from tests.support.wait import wait_for
from tests.test_access_common import tokenizer, write_site_key

FACILITY, CARD = 201, 48879
CARD_NUMBER = str(FACILITY * 65536 + CARD)  # what the reader reads; only its token may leave the adapter
CAPABILITIES = osdp.PDCapabilities(
    [
        (osdp.Capability.OutputControl, 1, 2),
        (osdp.Capability.LEDControl, 1, 1),
        (osdp.Capability.AudibleControl, 1, 1),
        (osdp.Capability.ContactStatusMonitoring, 1, 1),
    ]
)
BASE = "edge/site-1/dev-1"
OUTPUT_ON = {"command": osdp.Command.Output, "output_no": 0, "control_code": 5, "timer_count": 25}
GREEN_LED = {
    "command": osdp.Command.LED,
    "temporary": True,
    "reader": 0,
    "led_number": 0,
    "control_code": 2,
    "on_count": 5,
    "off_count": 0,
    "on_color": osdp.CommandLEDColor.Green,
    "off_color": osdp.CommandLEDColor.Green,
    "timer_count": 30,
}
BUZZER = {"command": osdp.Command.Buzzer, "reader": 0, "control_code": 2, "on_count": 2, "off_count": 2, "rep_count": 3}


@pytest.fixture
def door(tmp_path):
    """(pty slave path, the reader on the master side)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    reader = Reader(master, CAPABILITIES)
    try:
        yield os.ttyname(slave), reader
    finally:
        reader.stop()
        os.close(master)
        os.close(slave)


def agent_config(tmp_path, device: str) -> dict:
    scbk_file = tmp_path / "scbk"
    scbk_file.write_text(SCBK.hex())
    reader = {"address": 1, "door": "main-gate", "scbk_file": str(scbk_file), "door_contact_input": 0}
    on_reader = {"kind": "osdp_output", "adapter": "rs485-a", "reader": 1}
    return base_config(
        tmp_path / "state",
        free_port(),  # nothing listens there: the uplink is down for the whole run
        access={
            "site_key_file": str(write_site_key(tmp_path)),
            "adapters": [{"type": "osdp", "id": "rs485-a", "device": device, "readers": [reader]}],
            "doors": [{"id": "main-gate", "forced_grace": 0}],
            "forward_events": ["credential.read"],  # what a card read becomes (card_read_as)
        },
        actions=[
            {
                "name": "let-in",
                **on_reader,
                "output": {"number": 0, "duration": 2.5},
                "led": {"number": 0, "color": "green", "flash": False, "duration": 3.0},
                "on": [{"type": "credential.read"}],
            },
            {
                "name": "alarm",
                **on_reader,
                "buzzer": {"on_time": 0.2, "off_time": 0.2},
                "on": [{"type": "door.forced"}],
            },
        ],
    )


def outbox_rows(state_dir) -> list[tuple[str, dict, str]]:
    """(topic, payload, state) of every row, oldest first; read-only, so the running daemon may be writing."""
    try:
        with sqlite3.connect(f"file:{state_dir / 'outbox.db'}?mode=ro", uri=True) as connection:
            rows = connection.execute("SELECT topic, payload, state FROM outbox ORDER BY seq").fetchall()
    except sqlite3.Error:
        return []
    return [(topic, json.loads(payload), state) for topic, payload, state in rows]


def payloads(state_dir, suffix: str) -> list[dict]:
    return [payload for topic, payload, _ in outbox_rows(state_dir) if topic == f"{BASE}/{suffix}"]


def test_alerts_drive_the_readers_output_led_and_buzzer_through_the_daemon_and_a_reload(tmp_path, door):
    device, reader = door
    state = tmp_path / "state"
    config = agent_config(tmp_path, device)
    daemon = Daemon(tmp_path / "agent", config, args=("--no-revert",)).start()
    try:
        wait_for(reader.pd.is_sc_active, timeout=30, message="the daemon's control panel on the secure channel")

        reader.door_contact(is_open=True)  # no card read before it: a forced door
        assert reader.commands(1) == [BUZZER]
        reader.door_contact(is_open=False)
        [forced] = wait_for(lambda: payloads(state, "alerts/door.forced"), message="the door.forced alert")

        reader.card(FACILITY, CARD)
        assert reader.commands(2) == [OUTPUT_ON, GREEN_LED]
        wait_for(lambda: payloads(state, "actions/let-in"), message="the let-in record")

        config["access"]["doors"][0]["held_open_after"] = 45.0  # the access section changes; the adapter does not
        daemon.write_config(config)
        daemon.signal(signal.SIGHUP)
        applied = f"config from SIGHUP {daemon.config_path} running (make_before_break)"
        wait_for(lambda: applied in daemon.log(), timeout=20, message="the reload")
        assert "adapters kept running ['rs485-a']" in daemon.log()  # handed over running, not reopened

        reader.card(FACILITY, CARD)
        assert reader.commands(2) == [OUTPUT_ON, GREEN_LED]
        wait_for(lambda: len(payloads(state, "actions/let-in")) == 2, message="the second let-in record")
        assert reader.pd.get_command(0.5) is None  # nothing else: the card reads did not sound the alarm
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()[-3000:]

    rows = outbox_rows(state)
    reads = [payload for topic, payload, _ in rows if topic == f"{BASE}/alerts/credential.read"]
    assert [read["details"]["credential_token"] for read in reads] == [tokenizer().card(CARD_NUMBER)] * 2
    records = {}
    for topic, payload, row_state in rows:
        if "/actions/" in topic:
            assert row_state == "pending" and schema_problems(payload) == []  # kept for the broker
            records.setdefault(topic.rsplit("/", 1)[1], []).append(payload)
    assert sorted(records) == ["alarm", "let-in"]
    for record, alert in zip(records["let-in"] + records["alarm"], reads + [forced], strict=True):
        expected = {"outcome": "ok", "kind": "osdp_output", "trigger": "alert", "attempts": 1}
        assert {key: record.get(key) for key in [*expected, "error"]} == {**expected, "error": None}
        assert (record["alert_event_id"], record["alert_type"]) == (alert["event_id"], alert["type"])

    log = daemon.log()
    assert "Traceback" not in log
    assert CARD_NUMBER not in log
    for path in state.iterdir():  # the outbox, its WAL if any, and whatever else the agent keeps
        if path.is_file():
            assert CARD_NUMBER.encode() not in path.read_bytes(), path.name
