"""The `osdp_output` action against libosdp's own peripheral-device side over a pty, secure channel on.

The kind builds OSDP output, LED and buzzer commands; the real OsdpAdapter's control
panel sends them; the PD reports what arrived on the wire. A reader that stopped answering,
a reader that never came online, an item the reader does not have and an unknown adapter
each give a failed Attempt with a clear error, and card reads keep flowing meanwhile.
"""

from __future__ import annotations

import os
import pty
import threading
import tty

import osdp
import pytest

from edge_agent.actions.base import ActionEnv
from edge_agent.actions.osdp_output import OsdpOutputKind, ticks
from edge_agent.clock import SystemClock
from edge_agent.config.actions import OsdpOutputAction
from edge_agent.sources.access import build_adapters
from tests.support.osdp_reader import SCBK, Reader
from tests.support.wait import wait_for
from tests.test_access_common import EventLog, access_config, tokenizer

OUTPUTS, LEDS = 4, 2
CAPABILITIES = osdp.PDCapabilities(
    [
        (osdp.Capability.OutputControl, 1, OUTPUTS),
        (osdp.Capability.LEDControl, 1, LEDS),
        (osdp.Capability.AudibleControl, 1, 1),
    ]
)


@pytest.fixture
def bench(tmp_path):
    """Adapter rs485-a with a live reader at address 1; adapter rs485-b whose reader 1 is not connected."""
    ptys = [pty.openpty() for _ in range(2)]
    for _, slave in ptys:
        tty.setraw(slave)
    scbk_file = tmp_path / "scbk"
    scbk_file.write_text(SCBK.hex())
    reader = {"address": 1, "door": "main-gate", "scbk_file": str(scbk_file)}
    access = access_config(
        tmp_path,
        doors=[{"id": "main-gate"}],
        adapters=[
            {"type": "osdp", "id": adapter_id, "device": os.ttyname(slave), "readers": [reader]}
            for adapter_id, (_, slave) in zip(("rs485-a", "rs485-b"), ptys)
        ],
    )
    events = EventLog()
    adapters = {adapter.id: adapter for adapter in build_adapters(access, events, SystemClock())}
    peripheral = Reader(ptys[0][0], CAPABILITIES)
    for adapter in adapters.values():
        adapter.start()
    try:
        wait_for(lambda: events.of_type("reader.online"), timeout=10, message="reader online over the secure channel")
        yield adapters, ActionEnv(osdp_adapter=adapters.get), peripheral, events
    finally:
        for adapter in adapters.values():
            adapter.stop()
        peripheral.stop()
        for fds in ptys:
            for fd in fds:
                os.close(fd)


def action(**settings) -> OsdpOutputAction:
    return OsdpOutputAction.model_validate(
        {"name": "door-alarm", "kind": "osdp_output", "remote": True, "adapter": "rs485-a", "reader": 1, **settings}
    )


def test_ticks_round_to_100ms_units_and_never_lose_a_short_time():
    assert [ticks(s) for s in (0, 0.01, 0.04, 0.05, 0.15, 2.5, 2.54, 2.55, 25.5)] == [0, 1, 1, 1, 2, 25, 25, 26, 255]


def test_output_commands_arrive_with_number_control_code_and_timer(bench):
    adapters, env, peripheral, _ = bench
    cases = [
        ({"number": 2, "state": "on", "duration": 2.5}, 5, 25),  # temporary on, resume permanent after 2.5 s
        ({"number": 3, "state": "on", "duration": 0}, 2, 0),  # permanent on, abort a timed operation
        ({"number": 3, "state": "off"}, 1, 0),  # permanent off, abort a timed operation
    ]
    for output, control_code, timer in cases:
        attempt = OsdpOutputKind(action(output=output), env).run({}, timeout=3)
        assert attempt.ok, attempt.error
        received = peripheral.next_command()
        assert received == {
            "command": osdp.Command.Output,
            "output_no": output["number"],
            "control_code": control_code,
            "timer_count": timer,
        }
    assert adapters["rs485-a"].counters["commands_sent"] == 3


def test_output_then_led_then_buzzer_arrive_in_order_with_their_fields(bench):
    _, env, peripheral, _ = bench
    config = action(
        output={"number": 0, "duration": 1.0},
        led={"number": 1, "color": "amber", "flash": True, "duration": 3.0},
        buzzer={"on_time": 0.3, "off_time": 0.2, "count": 4},
    )
    attempt = OsdpOutputKind(config, env).run({"event_id": "not used"}, timeout=3)
    assert attempt.ok, attempt.error
    output, led, buzzer = (peripheral.next_command() for _ in range(3))
    assert (output["command"], output["control_code"], output["timer_count"]) == (osdp.Command.Output, 5, 10)
    assert led == {
        "command": osdp.Command.LED,
        "temporary": True,
        "reader": 0,
        "led_number": 1,
        "control_code": 2,
        "on_count": 5,
        "off_count": 5,
        "on_color": osdp.CommandLEDColor.Amber,
        "off_color": osdp.CommandLEDColor.Black,
        "timer_count": 30,
    }
    assert buzzer == {
        "command": osdp.Command.Buzzer,
        "reader": 0,
        "control_code": 2,
        "on_count": 3,
        "off_count": 2,
        "rep_count": 4,
    }

    steady = OsdpOutputKind(action(led={"number": 0, "color": "green", "flash": False, "duration": 0.5}), env)
    assert steady.run({}, timeout=3).ok
    led = peripheral.next_command()
    assert (led["on_color"], led["off_color"], led["off_count"], led["timer_count"]) == (
        osdp.CommandLEDColor.Green,
        osdp.CommandLEDColor.Green,
        0,
        5,
    )


