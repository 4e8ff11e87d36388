"""Rule state carried across reloads (adopt) and restarts (the state store), unit by unit.

The real daemon's reloads and restarts are in tests/test_lifecycle.py; here each piece that
carries state is checked on its own with a fake clock: line counters and episodes across a
rule engine reload, a removed rule's episode left for the ledger to end, a held-open door
and its episode across a door rules reload, and welfare silence across a reload and a restart.
"""

from __future__ import annotations

import json

from edge_agent.access.service import AccessService
from edge_agent.clock import FakeClock
from edge_agent.config import parse_config
from edge_agent.events import AlertFactory, DoorEvent, FrameDetections, ListSink
from edge_agent.rules.door import DoorRules
from edge_agent.rules.engine import RuleEngine
from edge_agent.store.state_store import StateStore
from tests.test_access_common import access_config
from tests.test_door_rules import NINE_AM, TZ, run_hours, welfare_watch
from tests.test_rules import person

CAMERA = {
    "id": "gate",
    "url": "rtsp://127.0.0.1/gate",
    "zones": {"yard": {"points": [[0, 0], [1, 0], [1, 1], [0, 1]]}},
    "lines": {"door-line": {"points": [[0.0, 0.5], [1.0, 0.5]], "in_side": [0.5, 0.1], "min_frames": 1}},
}


def intrusion(name: str) -> dict:
    return {"name": name, "type": "intrusion", "camera": "gate", "zone": "yard", "min_dwell": 0, "clear_after": 5}


def engine_for(rules: list[dict], clock: FakeClock, sink: ListSink) -> RuleEngine:
    config = parse_config(json.dumps({"device": {"site": "s", "id": "d"}, "cameras": [CAMERA], "rules": rules}))
    return RuleEngine.from_config(config, AlertFactory("d", "s", clock), sink)


def walk(engine: RuleEngine, clock: FakeClock, track_id: int, ys: list[float], seq: list[int]) -> None:
    for y in ys:
        seq[0] += 1
        clock.advance(0.2)
        frame = FrameDetections("gate", seq[0], clock.wall(), clock.monotonic(), ())
        engine.process(frame, [person(track_id, 0.5, y)])


def test_a_reload_keeps_counts_and_episodes_of_unchanged_rules_and_drops_the_rest():
    clock, sink, seq = FakeClock(), ListSink(), [0]
    old = engine_for([intrusion("kept"), intrusion("removed")], clock, sink)
    walk(old, clock, 1, [0.9, 0.8, 0.7, 0.4, 0.3, 0.2], seq)  # inward across the line, inside the yard
    assert old.line_counts()["gate"]["door-line"]["in"] == 1
    open_before = old.open_episode_ids()
    assert len(open_before) == 2

    new = engine_for([intrusion("kept")], clock, sink)
    kept = new.adopt(old)
    assert kept == {"gate": ["kept"]}
    assert new.line_counts()["gate"]["door-line"]["in"] == 1  # not reset by the reload
    orphans = open_before - new.open_episode_ids()
    [removed_start] = [a for a in sink.alerts if a.rule == "removed" and a.phase == "start"]
    assert orphans == {removed_start.event_id}  # the daemon ends exactly this one (config_changed)

    walk(new, clock, 2, [0.9, 0.8, 0.7, 0.4, 0.3], seq)
    assert new.line_counts()["gate"]["door-line"]["in"] == 2
    starts = [a for a in sink.alerts if a.rule == "kept" and a.phase == "start"]
    assert len(starts) == 1  # the kept episode went on: no second start after the reload


def test_a_changed_zone_does_not_carry_its_rules():
    clock, sink, seq = FakeClock(), ListSink(), [0]
    old = engine_for([intrusion("kept")], clock, sink)
    walk(old, clock, 1, [0.4, 0.3], seq)
    moved_camera = {**CAMERA, "zones": {"yard": {"points": [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]}}}
    document = {"device": {"site": "s", "id": "d"}, "cameras": [moved_camera], "rules": [intrusion("kept")]}
    config = parse_config(json.dumps(document))
    new = RuleEngine.from_config(config, AlertFactory("d", "s", clock), sink)
    assert new.adopt(old) == {"gate": []}
    assert old.open_episode_ids() and not new.open_episode_ids()


def door_rules(tmp_path, clock: FakeClock, sink: ListSink, **sections) -> DoorRules:
    sections.setdefault("doors", [{"id": "main-gate", "held_open_after": 30}])
    return DoorRules(access_config(tmp_path, **sections), AlertFactory("d", "s", clock), sink, clock, TZ)


def test_a_door_held_open_across_a_door_rules_reload_ends_once(tmp_path):
    clock, sink = FakeClock(wall=NINE_AM), ListSink()
    old = door_rules(tmp_path, clock, sink)
    old.on_event(DoorEvent(type="door.opened", door="main-gate", adapter="a", edge_time=clock.wall()))
    clock.advance(31)
    old.tick()
    [start] = sink.of_type("door.held_open")
    new = door_rules(tmp_path, clock, sink, denials={"count": 9, "window": 60})  # another door rule changed
    new.adopt(old)
    assert new.open_episode_ids() == {start.event_id}
    clock.advance(5)
    new.on_event(DoorEvent(type="door.closed", door="main-gate", adapter="a", edge_time=clock.wall()))
    ends = [a for a in sink.of_type("door.held_open") if a.phase == "end"]
    assert [e.related_event_id for e in ends] == [start.event_id]


def test_welfare_silence_survives_a_restart(tmp_path):
    clock, state = FakeClock(wall=NINE_AM), StateStore(tmp_path / "state.db")
    access = access_config(tmp_path, doors=[{"id": "main-gate"}], welfare=[welfare_watch()])
    factory = AlertFactory("d", "s", clock)
    first = AccessService(access, factory, ListSink(), clock, TZ, state=state)
    run_hours(first.rules, clock, 20)  # 09:00 -> 05:00: 13 h counted outside quiet hours
    counted = first.rules.welfare_silence()["block-c-resident"]
    assert counted > 12 * 3600
    first.start()
    first.stop(2.0)  # saves the silence
    second = AccessService(access, factory, ListSink(), clock, TZ, state=StateStore(tmp_path / "state.db"))
    assert second.rules.welfare_silence()["block-c-resident"] == round(counted, 1)
    sink = ListSink()
    second.rules.sink = sink
    run_hours(second.rules, clock, 13)  # the rest of the 24 h: the watch fires, as it would have without the restart
    assert sink.of_type("welfare.check")  # 05:00 -> 18:00 adds 11 h: without the restored 13 h, no alert


def test_a_reload_keeps_the_silence_of_an_unchanged_welfare_watch_and_resets_a_changed_one(tmp_path):
    clock = FakeClock(wall=NINE_AM)
    factory = AlertFactory("d", "s", clock)

    def rules_with(*watches: dict) -> DoorRules:
        access = access_config(tmp_path, doors=[{"id": "main-gate"}], welfare=list(watches))
        return DoorRules(access, factory, ListSink(), clock, TZ)

    old = rules_with(welfare_watch(), welfare_watch(name="block-d-resident"))
    run_hours(old, clock, 10)  # 09:00 -> 19:00, all outside quiet hours
    counted = old.welfare_silence()
    assert counted == {"block-c-resident": 10 * 3600, "block-d-resident": 10 * 3600}

    new = rules_with(welfare_watch(), welfare_watch(name="block-d-resident", max_silence_hours=12))
    new.adopt(old)
    assert new.welfare_silence() == {"block-c-resident": 10 * 3600, "block-d-resident": 0.0}
