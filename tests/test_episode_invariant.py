"""Every start alert gets exactly one end alert across reloads, restarts and kills at any step.

A property test (hypothesis) drives the daemon's own code paths: a real `RuleEngine` (five
intrusion rules, one zone each) opens and ends episodes as scripted people arrive and leave; a
reload builds a new engine from a new config (rules added, removed, or changed so they are not
taken over) and runs the daemon's `daemon/reload.py:hand_over` (the engine's `adopt`, then
`end_orphans` ending what was not taken over with `config_changed`); a restart runs
`settle_previous_run`, as `Agent.run` does. All of it writes to the real ledger (`EpisodeSink`
over a real `StateStore` and `Outbox` on files). Kills strike between any two writes (the
process's objects are abandoned mid-write, never closed, and new ones open the same files, as
after SIGKILL or a power cut). At the end the outbox must hold, for every start, exactly one end
linked to it, and no end without its start; and after every step that no kill cut short, the
ledger's open episodes are exactly those the running engine holds (nothing a reload dropped is
left open for a restart to end).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.clock import FakeClock
from edge_agent.config import AgentConfig
from edge_agent.config.outbox import OutboxConfig
from edge_agent.daemon.delivery import Delivery
from edge_agent.daemon.health import Health
from edge_agent.daemon.parts import PipelineParts
from edge_agent.daemon.reload import Running, hand_over, held_episodes, settle_previous_run
from edge_agent.daemon.stage_kinds import Stages
from edge_agent.daemon.supervisor import Supervisor
from edge_agent.daemon.video_stages import VideoParts
from edge_agent.events import AlertFactory, FrameDetections, Topics
from edge_agent.rules.engine import RuleEngine
from edge_agent.store import Outbox
from edge_agent.store.episodes import EpisodeSink
from edge_agent.store.state_store import StateStore
from tests.test_rules import person

RULES = range(5)  # rule i watches zone i, a vertical strip of the frame


class Killed(BaseException):
    """The process died here (BaseException: nothing on the way may catch it)."""


class Fuse:
    """Blows after `left` more protocol steps; every ledger and outbox write is a step."""

    def __init__(self) -> None:
        self.left: int | None = None

    def step(self) -> None:
        if self.left is not None:
            self.left -= 1
            if self.left < 0:
                self.left = None
                raise Killed()


class FusedOutbox(Outbox):
    fuse: Fuse

    def emit(self, alert) -> None:
        self.fuse.step()
        super().emit(alert)


class FusedState(StateStore):
    fuse: Fuse

    def _write(self, sql: str, params: tuple) -> bool:
        self.fuse.step()
        return super()._write(sql, params)


def agent_config(directory: Path, rules: dict[int, str]) -> AgentConfig:
    """`rules`: rule number -> its severity (a changed severity is a changed rule: not taken over)."""
    zones = {
        f"z{i}": {"points": [[i * 0.2, 0.0], [i * 0.2 + 0.2, 0.0], [i * 0.2 + 0.2, 1.0], [i * 0.2, 1.0]]} for i in RULES
    }
    intrusions = [
        {"name": f"rule-{i}", "type": "intrusion", "camera": "cam", "zone": f"z{i}", "min_dwell": 0, "clear_after": 1.5}
        | {"cooldown": 0, "severity": severity}
        for i, severity in sorted(rules.items())
    ]
    return AgentConfig.model_validate(
        {
            "device": {"id": "dev-1", "site": "site-1", "state_dir": str(directory)},
            "cameras": [{"id": "cam", "url": "file.mp4", "zones": zones}],
            "rules": intrusions,
        }
    )


class Device:
    """One process's worth of objects on the same files: the delivery the daemon keeps and a pipeline's engine."""

    def __init__(self, directory: Path, clock: FakeClock, fuse: Fuse, config: AgentConfig):
        outbox = FusedOutbox(directory / "outbox.db", OutboxConfig(), clock)
        state = FusedState(directory / "state.db")
        outbox.fuse = state.fuse = fuse
        sink = EpisodeSink(outbox, state, clock)
        factory = AlertFactory("dev-1", "site-1", clock)
        topics = Topics("edge", "site-1", "dev-1")
        # no publisher: nothing here is sent, the outbox is read at the end
        self.delivery = Delivery(
            config, "dev-1", topics, outbox, None, factory, Health(factory, sink), state, sink, clock
        )
        self.clock = clock
        self.running = self.build(config)
        self.seq = 0

    def build(self, config: AgentConfig) -> Running:
        """What `Agent._new_running` builds, minus cameras and detector: the video rules and a supervisor."""
        engine = RuleEngine.from_config(config, self.delivery.factory, self.delivery.sink)
        supervisor = Supervisor(30, 5, 60, self.clock)
        video = VideoParts(stages=Stages(), engine=engine, feeds={}, cameras=dict, lines=dict, detector=dict)
        return Running(config, PipelineParts(video=video), supervisor)

    def frame(self, present: set[int]) -> None:
        self.seq += 1
        frame = FrameDetections("cam", self.seq, self.clock.wall(), self.clock.monotonic(), ())
        tracks = [person(i + 1, i * 0.2 + 0.1, 0.5) for i in sorted(present)]
        self.running.parts.video.engine.process(frame, tracks)

    def assert_ledger_matches_the_engine(self) -> None:
        ledger = {episode.start.event_id for episode in self.delivery.state.open_episodes()}
        assert ledger == held_episodes(self.running.parts), "the ledger and the running rules disagree"

    def reload(self, config: AgentConfig) -> None:
        incoming = self.build(config)
        hand_over(self.running, incoming, self.delivery)
        self.running = incoming


def restart(directory: Path, clock: FakeClock, fuse: Fuse, config: AgentConfig) -> Device:
    """A new process on the same files: the old objects are abandoned, never closed; the ledger is settled."""
    device = Device(directory, clock, fuse, config)
    settle_previous_run(device.delivery, config)
    return device


operations = st.lists(
    st.one_of(
        st.tuples(st.just("arrive"), st.sampled_from(RULES)),
        st.tuples(st.just("leave"), st.sampled_from(RULES)),
        st.tuples(st.just("wait"), st.just(None)),
        # the rules the new config has, and which of them change (so the new engine does not take them over)
        st.tuples(st.just("reload"), st.tuples(st.sets(st.sampled_from(RULES)), st.sets(st.sampled_from(RULES)))),
        st.tuples(st.just("kill"), st.integers(0, 6)),  # blow the fuse after this many more writes
    ),
    max_size=40,
)


def run(operations_list, directory: Path) -> list[dict]:
    clock, fuse = FakeClock(), Fuse()
    rules = dict.fromkeys(RULES, "minor")
    config = agent_config(directory, rules)
    device = restart(directory, clock, fuse, config)
    present: set[int] = set()
    for operation, argument in operations_list:
        clock.advance(1.0)
        try:
            if operation == "arrive":
                present.add(argument)
            elif operation == "leave":
                present.discard(argument)
            elif operation == "reload":
                kept, changed = argument
                rules = {
                    i: ("major" if rules.get(i) == "minor" else "minor") if i in changed else rules.get(i, "minor")
                    for i in kept
                }
                config = agent_config(directory, rules)
                device.reload(config)
            elif operation == "kill":
                fuse.left = argument
            device.frame(present)
            device.assert_ledger_matches_the_engine()
        except Killed:
            device = restart(directory, clock, fuse, config)
    fuse.left = None
    device = restart(directory, clock, fuse, config)  # the last restart settles what is left
    return [json.loads(row.payload) for row in device.delivery.outbox.tail(10_000)]


def assert_every_start_has_one_end(alerts: list[dict]) -> None:
    starts = {a["event_id"] for a in alerts if a["phase"] == "start"}
    ends = [a["related_event_id"] for a in alerts if a["phase"] == "end"]
    assert sorted(ends) == sorted(starts), "each start needs exactly one end, and no end may lack its start"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_every_start_has_exactly_one_end(operations_list):
    with tempfile.TemporaryDirectory() as directory:
        alerts = run(operations_list, Path(directory))
    assert_every_start_has_one_end(alerts)
    reasons = {a["details"].get("reason") for a in alerts if a["phase"] == "end"}
    assert reasons <= {None, "config_changed", "agent_restarted"}


def ends(alerts: list[dict]) -> list[tuple[str, str | None]]:
    """(rule, reason) of every end, in the order stored."""
    return [(a["rule"], a["details"].get("reason")) for a in alerts if a["phase"] == "end"]


def test_a_reload_ends_the_episodes_of_removed_and_changed_rules_and_keeps_the_rest(tmp_path):
    alerts = run([("arrive", 0), ("arrive", 1), ("arrive", 2), ("reload", ({0, 1}, {1}))], tmp_path)
    assert_every_start_has_one_end(alerts)
    # rule-1 changed and rule-2 went: their episodes end with the reload; rule-0 was taken over, and the
    # changed rule-1 started again (its person is still there); both are open at the last stop
    assert sorted(ends(alerts)) == [
        ("rule-0", "agent_restarted"),
        ("rule-1", "agent_restarted"),
        ("rule-1", "config_changed"),
        ("rule-2", "config_changed"),
    ]
    assert [a["rule"] for a in alerts if a["phase"] == "start"] == ["rule-0", "rule-1", "rule-2", "rule-1"]


def test_a_kill_between_ledger_and_outbox_promises_nothing(tmp_path):
    """The fuse blows right after the ledger row, before the outbox commit: no start, so no end."""
    alerts = run([("kill", 1), ("arrive", 1)], tmp_path)
    assert alerts == []


def test_a_kill_after_the_end_was_decided_stores_that_end_once(tmp_path):
    """Blown after the end is written to the ledger and the outbox, before the row goes: one end, same id."""
    alerts = run(
        [("arrive", 1), ("leave", 1), ("kill", 2), ("wait", None)], tmp_path
    )  # the end comes in the kill's frame
    assert sorted(a["phase"] for a in alerts) == ["end", "start"]
    [the_end] = [a for a in alerts if a["phase"] == "end"]
    assert the_end["details"].get("reason") is None  # the rule's own end, not an agent_restarted one