def test_an_item_the_reader_lacks_is_refused_before_it_can_knock_the_reader_offline(bench):
    adapters, env, peripheral, _ = bench
    attempt = OsdpOutputKind(action(output={"number": 0}, led={"number": LEDS}), env).run({}, timeout=3)
    assert not attempt.ok and not attempt.timed_out
    assert "LED 2: adapter rs485-a: LED 2 command" in attempt.error
    assert "reader 1: not sent: the reader reports 2 LED(s) in its capabilities (PDCAP)" in attempt.error
    assert attempt.error.endswith("(already acknowledged: output 0)")
    assert peripheral.next_command()["command"] == osdp.Command.Output
    assert peripheral.pd.get_command(0.3) is None  # the LED command never went out
    # a NAK would have taken the reader offline; it is still answering
    assert OsdpOutputKind(action(buzzer={}), env).run({}, timeout=3).ok
    assert adapters["rs485-a"].online and adapters["rs485-a"].counters["commands_refused"] == 1


def test_a_reader_that_stopped_answering_fails_at_its_own_timeout_not_libosdps(bench):
    adapters, env, peripheral, events = bench
    peripheral.stop()  # libosdp only notices after its poll retries (~8 s): the command is queued, never answered
    attempt = OsdpOutputKind(action(output={"number": 1, "duration": 2.0}), env).run({}, timeout=1.0)
    # the attempt gave up on its own timeout, before libosdp gave up on the reader (no timing: the order)
    offline = [event.reader for event in events.of_type("reader.offline") if event.adapter == "rs485-a"]
    assert offline == [], "the attempt waited for libosdp to declare the reader offline"
    assert not attempt.ok and attempt.timed_out
    assert attempt.error.startswith("output 1: adapter rs485-a: output 1 command (control code 5, timer 20)")
    assert "reader 1: no acknowledgement within 1 s" in attempt.error
    assert "commands still queued for the reader were flushed" in attempt.error
    assert adapters["rs485-a"].counters["commands_timed_out"] == 1


def test_stopping_the_adapter_releases_a_run_waiting_on_it(bench):
    adapters, env, peripheral, _ = bench
    peripheral.stop()
    attempts = []
    sender = threading.Thread(target=lambda: attempts.append(OsdpOutputKind(action(buzzer={}), env).run({}, 30)))
    sender.start()
    wait_for(lambda: len(adapters["rs485-a"]._waiters) == 1, timeout=5, message="the buzzer command in flight")
    adapters["rs485-a"].stop()  # a reload or restart rebuilds adapters; a run on the old one must not hang
    sender.join(timeout=10)
    assert not sender.is_alive()
    [attempt] = attempts
    assert not attempt.ok and not attempt.timed_out
    assert attempt.error.endswith("to reader 1: the control panel stopped")


def test_an_offline_reader_an_unknown_reader_and_an_unknown_adapter_are_refused_at_once(bench):
    adapters, env, _, _ = bench
    offline = OsdpOutputKind(action(adapter="rs485-b", output={"number": 0}), env).run({}, timeout=3)
    assert not offline.ok and not offline.timed_out
    assert (
        offline.error
        == "output 0: adapter rs485-b: output 0 command (control code 5, timer 50) to reader 1: the reader is offline"
    )

    elsewhere = OsdpOutputKind(action(reader=9, output={"number": 0}), env).run({}, timeout=3)
    assert not elsewhere.ok and "to reader 9: no such reader on this adapter (readers: [1])" in elsewhere.error

    missing = OsdpOutputKind(action(adapter="rs485-z", buzzer={}), env).run({}, timeout=3)
    assert (missing.ok, missing.error) == (False, "lookup: no running osdp adapter 'rs485-z'")

    adapters["rs485-a"].stop()
    stopped = OsdpOutputKind(action(buzzer={}), env).run({}, timeout=3)
    assert not stopped.ok and "adapter rs485-a: buzzer command" in stopped.error
    assert stopped.error.endswith("the OSDP control panel is not running")


def test_card_reads_flow_while_commands_are_sent(bench):
    adapters, env, peripheral, events = bench
    kind = OsdpOutputKind(action(led={"number": 0, "duration": 1.0}, buzzer={"count": 1}), env)
    attempts = []

    def send_repeatedly():
        for _ in range(10):
            attempts.append(kind.run({}, timeout=3))

    sender = threading.Thread(target=send_repeatedly)
    sender.start()
    cards = list(range(100, 110))
    for card in cards:
        peripheral.card(18, card)
    reads = wait_for(
        lambda: len(events.of_type("credential.read")) == len(cards) and events.of_type("credential.read"),
        timeout=10,
        message="every card read while commands were being sent",
    )
    sender.join(timeout=30)
    assert not sender.is_alive()
    assert [e.credential_token for e in reads] == [tokenizer().card(str(18 * 65536 + c)) for c in cards]
    assert [a.error for a in attempts if not a.ok] == [] and len(attempts) == 10
    received = [peripheral.next_command()["command"] for _ in range(20)]
    assert received == [osdp.Command.LED, osdp.Command.Buzzer] * 10
    assert adapters["rs485-a"].counters.get("internal_errors") is None


def test_without_completion_reports_a_command_counts_as_sent_once_queued(bench):
    adapters, env, peripheral, _ = bench
    adapters["rs485-a"]._tracks_completion = False  # as with a libosdp older than its completion callback
    assert OsdpOutputKind(action(output={"number": 1, "state": "off"}), env).run({}, timeout=3).ok
    assert peripheral.next_command()["output_no"] == 1
    assert len(adapters["rs485-a"]._waiters) == 0
