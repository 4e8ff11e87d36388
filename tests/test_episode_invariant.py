"""Every start alert gets exactly one end alert across reloads, restarts and kills at any step.

A property test (hypothesis) drives the real ledger (`EpisodeSink` over a real `StateStore`
and `Outbox` on files) with random sequences of episode starts and ends, reloads that keep or
drop episodes, and kills that strike between any two steps of the ledger protocol (the
process's objects are abandoned mid-write, never closed, and new ones open the same files,
as after SIGKILL or a power cut). At the end the outbox must hold, for every start, exactly
one end linked to it, and no end without its start.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.clock import FakeClock
from edge_agent.config.outbox import OutboxConfig
from edge_agent.daemon.reload import settle_ledger
from edge_agent.events import AlertFactory
from edge_agent.store import Outbox
from edge_agent.store.episodes import EpisodeSink
from edge_agent.store.state_store import StateStore


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


class Device:
    """One process's worth of objects on the same files; `owners` is the rules' in-memory state."""

    def __init__(self, directory: Path, clock: FakeClock, fuse: Fuse):
        self.outbox = FusedOutbox(directory / "outbox.db", OutboxConfig(), clock)
        self.state = FusedState(directory / "state.db")
        self.outbox.fuse = self.state.fuse = fuse
        self.sink = EpisodeSink(self.outbox, self.state, clock)
        self.factory = AlertFactory("dev-1", "site-1", clock)
        self.owners: dict[int, object] = {}  # episode number -> its start alert


def start(device: Device, number: int) -> None:
    if number in device.owners:
        return
    alert = device.factory.make("intrusion", "major", ("camera", "cam"), phase="start", rule=f"rule-{number}")
    device.sink.emit(alert)
    device.owners[number] = alert


def end(device: Device, number: int) -> None:
    begun = device.owners.get(number)
    if begun is None:
        return
    alert = device.factory.make(
        "intrusion", "info", ("camera", "cam"), phase="end", rule=f"rule-{number}", related_event_id=begun.event_id
    )
    device.sink.emit(alert)
    del device.owners[number]


def reload(device: Device, keep: set[int], clock: FakeClock) -> None:
    """The new pipeline takes over `keep`; the ledger ends the rest with config_changed."""
    dropped = {alert.event_id for number, alert in device.owners.items() if number not in keep}
    for episode in device.state.open_episodes():
        if episode.start.event_id in dropped:
            device.sink.end(episode.start, "config_changed", clock.wall())
    device.owners = {number: alert for number, alert in device.owners.items() if number in keep}


operations = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.integers(0, 4)),
        st.tuples(st.just("end"), st.integers(0, 4)),
        st.tuples(st.just("reload"), st.sets(st.integers(0, 4))),
        st.tuples(st.just("kill"), st.integers(0, 6)),  # blow the fuse after this many more steps
    ),
    max_size=40,
)


def run(operations_list, directory: Path) -> list[dict]:
    clock, fuse = FakeClock(), Fuse()
    device = Device(directory, clock, fuse)
    for operation, argument in operations_list:
        clock.advance(1.0)
        try:
            if operation == "start":
                start(device, argument)
            elif operation == "end":
                end(device, argument)
            elif operation == "reload":
                reload(device, argument, clock)
            else:
                fuse.left = argument
        except Killed:
            device = Device(directory, clock, fuse)  # the old objects are abandoned, never closed
            settle_ledger(device.sink, device.factory.clock.wall(), adopt=lambda start: False)
    fuse.left = None
    device = Device(directory, clock, fuse)  # the last restart settles what is left
    settle_ledger(device.sink, clock.wall(), adopt=lambda start: False)
    return [json.loads(row.payload) for row in device.outbox.tail(10_000)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_every_start_has_exactly_one_end(operations_list):
    with tempfile.TemporaryDirectory() as directory:
        alerts = run(operations_list, Path(directory))
    starts = {a["event_id"] for a in alerts if a["phase"] == "start"}
    ends = [a["related_event_id"] for a in alerts if a["phase"] == "end"]
    assert sorted(ends) == sorted(starts), "each start needs exactly one end, and no end may lack its start"
    reasons = {a["details"].get("reason") for a in alerts if a["phase"] == "end"}
    assert reasons <= {None, "config_changed", "agent_restarted"}


def test_a_kill_between_ledger_and_outbox_promises_nothing(tmp_path):
    """The fuse blows right after the ledger row, before the outbox commit: no start, so no end."""
    alerts = run([("kill", 1), ("start", 1)], tmp_path)
    assert alerts == []


def test_a_kill_after_the_end_was_decided_stores_that_end_once(tmp_path):
    """Blown after the end is written to the ledger and the outbox, before the row goes: one end, same id."""
    alerts = run([("start", 1), ("kill", 2), ("end", 1)], tmp_path)
    assert [a["phase"] for a in alerts] == ["start", "end"] or [a["phase"] for a in alerts] == ["end", "start"]
    [the_end] = [a for a in alerts if a["phase"] == "end"]
    assert the_end["details"].get("reason") is None  # the rule's own end, not an agent_restarted one
