"""The counts ledger across reloads and clean stops, exactly, on a FakeClock (tests/test_counts.py's Agent).

A reload is daemon/reload.py's own walk (`carry`) over two builds sharing one delivery: the new rule engine and
counts ledger adopt the old ones. Two people stand in the lobby from 00:02:13 on, so a fully watched 300 s interval
has exactly 300 samples, peak and mean 2; the end-to-end version (a real agent, broker and subscriber) is
tests/test_counts_settle.py.
"""

from __future__ import annotations

import pytest

from edge_agent.clock import FakeClock
from edge_agent.config import AgentConfig
from edge_agent.config.geometry import ZoneConfig
from edge_agent.daemon.parts import PipelineParts
from edge_agent.daemon.reload import carry
from edge_agent.daemon.stage_kinds import Stages
from edge_agent.daemon.video_stages import VideoParts
from edge_agent.store.counts_ledger import ZONES_SCOPE
from tests.test_counts import MIDNIGHT, Agent, agent_config, counts_messages

HALL = {"points": [[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]]}  # the bottom strip, outside the door


def build(agent: Agent) -> PipelineParts:
    video = VideoParts(Stages(), agent.engine, {}, dict, agent.engine.line_counts, dict)
    return PipelineParts(video=video, counts=agent.parts)


def reload(old: Agent, config: AgentConfig) -> Agent:
    """The new build adopts the old one's state; the old counts stage ticks once more (as it runs on until the old
    pipeline stops), then stops and its build is dropped."""
    new = Agent(config, old.clock, old.delivery)
    carry(build(old), build(new), stop_old_video=lambda: None)
    new.seq, new.visible = old.seq, old.visible
    old.stage.tick()
    old.stage.stop(1.0)
    for close in old.parts.stages.closers:
        close()
    return new


def zones(message: dict) -> dict[str, tuple]:
    return {z["zone"]: (z["samples"], z["peak"], z["mean"]) for z in message["zones"]}


def interval(messages: list[dict], start: str) -> dict:
    (message,) = [m for m in messages if m["interval_start"] == f"2026-01-01T00:{start}:00.000Z"]
    return message


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=MIDNIGHT + 130)  # 00:02:10, mid-interval


def two_in_the_lobby(agent: Agent) -> Agent:
    agent.walk_in(1)
    agent.walk_in(2)
    return agent


@pytest.mark.parametrize("at", [420.4, 602.4], ids=["mid-interval", "in-the-settle-window"])
def test_a_reload_keeps_the_interval_whole(tmp_path, clock, at):
    agent = two_in_the_lobby(Agent(agent_config(tmp_path), clock))
    agent.run(MIDNIGHT + at - clock.wall())
    agent = reload(agent, agent_config(tmp_path))
    assert agent.delivery.state.facts(ZONES_SCOPE) == {}  # the old ledger gave its samples away, saved none
    agent.run(MIDNIGHT + 606 - clock.wall())
    messages = counts_messages(agent)
    assert [m["interval_start"][11:19] for m in messages] == ["00:00:00", "00:05:00"]  # once each
    whole = interval(messages, "05")
    assert zones(whole) == {"lobby": (300, 2, 2.0)}  # the bug: samples were those after the reload
    assert whole["complete"] is True  # the bug (in the settle window): false, samples 0, peak 0


def test_a_reload_that_counts_something_new_marks_the_running_interval_incomplete(tmp_path, clock):
    agent = two_in_the_lobby(Agent(agent_config(tmp_path), clock))
    agent.run(MIDNIGHT + 420.4 - clock.wall())
    config = agent_config(tmp_path)
    config.cameras[0].zones["hall"] = ZoneConfig.model_validate(HALL)
    agent = reload(agent, config)
    agent.run(MIDNIGHT + 906 - clock.wall())
    messages = counts_messages(agent)
    running = interval(messages, "05")
    assert running["complete"] is False  # the hall was not watched from 00:05:00
    assert zones(running) == {"lobby": (300, 2, 2.0), "hall": (600 - 421, 0, 0.0)}  # the lobby's samples carry on
    assert interval(messages, "10")["complete"] is True


def test_a_reload_that_reshapes_a_zone_restarts_its_samples(tmp_path, clock):
    agent = two_in_the_lobby(Agent(agent_config(tmp_path), clock))
    agent.run(MIDNIGHT + 420.4 - clock.wall())
    config = agent_config(tmp_path)
    config.cameras[0].zones["lobby"] = ZoneConfig.model_validate(HALL)
    agent = reload(agent, config)
    agent.run(MIDNIGHT + 606 - clock.wall())
    running = interval(counts_messages(agent), "05")
    assert running["complete"] is False and zones(running) == {"lobby": (600 - 421, 0, 0.0)}


def test_a_clean_stop_in_the_settle_window_keeps_the_interval_complete(tmp_path, clock):
    config = agent_config(tmp_path)
    agent = two_in_the_lobby(Agent(config, clock))
    agent.run(MIDNIGHT + 602.4 - clock.wall())
    agent.stop()
    clock.advance(3)  # restarted at 00:10:05.4, after the interval's report was due
    agent = Agent(config, clock)
    agent.run(MIDNIGHT + 906 - clock.wall())
    messages = counts_messages(agent)
    whole = interval(messages, "05")
    assert (whole["complete"], zones(whole)) == (True, {"lobby": (300, 2, 2.0)})  # the bug: complete false
    down = interval(messages, "10")  # slots 600-602 before the stop, 606-899 after the restart
    assert (down["complete"], zones(down)["lobby"][:2]) == (False, (3 + 294, 2))


def test_a_crash_in_the_settle_window_cannot_vouch_for_the_interval(tmp_path, clock):
    config = agent_config(tmp_path)
    agent = two_in_the_lobby(Agent(config, clock))
    agent.run(MIDNIGHT + 306 - clock.wall())  # a clean interval report first: the first was partial anyway
    agent.walk_in(3)
    agent.run(MIDNIGHT + 602.4 - clock.wall())
    agent.crash()
    clock.advance(3)
    agent = Agent(config, clock)
    agent.run(MIDNIGHT + 607 - clock.wall())
    lost = interval(counts_messages(agent), "05")  # reported for its crossing, with what survived the crash
    assert lost["complete"] is False and zones(lost)["lobby"][0] == 0


@pytest.mark.parametrize("gap, lost", [(3, (0, 0)), (30, (20, 21))], ids=["short", "long"])
def test_a_late_tick_loses_no_slot_within_the_fill_limit(tmp_path, clock, gap, lost):
    agent = two_in_the_lobby(Agent(agent_config(tmp_path), clock))
    agent.run(MIDNIGHT + 400 - clock.wall())
    for _ in range(gap * 5):  # frames, no tick: the stage was late by `gap` s
        agent.frame()
    agent.run(MIDNIGHT + 606 - clock.wall())
    samples = zones(interval(counts_messages(agent), "05"))["lobby"][0]
    assert 300 - lost[1] <= samples <= 300 - lost[0]
