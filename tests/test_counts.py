"""Periodic counts: crossings through a real RuleEngine into the state store, reports into a real outbox.

The clock is a FakeClock and the stage's `tick` is called once per simulated second, so the
boundaries are exact; "restarts" drop every object and build new ones on the same files.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from edge_agent.clock import FakeClock, parse_utc
from edge_agent.config import AgentConfig
from edge_agent.daemon.counts_stages import CountsStage, counts_stages
from edge_agent.daemon.delivery import Delivery, Services
from edge_agent.events import FrameDetections
from edge_agent.rules.engine import RuleEngine
from edge_agent.store.counts_ledger import LINES_SCOPE
from tests.test_rules import person

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "docs" / "schemas" / "counts.schema.json").read_text())
MIDNIGHT = 1_767_225_600.0  # 2026-01-01T00:00:00Z
FPS = 5
DOOR = {"points": [[0.0, 0.5], [1.0, 0.5]], "in_side": [0.5, 0.2]}  # in is toward the top of the image
ZONE = {"points": [[0.0, 0.0], [1.0, 0.0], [1.0, 0.3], [0.0, 0.3]]}  # the top strip, inside the door


def agent_config(state_dir: Path, interval: float = 300, door: dict | None = None) -> AgentConfig:
    return AgentConfig.model_validate(
        {
            "device": {"id": "dev-1", "site": "hq", "state_dir": str(state_dir)},
            "cameras": [{"id": "cam", "url": "file.mp4", "lines": {"door": door or DOOR}, "zones": {"lobby": ZONE}}],
            "counts": {"interval": interval},
        }
    )


class Agent:
    """The parts the counts stage lives among: delivery (outbox + state store), rule engine, the stage."""

    def __init__(self, config: AgentConfig, clock: FakeClock, delivery: Delivery | None = None):
        """`delivery`: the running one's, for a reload's new build (tests/test_counts_carry.py)."""
        self.clock = clock
        self.delivery = delivery or Delivery.build(config, "dev-1", clock)
        self.engine = RuleEngine.from_config(config, self.delivery.factory, self.delivery.outbox)
        self.parts = counts_stages(config, Services.of(self.delivery, clock), self.engine)
        self.stage: CountsStage = self.parts.stages.specs[0].factory()
        self.seq = 0
        self.visible: dict[int, tuple[float, float]] = {}  # track id → foot point, shown every frame

    def run(self, seconds: float) -> None:
        """Frames at FPS showing `visible`; the stage ticks once a second, as in the daemon."""
        for _ in range(round(seconds * FPS)):
            self.frame()
            if self.seq % FPS == 0:
                self.stage.tick()

    def frame(self) -> None:
        self.seq += 1
        tracks = [person(track_id, x, y) for track_id, (x, y) in self.visible.items()]
        self.engine.process(FrameDetections("cam", self.seq, self.clock.wall(), self.clock.monotonic(), ()), tracks)
        self.clock.advance(1 / FPS)

    def walk(self, track_id: int, ys, x: float = 0.5) -> None:
        for y in ys:
            self.visible[track_id] = (x, y)
            self.run(0.4)  # two frames: the line's min_frames

    def walk_in(self, track_id: int) -> None:
        self.walk(track_id, [0.9, 0.7, 0.3, 0.2])

    def walk_out(self, track_id: int) -> None:
        self.walk(track_id, [0.2, 0.3, 0.7, 0.9])
        del self.visible[track_id]

    def crash(self) -> None:
        """Gone without stopping anything: only what was committed survives."""
        self.delivery.state.close()
        self.delivery.outbox.close()

    def stop(self) -> None:
        """A clean stop: the stage stops, then the build is dropped (its closers save the samples)."""
        self.stage.stop(1.0)
        for close in self.parts.stages.closers:
            close()
        self.delivery.state.close()
        self.delivery.outbox.close()


def counts_messages(agent: Agent) -> list[dict]:
    rows = [r for r in agent.delivery.outbox.tail(100) if r.topic == "edge/hq/dev-1/counts"]
    assert all(r.cls == "event" for r in rows)
    messages = [json.loads(r.payload) for r in sorted(rows, key=lambda r: r.seq)]
    for message, row in zip(messages, sorted(rows, key=lambda r: r.seq)):
        jsonschema.validate(message, SCHEMA)
        assert message["event_id"] == row.event_id
    return messages


def line(message: dict) -> dict:
    (door,) = message["lines"]
    assert (door["camera"], door["line"]) == ("cam", "door")
    return door


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=MIDNIGHT + 130)  # 00:02:10, mid-interval


def test_one_message_at_the_wall_clock_boundary_with_the_interval_counts(tmp_path, clock):
    agent = Agent(agent_config(tmp_path), clock)
    agent.walk_in(1)
    agent.walk_in(2)
    agent.walk_out(2)
    agent.run(MIDNIGHT + 300 - clock.wall())  # up to 00:05:00: the interval has ended
    assert counts_messages(agent) == []  # crossings still in the detector queue would belong to it
    agent.run(6)
    (message,) = counts_messages(agent)
    assert (message["interval_start"], message["interval_end"]) == (
        "2026-01-01T00:00:00.000Z",
        "2026-01-01T00:05:00.000Z",
    )
    assert message["complete"] is False  # the agent started at 00:02:10
    assert line(message) == {
        "camera": "cam",
        "line": "door",
        "in": 2,
        "out": 1,
        "total_in": 2,
        "total_out": 1,
        "total_since": "2026-01-01T00:02:10.000Z",
    }
    (lobby,) = message["zones"]
    assert (lobby["camera"], lobby["zone"], lobby["current"], lobby["peak"]) == ("cam", "lobby", 1, 2)
    assert lobby["samples"] >= 169 and 0 < lobby["mean"] < 2
    assert (message["device_id"], message["site"]) == ("dev-1", "hq")

    agent.run(300)  # a quiet interval still reports, complete this time, with the totals
    second = counts_messages(agent)[1]
    assert (second["interval_start"], second["complete"]) == ("2026-01-01T00:05:00.000Z", True)
    assert {k: line(second)[k] for k in ("in", "out", "total_in", "total_out")} == {
        "in": 0,
        "out": 0,
        "total_in": 2,
        "total_out": 1,
    }
    assert second["zones"][0]["peak"] == second["zones"][0]["current"] == 1  # person 1 still stands there


@pytest.mark.parametrize("how", ["stop", "crash"])
def test_a_restart_mid_interval_loses_no_crossing(tmp_path, clock, how):
    config = agent_config(tmp_path)
    agent = Agent(config, clock)
    agent.walk_in(1)
    agent.walk_in(2)
    agent.run(60)  # both stand in the lobby for a minute
    getattr(agent, how)()
    clock.advance(20)  # down for a while, still in the same interval
    agent = Agent(config, clock)
    agent.walk_out(3)
    agent.walk_in(4)
    agent.run(MIDNIGHT + 306 - clock.wall())
    (message,) = counts_messages(agent)
    assert {k: line(message)[k] for k in ("in", "out", "total_in", "total_out")} == {
        "in": 3,
        "out": 1,
        "total_in": 3,
        "total_out": 1,
    }
    assert message["complete"] is False
    (lobby,) = message["zones"]
    if how == "stop":  # occupancy samples are saved on a clean stop and carried over
        assert lobby["peak"] == 2 and 300 - 130 - 20 - 2 <= lobby["samples"] <= 300 - 130 - 20
    else:  # after a crash only the samples since the restart are there (and the message says so)
        assert lobby["peak"] == 1 and lobby["samples"] < 300 - 130 - 20 - 60


def test_cumulative_counts_continue_across_restarts_and_intervals(tmp_path, clock):
    config = agent_config(tmp_path)
    agent = Agent(config, clock)
    agent.walk_in(1)
    agent.run(MIDNIGHT + 306 - clock.wall())
    agent.walk_in(2)
    agent.walk_out(2)
    agent.stop()
    agent = Agent(config, clock)
    agent.walk_in(3)
    agent.run(MIDNIGHT + 606 - clock.wall())
    first, second = counts_messages(agent)  # the first was stored before the restart, in the same file
    assert line(first)["in"] == 1
    assert second["interval_start"] == "2026-01-01T00:05:00.000Z"
    assert {k: line(second)[k] for k in ("in", "out", "total_in", "total_out", "total_since")} == {
        "in": 2,
        "out": 1,
        "total_in": 3,
        "total_out": 1,
        "total_since": "2026-01-01T00:02:10.000Z",
    }
    assert len(agent.delivery.outbox.tail(100)) == 2  # exactly two counts messages, nothing re-sent


def test_boundaries_are_wall_clock_aligned_for_any_start_and_interval(tmp_path):
    clock = FakeClock(wall=MIDNIGHT + 3 * 3600 + 42.7)  # 03:00:42.7
    agent = Agent(agent_config(tmp_path, interval=60), clock)
    agent.walk_in(1)
    agent.run(MIDNIGHT + 3 * 3600 + 186 - clock.wall())
    messages = counts_messages(agent)
    assert [(m["interval_start"][11:19], m["interval_end"][11:19]) for m in messages] == [
        ("03:00:00", "03:01:00"),
        ("03:01:00", "03:02:00"),
        ("03:02:00", "03:03:00"),
    ]
    assert [m["complete"] for m in messages] == [False, True, True]
    assert [line(m)["in"] for m in messages] == [1, 0, 0]
    for message in messages:  # reported REPORT_DELAY after the boundary, not at some drifting offset
        assert 0 <= parse_utc(message["created_at"]) - parse_utc(message["interval_end"]) < 6


def test_an_interval_reported_again_after_a_crash_is_the_same_message(tmp_path, clock):
    """A crash after the outbox commit but before the state store update reports the interval again: it dedupes."""
    config = agent_config(tmp_path)
    agent = Agent(config, clock)
    agent.walk_in(1)
    agent.run(MIDNIGHT + 299 - clock.wall())
    before = {scope: agent.delivery.state.facts(scope) for scope in (LINES_SCOPE, "counts")}
    agent.run(7)
    (first,) = counts_messages(agent)
    for scope, facts in before.items():  # as if the store update never happened
        agent.delivery.state.drop(scope)
        for key, value in facts.items():
            agent.delivery.state.put(scope, key, value, clock.wall())
    agent.crash()
    agent = Agent(config, clock)
    agent.run(2)
    (again,) = counts_messages(agent)
    assert again["event_id"] == first["event_id"] and line(again) == line(first)


def test_a_crossing_after_its_interval_was_reported_goes_into_the_next(tmp_path, clock):
    agent = Agent(agent_config(tmp_path), clock)
    agent.walk(1, [0.9, 0.7])
    agent.run(MIDNIGHT + 306 - clock.wall())
    assert len(counts_messages(agent)) == 1
    for seq in (1001, 1002):  # frames captured before the boundary, processed after the report
        frame = FrameDetections("cam", seq, MIDNIGHT + 299.5, clock.monotonic(), ())
        agent.engine.process(frame, [person(1, 0.5, 0.2)])
    agent.run(MIDNIGHT + 606 - clock.wall())
    first, second = counts_messages(agent)
    assert line(first)["in"] == 0
    assert line(second)["in"] == 1 and line(second)["total_in"] == 1


def test_a_line_whose_shape_changed_restarts_its_totals_and_a_tuned_one_keeps_them(tmp_path, clock):
    agent = Agent(agent_config(tmp_path), clock)
    agent.walk_in(1)
    agent.run(MIDNIGHT + 306 - clock.wall())
    agent.stop()
    agent = Agent(agent_config(tmp_path, door={**DOOR, "margin": 0.03}), clock)  # tuning: totals kept
    agent.walk_in(2)
    agent.run(MIDNIGHT + 606 - clock.wall())
    assert line(counts_messages(agent)[-1])["total_in"] == 2
    agent.stop()
    moved = {**DOOR, "points": [[0.0, 0.6], [1.0, 0.6]]}
    agent = Agent(agent_config(tmp_path, door=moved), clock)
    agent.walk_in(3)
    agent.run(MIDNIGHT + 906 - clock.wall())
    last = line(counts_messages(agent)[-1])
    assert (last["in"], last["total_in"]) == (1, 1)
    assert last["total_since"] == "2026-01-01T00:10:06.000Z"


def test_the_daemon_publishes_counts_for_a_clip(tmp_path, mosquitto):
    """End to end: a camera in the config adds the counts stage; its message reaches a subscriber, schema-valid."""
    from edge_agent.vision.models import fetch_model
    from tests.support.assets import assets_dir, footage, model_path
    from tests.support.daemon import Daemon, Watcher, base_config
    from tests.support.wait import wait_for

    model_path()  # fails in CI, skips elsewhere, when the shared model is missing
    fetch_model("yolox_nano", tmp_path / "models", mirror_dir=assets_dir())
    room = {"points": [[0, 0], [1, 0], [1, 1], [0, 1]]}
    camera = {"id": "entrance", "url": str(footage("entrance-one-by-one.mp4")), "kind": "file", "loop": True}
    camera.update(realtime=True, detect_fps=5, zones={"room": room}, lines={"door": DOOR})
    config = base_config(
        tmp_path / "state",
        mosquitto.port,
        detector={"models_dir": str(tmp_path / "models"), "threads": 1},
        cameras=[camera],
        counts={"interval": 10},
    )
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config).start()
    try:

        def occupied_interval():  # the first interval starts before the camera does, so skip it
            return [m for m in watcher.payloads("counts")[1:] if m["zones"][0]["peak"] >= 1]

        message = wait_for(occupied_interval, timeout=60, message="a counts message with someone in the room")[0]
        jsonschema.validate(message, SCHEMA)
        assert parse_utc(message["interval_start"]) % 10 == 0 and message["complete"] is True
        assert [(z["zone"], z["samples"] >= 9) for z in message["zones"]] == [("room", True)]
        assert [(c["camera"], c["line"]) for c in message["lines"]] == [("entrance", "door")]
    finally:
        code = daemon.stop()
        watcher.close()
    assert code == 0
