"""Each door rule against scripted door events and a fake clock."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from edge_agent.clock import FakeClock, parse_utc
from edge_agent.events import DOOR_EVENT_TYPES, AlertFactory, DoorEvent, ListSink
from edge_agent.rules.door import STATELESS_EVENTS, DoorRules
from tests.test_access_common import access_config, tokenizer

TZ = "Asia/Singapore"
# Thursday 2026-01-01 09:00 in Singapore
NINE_AM = datetime(2026, 1, 1, 9, 0, tzinfo=ZoneInfo(TZ)).timestamp()


@pytest.fixture
def setup(tmp_path):
    def make(clock_at=NINE_AM, **sections):
        clock = FakeClock(wall=clock_at)
        sections.setdefault(
            "doors", [{"id": "main-gate", "held_open_after": 30, "allowed": [{"start": "06:00", "end": "22:00"}]}]
        )
        access = access_config(tmp_path, **sections)
        sink = ListSink()
        rules = DoorRules(access, AlertFactory("dev-1", "site-1", clock), sink, clock, TZ)
        return rules, sink, clock

    return make


def ev(clock, event_type, door="main-gate", **fields):
    return DoorEvent(type=event_type, door=door, adapter="push-1", edge_time=clock.wall(), **fields)


def test_forced_door_is_a_major_alert(setup):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, "door.forced", reader="r1", raw={"major": 5, "minor": 0x1B}))
    [alert] = sink.of_type("door.forced")
    assert (alert.severity.value, alert.source.id, alert.details.reader) == ("major", "main-gate", "r1")
    assert alert.details.extra["codes"] == {"major": 5, "minor": 0x1B}


def test_held_open_starts_after_t_and_ends_on_close(setup):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, "door.opened"))
    clock.advance(29)
    rules.tick()
    assert not sink.of_type("door.held_open")
    clock.advance(2)
    rules.tick()
    rules.tick()
    [start] = sink.of_type("door.held_open")
    assert start.phase == "start" and start.details.duration_s == pytest.approx(31, abs=0.1)
    clock.advance(9)
    rules.on_event(ev(clock, "door.closed"))
    start_alert, end = sink.of_type("door.held_open")
    assert (end.phase, end.related_event_id) == ("end", start.event_id)
    assert end.details.duration_s == pytest.approx(40, abs=0.1)


def test_door_closed_in_time_raises_nothing(setup):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, "door.opened"))
    clock.advance(10)
    rules.on_event(ev(clock, "door.closed"))
    clock.advance(60)
    rules.tick()
    assert not sink.of_type("door.held_open")


def test_controller_held_open_alarm_is_not_doubled_by_our_timer(setup):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, "door.opened"))
    clock.advance(20)
    rules.on_event(ev(clock, "door.held_open"))
    clock.advance(30)
    rules.tick()
    rules.on_event(ev(clock, "door.closed"))
    assert [a.phase for a in sink.of_type("door.held_open")] == ["start", "end"]


def test_n_denials_at_one_reader_within_w(setup):
    rules, sink, clock = setup(denials={"count": 3, "window": 60})
    for _ in range(2):
        rules.on_event(ev(clock, "access.denied", reader="r1", reason="unknown_card"))
        clock.advance(20)
    rules.on_event(ev(clock, "access.denied", reader="r2", reason="unknown_card"))  # another reader
    assert not sink.of_type("access.denied_burst")
    clock.advance(30)  # the first r1 denial is now 70 s old
    rules.on_event(ev(clock, "access.denied", reader="r1", reason="unknown_card"))
    assert not sink.of_type("access.denied_burst")
    clock.advance(5)
    rules.on_event(ev(clock, "access.denied", reader="r1", reason="expired"))
    [burst] = sink.of_type("access.denied_burst")
    assert (burst.details.count, burst.details.reader, burst.details.reason) == (3, "r1", "expired")
    assert burst.severity.value == "major"
    rules.on_event(ev(clock, "access.denied", reader="r1", reason="expired"))
    assert len(sink.of_type("access.denied_burst")) == 1  # the burst was reset


def test_access_outside_the_allowed_schedule(setup):
    rules, sink, clock = setup(clock_at=NINE_AM + 14 * 3600)  # 23:00 local
    token = tokenizer().card("42")
    rules.on_event(ev(clock, "access.granted", credential_token=token))
    [alert] = sink.of_type("access.off_schedule")
    assert alert.details.credential_token == token
    clock.advance(8 * 3600)  # 07:00 next morning
    rules.on_event(ev(clock, "access.granted", credential_token=token))
    assert len(sink.of_type("access.off_schedule")) == 1
    assert len(sink.of_type("access.granted")) == 2  # forwarded to the access log as info alerts


@pytest.mark.parametrize("event_type", ["duress", "tamper"])
def test_duress_and_tamper_pass_straight_through_as_critical(setup, event_type):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, event_type, reader="r1"))
    [alert] = sink.of_type(event_type)
    assert alert.severity.value == "critical" and alert.priority_class == "alarm"


def test_reader_offline_then_online_is_one_episode(setup):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, "reader.offline", reader="r1"))
    rules.on_event(ev(clock, "reader.offline", reader="r1"))
    clock.advance(45)
    rules.on_event(ev(clock, "reader.online", reader="r1"))
    rules.on_event(ev(clock, "reader.online", reader="r1"))
    start, end = sink.of_type("reader.offline")
    assert (start.phase, end.phase, end.related_event_id) == ("start", "end", start.event_id)
    assert end.details.duration_s == pytest.approx(45)


def welfare_watch(**fields):
    return {
        "name": "block-c-resident",
        "card_numbers": ["0012345"],
        "max_silence_hours": 24,
        "quiet_hours": [{"start": "22:00", "end": "07:00"}],
        **fields,
    }


def run_hours(rules, clock, hours, step_s=600):
    for _ in range(int(hours * 3600 / step_s)):
        clock.advance(step_s)
        rules.tick()


def test_welfare_check_counts_silence_outside_quiet_hours_and_alerts_once(setup):
    rules, sink, clock = setup(welfare=[welfare_watch()])
    run_hours(rules, clock, 24)  # 09:00 -> 09:00: 9 quiet hours, 15 counted
    assert not sink.of_type("welfare.check")
    run_hours(rules, clock, 8.5)  # 17:30: 23.5 counted
    assert not sink.of_type("welfare.check")
    run_hours(rules, clock, 0.5)  # 18:00: 24 counted
    [alert] = sink.of_type("welfare.check")
    assert alert.rule == "block-c-resident" and alert.details.credential_token == tokenizer().card("12345")
    run_hours(rules, clock, 48)
    assert len(sink.of_type("welfare.check")) == 1  # one alert per lapse


def test_welfare_resets_when_the_resident_is_seen(setup):
    rules, sink, clock = setup(welfare=[welfare_watch()])
    run_hours(rules, clock, 30)
    rules.on_event(ev(clock, "access.granted", credential_token=tokenizer().card("12345")))  # leading zeros differ
    run_hours(rules, clock, 24)
    assert not sink.of_type("welfare.check")
    rules.on_event(ev(clock, "access.granted", credential_token=tokenizer().card("999")))  # someone else
    run_hours(rules, clock, 24)
    assert len(sink.of_type("welfare.check")) == 1
    rules.on_event(ev(clock, "credential.read", credential_token=tokenizer().card("12345")))
    run_hours(rules, clock, 40)  # 15:00 -> 07:00 two days on: 7 + 15 counted hours
    assert len(sink.of_type("welfare.check")) == 1
    run_hours(rules, clock, 3)
    assert len(sink.of_type("welfare.check")) == 2  # a new lapse after being seen


def test_welfare_by_door_ignores_device_health_events(setup):
    rules, sink, clock = setup(welfare=[{"name": "storeroom", "doors": ["main-gate"], "max_silence_hours": 2}])
    run_hours(rules, clock, 1.5)
    rules.on_event(ev(clock, "reader.offline", reader="r1"))
    run_hours(rules, clock, 0.5)
    [alert] = sink.of_type("welfare.check")
    assert alert.source.id == "main-gate"


def test_welfare_tick_after_a_long_gap_integrates_quiet_hours(setup):
    rules, sink, clock = setup(welfare=[welfare_watch(max_silence_hours=20)])
    clock.advance(26 * 3600)  # 09:00 -> 11:00 next day in one tick: 9 quiet hours, 17 counted
    rules.tick()
    assert not sink.of_type("welfare.check")
    clock.advance(3 * 3600)
    rules.tick()
    assert len(sink.of_type("welfare.check")) == 1


def test_every_door_event_type_is_handled_or_declared_stateless(setup):
    rules, _, _ = setup()
    handled = set(rules._handlers)
    assert handled.isdisjoint(STATELESS_EVENTS)
    assert handled | STATELESS_EVENTS == DOOR_EVENT_TYPES


def test_an_event_type_without_handling_is_counted_and_the_rest_still_runs(setup):
    rules, sink, clock = setup()
    odd = ev(clock, "door.opened")
    object.__setattr__(odd, "type", "door.unlocked")  # DoorEvent refuses unknown types; one added later is like this
    rules.on_event(odd)
    assert rules.unknown_types == 1
    rules.on_event(ev(clock, "door.forced"))
    assert len(sink.of_type("door.forced")) == 1 and rules.unknown_types == 1


def test_an_event_for_an_unconfigured_door_is_counted_and_still_raises_its_alarm(setup):
    rules, sink, clock = setup()
    rules.on_event(ev(clock, "door.forced", door="back-gate"))
    rules.on_event(ev(clock, "door.opened"))  # main-gate is configured
    assert rules.unknown_doors == 1
    [alert] = sink.of_type("door.forced")
    assert alert.source.id == "back-gate"


def test_door_states_for_the_guards_console(setup):
    rules, sink, clock = setup(
        doors=[{"id": "main-gate", "held_open_after": 30}, {"id": "dock", "held_open_after": 30}]
    )
    assert rules.door_states()["main-gate"] == {"open": False, "open_since": None, "held_open": False,
                                                "offline_readers": []}  # fmt: skip
    opened_at = clock.wall()
    rules.on_event(ev(clock, "door.opened"))
    rules.on_event(ev(clock, "reader.offline", door="dock", reader="r2"))
    clock.advance(31)
    rules.tick()
    states = rules.door_states()
    assert states["main-gate"]["open"] and states["main-gate"]["held_open"]
    assert parse_utc(states["main-gate"]["open_since"]) == pytest.approx(opened_at, abs=0.01)
    assert states["dock"] == {"open": False, "open_since": None, "held_open": False, "offline_readers": ["r2"]}
    rules.on_event(ev(clock, "door.closed"))
    assert rules.door_states()["main-gate"]["open"] is False
