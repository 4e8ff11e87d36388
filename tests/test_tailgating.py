"""Tailgating fusion with scripted grants and crossings on a fake clock."""

from __future__ import annotations

import pytest

from edge_agent.clock import FakeClock
from edge_agent.events import AlertFactory, DoorEvent, LineCrossing, ListSink
from edge_agent.rules.fusion import TailgatingFusion
from tests.test_access_common import access_config

T0 = 1_767_225_600.0


@pytest.fixture
def fusion(tmp_path):
    def make(clock_offset=0.0, **tailgating):
        clock = FakeClock(wall=T0)
        access = access_config(
            tmp_path,
            doors=[
                {
                    "id": "main-gate",
                    "camera_line": {"camera": "entrance", "line": "door"},
                    "clock_offset": clock_offset,
                },
                {"id": "side-door"},
            ],
            tailgating={"window": 8, "early_tolerance": 1, "settle": 2, **tailgating},
        )
        sink = ListSink()
        return TailgatingFusion(access, AlertFactory("dev-1", "site-1", clock), sink, clock), sink, clock

    return make


def grant(at, door="main-gate", direction="in", device_time=None):
    return DoorEvent(
        type="access.granted", door=door, adapter="push-1", edge_time=at, device_time=device_time, direction=direction
    )


def crossing(at, track_id, direction="in", line="door", class_name="person"):
    return LineCrossing(
        camera_id="entrance",
        line=line,
        track_id=track_id,
        class_name=class_name,
        direction=direction,
        at=at,
        monotonic=at - T0,
    )


def play(fusion, clock, script):
    """Deliver (time, event) pairs in order with the clock at each time, then let everything settle."""
    for at, item in sorted(script, key=lambda pair: pair[0]):
        clock.advance(max(0.0, at - clock.wall()))
        if isinstance(item, DoorEvent):
            fusion.on_door_event(item)
        else:
            fusion.on_crossing(item)
        fusion.tick()
    clock.advance(30)
    fusion.tick()


def test_one_grant_two_crossings_raises_tailgating_with_both_counts(fusion):
    fuse, sink, clock = fusion()
    play(fuse, clock, [(T0 + 1, grant(T0 + 1)), (T0 + 3, crossing(T0 + 3, 7)), (T0 + 4.5, crossing(T0 + 4.5, 8))])
    [alert] = sink.of_type("tailgating")
    assert (alert.details.grants, alert.details.crossings, alert.details.track_ids) == (1, 2, [8])
    assert (alert.source.id, alert.details.line, alert.details.door) == ("main-gate", "door", "main-gate")
    assert alert.severity.value == "major"
    assert fuse.covered == 1


def test_each_grant_covers_one_crossing(fusion):
    fuse, sink, clock = fusion()
    play(
        fuse,
        clock,
        [(T0, grant(T0)), (T0 + 0.5, grant(T0 + 0.5)), (T0 + 2, crossing(T0 + 2, 1)), (T0 + 3, crossing(T0 + 3, 2))],
    )
    assert not sink.of_type("tailgating") and fuse.covered == 2


def test_crossing_outside_the_window_is_not_covered(fusion):
    fuse, sink, clock = fusion()
    play(fuse, clock, [(T0, grant(T0)), (T0 + 9, crossing(T0 + 9, 1))])
    [alert] = sink.of_type("tailgating")
    assert (alert.details.grants, alert.details.crossings) == (0, 1)


def test_late_grant_within_tolerance_and_settle_still_covers(fusion):
    fuse, sink, clock = fusion()
    # the camera sees the person 0.8 s before the controller's grant arrives
    play(fuse, clock, [(T0 + 5, crossing(T0 + 5, 1)), (T0 + 5.8, grant(T0 + 5.8))])
    assert not sink.of_type("tailgating")


def test_outward_crossings_exits_other_lines_and_non_persons_are_ignored(fusion):
    fuse, sink, clock = fusion()
    play(
        fuse,
        clock,
        [
            (T0, crossing(T0, 1, direction="out")),
            (T0 + 1, crossing(T0 + 1, 2, line="other")),
            (T0 + 2, crossing(T0 + 2, 3, class_name="dog")),
            (T0 + 3, grant(T0 + 3, direction="out")),
            (T0 + 4, crossing(T0 + 4, 4)),
        ],
    )
    [alert] = sink.of_type("tailgating")
    assert (alert.details.track_ids, alert.details.grants) == ([4], 0)


def test_grants_at_other_doors_do_not_count(fusion):
    fuse, sink, clock = fusion()
    play(fuse, clock, [(T0, grant(T0, door="side-door")), (T0 + 1, crossing(T0 + 1, 1))])
    assert len(sink.of_type("tailgating")) == 1


def test_clock_offset_corrects_the_controller_stamp(fusion):
    # the controller runs 60 s slow: its grant stamped T0-58 happened at T0+2 our time
    fuse, sink, clock = fusion(clock_offset=60)
    play(fuse, clock, [(T0 + 2.2, grant(T0 + 2.2, device_time=T0 - 58)), (T0 + 4, crossing(T0 + 4, 1))])
    assert not sink.of_type("tailgating")
    fuse2, sink2, clock2 = fusion(clock_offset=0)
    play(fuse2, clock2, [(T0 + 2.2, grant(T0 + 2.2, device_time=T0 - 58)), (T0 + 4, crossing(T0 + 4, 1))])
    assert len(sink2.of_type("tailgating")) == 1


def test_disabled_fusion_never_alerts(fusion):
    fuse, sink, clock = fusion(enabled=False)
    play(fuse, clock, [(T0, crossing(T0, 1)), (T0 + 1, crossing(T0 + 1, 2))])
    assert not sink.alerts and not fuse.active


def test_replay_timeline_is_judged_on_crossing_time_and_flushed(fusion):
    fuse, sink, clock = fusion()  # the clock never moves: a replay stamps frames on the clip's timeline
    fuse.on_door_event(grant(T0 + 100))
    fuse.on_crossing(crossing(T0 + 101, 1))
    fuse.on_crossing(crossing(T0 + 102, 2))
    fuse.on_crossing(crossing(T0 + 200, 3))  # moves time on: the first two are judged
    assert [a.details.track_ids for a in sink.of_type("tailgating")] == [[2]]
    fuse.flush()
    assert [a.details.track_ids for a in sink.of_type("tailgating")] == [[2], [3]]
