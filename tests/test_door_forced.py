"""door.forced inferred from a door contact: covers before and just after the opening, the controller's own
door.forced never doubling it (either order), per-door settings, and the alert reaching the outbox from a real
HTTP push adapter."""

from __future__ import annotations

import http.client
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from edge_agent.access.service import AccessService
from edge_agent.clock import FakeClock, SystemClock, iso_utc
from edge_agent.config.outbox import OutboxConfig
from edge_agent.events import AlertFactory, DoorEvent, ListSink
from edge_agent.rules.door import DoorRules
from edge_agent.store.outbox import Outbox
from tests.support.wait import wait_for
from tests.test_access_common import access_config, tokenizer

TZ = "Asia/Singapore"
NINE_AM = datetime(2026, 1, 1, 9, 0, tzinfo=ZoneInfo(TZ)).timestamp()  # a Thursday
DOOR = {"id": "main-gate", "allowed": [{"start": "06:00", "end": "22:00"}]}  # defaults: window 8 s, grace 2 s


@pytest.fixture
def setup(tmp_path):
    def make(clock_at=NINE_AM, **door_fields):
        clock = FakeClock(wall=clock_at)
        access = access_config(tmp_path, doors=[{**DOOR, **door_fields}])
        sink = ListSink()
        return DoorRules(access, AlertFactory("dev-1", "site-1", clock), sink, clock, TZ), sink, clock

    return make


def ev(clock, event_type, door="main-gate", **fields):
    return DoorEvent(type=event_type, door=door, adapter="osdp-1", edge_time=clock.wall(), **fields)


def after(rules, clock, seconds):
    """Let `seconds` pass, ticking every half second as the daemon's tick thread would."""
    for _ in range(int(seconds * 2)):
        clock.advance(0.5)
        rules.tick()


def test_contact_opening_with_nothing_before_it_is_an_inferred_forced_door(setup):
    rules, sink, clock = setup()
    opened_at = clock.wall()
    rules.on_event(ev(clock, "door.opened", reader="r1", raw={"osdp_input": 0}))
    after(rules, clock, 1.5)
    assert not sink.of_type("door.forced")  # still within the grace for a late grant
    after(rules, clock, 1)
    [alert] = sink.of_type("door.forced")
    assert (alert.severity.value, alert.phase, alert.source.id) == ("major", "instant", "main-gate")
    assert alert.details.extra["inferred"] is True and alert.details.reason == "opened_without_grant"
    assert alert.details.extra["codes"] == {"osdp_input": 0} and alert.details.reader == "r1"
    assert alert.started_at == iso_utc(opened_at)  # when it opened, not when it was judged
    after(rules, clock, 30)
    assert len(sink.of_type("door.forced")) == 1 and rules.forced.inferred == 1


@pytest.mark.parametrize("cover", ["access.granted", "exit_request", "door.released", "credential.read", "keypad"])
def test_a_cover_within_the_window_before_the_opening_means_no_alert(setup, cover):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, cover))
    clock.advance(7.5)  # window 8 s
    rules.on_event(ev(clock, "door.opened"))
    after(rules, clock, 10)
    assert not sink.of_type("door.forced") and rules.forced.inferred == 0


def test_a_cover_older_than_the_window_or_a_denial_does_not_cover(setup):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, "access.granted"))
    clock.advance(8.5)
    rules.on_event(ev(clock, "access.denied", reason="unknown_card"))
    rules.on_event(ev(clock, "door.opened"))
    after(rules, clock, 3)
    [alert] = sink.of_type("door.forced")
    assert alert.details.extra["inferred"] is True


def test_a_grant_arriving_within_the_grace_after_the_opening_covers_it(setup):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, "door.opened"))
    after(rules, clock, 1.5)
    rules.on_event(ev(clock, "access.granted"))  # the panel posts its grant after our contact input changed
    after(rules, clock, 10)
    assert not sink.of_type("door.forced")


def test_a_grant_later_than_the_grace_is_too_late(setup):
    rules, sink, clock = setup(forced_grace=1.0)
    rules.on_event(ev(clock, "door.opened"))
    after(rules, clock, 1)
    assert len(sink.of_type("door.forced")) == 1  # judged once the shorter grace is over
    rules.on_event(ev(clock, "access.granted"))
    after(rules, clock, 10)
    assert len(sink.of_type("door.forced")) == 1  # an alert gone out is not taken back


def test_times_are_when_events_occurred_with_the_doors_clock_offset(setup):
    rules, sink, clock = setup(clock_offset=30.0)  # the panel's clock is 30 s behind ours
    now = clock.wall()
    # After an outage the panel posts what it buffered: a grant 60 s ago (its clock), then our contact
    # input reports the door that opened then, and an opening 20 s later that nothing covers.
    rules.on_event(ev(clock, "access.granted", device_time=now - 90))
    rules.on_event(ev(clock, "door.opened", device_time=now - 88))
    rules.on_event(ev(clock, "door.closed", device_time=now - 85))
    rules.on_event(ev(clock, "door.opened", device_time=now - 68))
    after(rules, clock, 3)
    [alert] = sink.of_type("door.forced")
    assert alert.details.extra["device_time"] == iso_utc(now - 68)


