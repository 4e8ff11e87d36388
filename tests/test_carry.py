"""The one walk that carries state over a reload (daemon/reload.py `carry`) and its registry (daemon/parts.py).

Real parts, no daemon: a rule engine with an open episode and a counted crossing, camera feeds with their pumps and
readers (built, never started), a door service with a door held open. The walk must hand every registered part to
its successor, take a kept camera's reader over, stop the old video only between the two steps, and refuse a part
that does not follow the protocol. A new field of PipelineParts must say whether it is carried.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from edge_agent.access.service import AccessService
from edge_agent.chain import CameraChain
from edge_agent.clock import FakeClock
from edge_agent.config import parse_config
from edge_agent.daemon.access_stages import AccessParts
from edge_agent.daemon.parts import CARRIED_FIELDS, STARTS_AFRESH, Carried, PipelineParts
from edge_agent.daemon.reload import carry
from edge_agent.daemon.stage_kinds import Stages
from edge_agent.daemon.video_stages import CameraFeed, CameraPump, VideoParts
from edge_agent.events import AlertFactory, DoorEvent, FrameDetections, ListSink
from edge_agent.rules.engine import RuleEngine
from tests.test_access_common import access_config
from tests.test_door_rules import NINE_AM, TZ
from tests.test_rules import person

LINE = {"points": [[0.0, 0.5], [1.0, 0.5]], "in_side": [0.5, 0.1], "min_frames": 1}
YARD = {"points": [[0, 0], [1, 0], [1, 1], [0, 1]]}


def camera(camera_id: str, url: str) -> dict:
    return {"id": camera_id, "url": url, "zones": {"yard": YARD}, "lines": {"door-line": LINE}}


def intrusion(camera_id: str) -> dict:
    rule = {"type": "intrusion", "camera": camera_id, "zone": "yard", "min_dwell": 0, "clear_after": 5}
    return {"name": f"intrusion-{camera_id}", **rule}


class Build:
    """One build's carried parts, from real objects: the video side (engine, a feed per camera with a pump whose
    reader is built, not started) and the door side (an AccessService with one door, no adapters)."""

    def __init__(self, tmp_path, clock: FakeClock, sink: ListSink, gate_url: str):
        cameras = [camera("gate", gate_url), camera("yard", "rtsp://127.0.0.1/yard")]
        document = {"device": {"site": "s", "id": "d", "timezone": TZ}, "cameras": cameras}
        document["rules"] = [intrusion("gate"), intrusion("yard")]
        config = parse_config(json.dumps(document))
        factory = AlertFactory("d", "s", clock)
        self.engine = RuleEngine.from_config(config, factory, sink)
        self.feeds = {c.id: CameraFeed(c, CameraChain(c, self.engine)) for c in config.cameras}
        access = access_config(tmp_path, doors=[{"id": "main-gate", "held_open_after": 30}])
        self.service = AccessService(access, factory, sink, clock, TZ)
        video = VideoParts(Stages(), self.engine, self.feeds, dict, self.engine.line_counts, dict)
        self.parts = PipelineParts(video=video, access=AccessParts(Stages(), self.service, dict))

    def run_pumps(self, clock: FakeClock) -> None:
        """What the supervisor's camera stages would make (built only: no thread, no reader opened)."""
        for feed in self.feeds.values():
            feed.pump = CameraPump(feed.camera, feed.chain, lambda frame: None, clock, lambda event: None)


def walk_in(engine: RuleEngine, clock: FakeClock, camera_id: str, seq: list[int]) -> None:
    """A person crosses the line inward and stays in the yard: one crossing, an intrusion episode opened."""
    for y in (0.9, 0.8, 0.7, 0.4, 0.3):
        seq[0] += 1
        clock.advance(0.2)
        engine.process(FrameDetections(camera_id, seq[0], clock.wall(), clock.monotonic(), ()), [person(1, 0.5, y)])


def test_the_walk_carries_every_registered_part_and_stops_the_old_video_in_between(tmp_path):
    clock, sink, seq = FakeClock(wall=NINE_AM), ListSink(), [0]
    old = Build(tmp_path, clock, sink, gate_url="rtsp://127.0.0.1/gate")
    old.run_pumps(clock)
    walk_in(old.engine, clock, "gate", seq)
    old.service.on_event(DoorEvent(type="door.opened", door="main-gate", adapter="a", edge_time=clock.wall()))
    clock.advance(31)
    old.service.rules.tick()
    held = old.parts.held_episodes()
    assert len(held) == 2  # the gate's intrusion and the door held open
    gate_reader = old.feeds["gate"].pump.source

    new = Build(tmp_path, clock, sink, gate_url="rtsp://127.0.0.1/gate")
    new.feeds["yard"] = CameraFeed(
        new.feeds["yard"].camera.model_copy(update={"detect_fps": 3.0}), new.feeds["yard"].chain
    )
    new.parts.video.feeds = new.feeds
    ends_before = len([a for a in sink.alerts if a.phase == "end"])

    def stop_old_video() -> None:
        """What stopping the old camera stages does: the pumps end the engine's episodes, unless handed over."""
        old.engine.finish(reason="camera_stopped")
        assert len([a for a in sink.alerts if a.phase == "end"]) == ends_before  # handed over before the stop

    kept = carry(old.parts, new.parts, stop_old_video)

    assert set(kept) == {"video rules", "camera gate", "camera yard", "access"}
    assert kept["video rules"] == {"gate": ["intrusion-gate"], "yard": ["intrusion-yard"]}
    assert new.parts.held_episodes() == held  # every open episode went on, none ended
    assert new.engine.line_counts()["gate"]["door-line"]["in"] == 1
    assert new.feeds["gate"].chain.tracker is old.feeds["gate"].chain.tracker
    assert (kept["camera gate"], kept["camera yard"]) == (True, False)  # the changed camera reopens its reader
    assert new.feeds["gate"].take_inherited() is gate_reader and new.feeds["yard"].take_inherited() is None


def test_every_registered_part_follows_the_protocol(tmp_path):
    build = Build(tmp_path, FakeClock(wall=NINE_AM), ListSink(), gate_url="rtsp://127.0.0.1/gate")
    registry = build.parts.carried()
    assert set(registry) == {"video rules", "camera gate", "camera yard", "access"}
    assert all(isinstance(part, Carried) for part in registry.values())


def test_a_part_without_the_protocol_is_refused_before_anything_is_handed_over(tmp_path):
    clock = FakeClock(wall=NINE_AM)
    old = Build(tmp_path, clock, ListSink(), gate_url="rtsp://127.0.0.1/gate")
    new = Build(tmp_path, clock, ListSink(), gate_url="rtsp://127.0.0.1/gate")
    new.parts.access = AccessParts(Stages(), object(), dict)  # a stateful part someone forgot to make Carried
    with pytest.raises(TypeError, match="'access' .*lacks hand_over/adopt"):
        carry(old.parts, new.parts, stop_old_video=lambda: None)
    old.engine.finish(reason="camera_stopped")  # the old engine was not handed over: it still ends its episodes


def test_every_part_of_a_build_is_carried_or_starts_afresh_for_a_reason():
    fields = {field.name for field in dataclasses.fields(PipelineParts)}
    assert not set(CARRIED_FIELDS) & set(STARTS_AFRESH)
    undecided = fields - set(CARRIED_FIELDS) - set(STARTS_AFRESH)
    assert not undecided, f"PipelineParts fields neither carried nor said to start afresh: {sorted(undecided)}"
    assert set(CARRIED_FIELDS) | set(STARTS_AFRESH) <= fields