def test_controller_forced_within_the_grace_replaces_the_inference(setup):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, "door.opened"))
    clock.advance(0.4)
    rules.on_event(ev(clock, "door.forced", raw={"major": 5, "minor": 0x1B}))
    after(rules, clock, 10)
    [alert] = sink.of_type("door.forced")
    assert "inferred" not in alert.details.extra and rules.forced.merged == 1


def test_controller_forced_before_the_contact_opening_leaves_nothing_to_infer(setup):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, "door.forced"))
    clock.advance(0.3)
    rules.on_event(ev(clock, "door.opened"))
    after(rules, clock, 10)
    [alert] = sink.of_type("door.forced")
    assert "inferred" not in alert.details.extra


def test_controller_forced_arriving_after_the_inferred_alert_is_not_raised_again(setup):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, "door.opened"))
    after(rules, clock, 2.5)
    [inferred] = sink.of_type("door.forced")
    clock.advance(2)  # a lagging feed: the controller's alarm for the same opening
    rules.on_event(ev(clock, "door.forced"))
    assert sink.of_type("door.forced") == [inferred] and rules.forced.merged == 1
    rules.on_event(ev(clock, "door.closed"))
    clock.advance(60)  # a later forced opening the controller reports is its own alert again
    rules.on_event(ev(clock, "door.forced"))
    rules.on_event(ev(clock, "door.opened"))
    after(rules, clock, 10)
    first, second = sink.of_type("door.forced")
    assert first is inferred and "inferred" not in second.details.extra


def test_infer_forced_off_for_a_door(setup):
    rules, sink, clock = setup(infer_forced=False)
    rules.on_event(ev(clock, "door.opened"))
    after(rules, clock, 10)
    rules.on_event(ev(clock, "door.closed"))
    rules.on_event(ev(clock, "door.forced"))  # the controller's own still passes through
    assert [a.details.extra.get("inferred") for a in sink.of_type("door.forced")] == [None]


def test_an_unconfigured_door_is_not_inferred(setup):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, "door.opened", door="back-gate"))
    after(rules, clock, 10)
    assert not sink.of_type("door.forced") and rules.unknown_doors == 1


def test_like_other_door_alarms_no_schedule_and_no_cooldown_one_alert_per_opening(setup):
    rules, sink, clock = setup(clock_at=NINE_AM + 14 * 3600)  # 23:00, outside the allowed hours
    rules.on_event(ev(clock, "door.opened"))
    clock.advance(0.1)
    rules.on_event(ev(clock, "door.opened"))  # still open: the same opening
    after(rules, clock, 3)
    assert len(sink.of_type("door.forced")) == 1
    rules.on_event(ev(clock, "door.closed"))
    clock.advance(0.5)
    rules.on_event(ev(clock, "door.opened"))  # forced again at once: a new opening, a new alert
    rules.on_event(ev(clock, "door.closed"))
    after(rules, clock, 3)
    rules.on_event(ev(clock, "access.granted", credential_token=tokenizer().card("42")))
    rules.on_event(ev(clock, "door.opened"))  # then someone let in: no alert for that one
    after(rules, clock, 3)
    assert len(sink.of_type("door.forced")) == 2
    assert len(sink.of_type("access.off_schedule")) == 1  # the schedule judges grants, not alarms
    clock.advance(10 * 3600)  # 09:00 next morning, inside the allowed hours
    rules.on_event(ev(clock, "door.closed"))
    rules.on_event(ev(clock, "door.opened"))
    after(rules, clock, 3)
    assert len(sink.of_type("door.forced")) == 3


def test_an_inferred_forced_door_reaches_the_outbox_through_http_push(tmp_path):
    access = access_config(
        tmp_path,
        doors=[{"id": "main-gate", "forced_grace": 0.2}],
        adapters=[
            {
                "type": "http_push",
                "id": "push",
                "port": 0,
                "default_door": "main-gate",
                "auth": {"allow_unauthenticated": True},
            }
        ],
    )
    clock = SystemClock()
    outbox = Outbox(tmp_path / "outbox.db", OutboxConfig(), clock)
    service = AccessService(access, AlertFactory("dev", "site", clock), outbox, clock, tick_interval=0.05)
    service.start()
    try:
        [push] = service.adapters
        minute_ago = clock.wall() - 60  # stamped by the controller, so the grant does not cover the next opening
        covered = [
            {"type": "access.granted", "card": "42", "time": minute_ago},
            {"type": "door.opened", "time": minute_ago + 1},
            {"type": "door.closed", "time": minute_ago + 4},
        ]
        for body in ({"events": covered}, {"type": "door.opened"}):
            connection = http.client.HTTPConnection("127.0.0.1", push.port, timeout=5)
            connection.request("POST", "/events", body=json.dumps(body), headers={"Content-Type": "application/json"})
            assert connection.getresponse().status == 200
            connection.close()

        def forced_rows():
            rows = [json.loads(row.payload) for row in outbox.tail(100)]
            return [row for row in rows if row["type"] == "door.forced"]

        def uncovered_opening_alerted():  # openings are judged in order: the covered one has been by then
            return [row for row in forced_rows() if "device_time" not in row["details"]["extra"]]

        wait_for(uncovered_opening_alerted, timeout=10, message="inferred door.forced in the outbox")
        [alert] = forced_rows()
        assert alert["details"]["extra"]["inferred"] is True and alert["details"]["reason"] == "opened_without_grant"
        assert alert["source"] == {"kind": "door", "id": "main-gate"}
    finally:
        service.stop()
        outbox.close()
