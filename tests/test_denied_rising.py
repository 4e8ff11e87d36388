"""door.denied_rising: denials rising against a door's own rate, warned before a burst.

Real DoorRules on a fake clock with scripted denials (a quiet door, a busy entrance, a new door),
the rule's state across a reload (adopt) and a restart (the state store file reopened), the warning
ended by a reload that disables the rule, config errors, and the real daemon: signed posts to an HTTP
push adapter → the warning published over MQTT and stored in the outbox, then ended by SIGHUP.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
from types import SimpleNamespace

import pytest
from scipy.stats import poisson

from edge_agent.access.service import DENIALS_SCOPE, AccessService
from edge_agent.clock import FakeClock, parse_utc
from edge_agent.config import ConfigError, parse_config
from edge_agent.daemon.reload import end_episodes
from edge_agent.events import AlertFactory, DoorEvent, ListSink
from edge_agent.rules.denials import MAX_RECENT, poisson_sf
from edge_agent.rules.door import DoorRules
from edge_agent.store.episodes import EpisodeSink
from edge_agent.store.state_store import StateStore
from tests.support.broker import free_port
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.wait import wait_for
from tests.test_access_common import access_config
from tests.test_daemon_access import access_section, post
from tests.test_door_rules import NINE_AM, TZ

RISING = "door.denied_rising"
DOORS = [{"id": "main-gate"}, {"id": "side-gate"}]


def access_for(tmp_path, **rising):
    # no forwarded access log: thousands of info alerts would only slow the contract check down
    return access_config(tmp_path, doors=DOORS, forward_events=[], denied_rising=rising)


def door_rules(tmp_path, clock, sink=None, **rising) -> DoorRules:
    factory = AlertFactory("dev-1", "site-1", clock)
    return DoorRules(access_for(tmp_path, **rising), factory, sink or ListSink(), clock, TZ)


class Denials:
    """Scripted denials, each from its own card unless told, ticking the rules as the access service does."""

    def __init__(self, rules: DoorRules, clock: FakeClock):
        self.rules, self.clock, self.cards = rules, clock, 0

    def deny(self, door: str = "main-gate", token: str | None = None, reason: str = "unknown_card") -> None:
        self.cards += 1
        event = DoorEvent(
            type="access.denied",
            door=door,
            adapter="push-1",
            edge_time=self.clock.wall(),
            reader=f"{door}-in",
            credential_token=token or f"token-{self.cards}",
            reason=reason,
        )
        self.rules.on_event(event)

    def wait(self, seconds: float, step: float = 10.0) -> None:
        while seconds > 0:
            self.clock.advance(min(step, seconds))
            seconds -= step
            self.rules.tick()

    def every(self, seconds: float, count: int, door: str = "main-gate") -> None:
        for _ in range(count):
            self.deny(door)
            self.wait(seconds)

    def history(self, door: str, per_hour: float, hours: float, seed: int) -> None:
        """`per_hour` denials for `hours`, evenly spaced with random jitter (no clusters by chance)."""
        rng, spacing = random.Random(seed), 3600 / per_hour
        for _ in range(round(per_hour * hours)):
            jitter = rng.uniform(0.2, 1.8) * spacing / 2
            self.wait(jitter, step=60)
            self.deny(door)
            self.wait(spacing - jitter, step=60)


def started(sink: ListSink, door: str = "main-gate"):
    return [a for a in sink.of_type(RISING) if a.phase == "start" and a.source.id == door]


def ended(sink: ListSink, door: str = "main-gate"):
    return [a for a in sink.of_type(RISING) if a.phase == "end" and a.source.id == door]


@pytest.mark.parametrize("mu", [1e-6, 0.01, 1 / 6, 1.0, 5.0, 40.0, 900.0])
def test_the_poisson_tail_is_exact(mu):
    for k in range(120):
        expected = poisson.sf(k - 1, mu)
        assert poisson_sf(k, mu) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_a_quiet_door_warns_on_denials_every_90_s_before_any_burst_and_ends_after_they_stop(tmp_path):
    clock, sink = FakeClock(wall=NINE_AM), ListSink()
    rules = door_rules(tmp_path, clock, sink)
    script = Denials(rules, clock)
    script.history("main-gate", per_hour=0.5, hours=24, seed=1)
    assert sink.of_type(RISING) == []

    for n in range(1, 11):  # one every 90 s: never 3 within the burst rule's 60 s
        script.deny()
        if n < 4:
            assert started(sink) == []  # 3 within 10 min: P = 6.8e-4 at the prior's 1/6, not below 1e-4
        else:
            assert len(started(sink)) == 1
        script.wait(90)
    assert sink.of_type("access.denied_burst") == []
    [start] = started(sink)
    assert start.severity.value == "minor" and start.details.door == "main-gate"
    facts = start.details.extra
    assert start.details.count == 4 and facts["window_s"] == 600
    assert facts["baseline_per_hour"] == pytest.approx(0.5, abs=0.1)  # learned: 12 denials in 24 h
    assert facts["expected"] == pytest.approx(1 / 6, abs=1e-4)  # the prior floor (1/h) is higher
    assert facts["p_value"] == pytest.approx(poisson.sf(3, 1 / 6), rel=1e-2) and facts["p_value"] < 1e-4
    assert facts["reasons"] == {"unknown_card": 4}

    last_denial = clock.wall() - 90
    while not ended(sink) and clock.wall() < last_denial + 3600:
        script.wait(10)
    [end] = ended(sink)
    # 7 denials stay in the window; it holds 3 (not significant) once the one 270 s before the last is 600 s old;
    # clear_after (120 s) later it ends, holding 2 by then
    assert last_denial + 330 + 120 <= clock.wall() <= last_denial + 330 + 120 + 20
    assert end.related_event_id == start.event_id and end.details.peak_count == 7
    assert end.details.count == 2 and end.details.duration_s == pytest.approx(9 * 90 - 270 + 330, abs=10)


def test_a_busy_door_at_that_pace_stays_silent_while_a_quiet_door_warns(tmp_path):
    clock, sink = FakeClock(wall=NINE_AM), ListSink()
    rules = door_rules(tmp_path, clock, sink)
    script = Denials(rules, clock)
    script.history("main-gate", per_hour=30, hours=24, seed=2)
    # The history is seeded and the clock fake, so this is one outcome, not a chance: a door with no history is
    # judged by the prior alone (1/h), so its first window warns at the 4th denial (min_count; 380 s in,
    # P(X >= 4; 1/6) = 2.8e-5) and ends once the learned rate explains the pace; nothing after it.
    [start] = started(sink)
    assert parse_utc(start.started_at) - NINE_AM == pytest.approx(380.147, abs=1e-3) and start.details.count == 4
    assert start.details.extra["p_value"] == pytest.approx(poisson.sf(3, 1 / 6), rel=1e-2)
    assert [end.related_event_id for end in ended(sink)] == [start.event_id]
    assert rules.denied_rising.verdict("main-gate").baseline_per_hour == pytest.approx(30, rel=0.1)
    sink.alerts.clear()

    for _ in range(40):  # an hour at one denial per 90 s at each door
        script.deny("main-gate")
        script.deny("side-gate")
        script.wait(90)
    assert started(sink, "main-gate") == []  # ~7 in 10 min where 5 are usual: P(X >= 7; 5) = 0.24
    assert len(started(sink, "side-gate")) == 1  # its own baseline: nothing before


def test_a_new_door_needs_the_prior_and_min_count(tmp_path):
    clock, sink = FakeClock(wall=NINE_AM), ListSink()
    (tmp_path / "defaults").mkdir()
    script = Denials(door_rules(tmp_path / "defaults", clock, sink), clock)
    script.every(60, 3)
    assert started(sink) == []  # P(X >= 3; 1/6) = 6.8e-4: a new door is not judged touchier than the prior
    script.deny()
    [start] = started(sink)
    assert start.details.count == 4 and start.details.extra["baseline_per_hour"] == 0

    sink = ListSink()
    (tmp_path / "loose").mkdir()
    script = Denials(door_rules(tmp_path / "loose", clock, sink, p_value=0.05, min_count=3), clock)
    script.every(60, 2)
    assert script.rules.denied_rising.verdict("main-gate").p_value < 0.05
    assert started(sink) == []  # significant, but fewer than min_count
    script.deny()
    assert len(started(sink)) == 1

    sink = ListSink()
    (tmp_path / "busy-prior").mkdir()
    script = Denials(door_rules(tmp_path / "busy-prior", clock, sink, prior_rate=30), clock)
    script.every(60, 10)
    assert started(sink) == []  # 10 within 10 min where the prior expects 5: P = 0.03
    script.every(5, 10)  # 19 within 10 min: P(X >= 19; 5) = 1.1e-6
    assert len(started(sink)) == 1


def test_single_denials_never_warn_even_with_the_loosest_settings(tmp_path):
    clock, sink = FakeClock(wall=NINE_AM), ListSink()
    rules = door_rules(tmp_path, clock, sink, p_value=0.05, min_count=2, prior_rate=0.001)
    script = Denials(rules, clock)
    script.deny()
    assert rules.denied_rising.verdict("main-gate").p_value < 1e-3  # improbable at this prior, but one is no rise
    script.wait(601)
    script.every(601, 6 * 24)  # then one per window for a day
    assert sink.of_type(RISING) == []


def test_retries_of_one_card_count_once(tmp_path):
    clock, sink = FakeClock(wall=NINE_AM), ListSink()
    rules = door_rules(tmp_path, clock, sink, p_value=0.05, min_count=2)
    script = Denials(rules, clock)
    for _ in range(3):
        script.deny(token="token-expired-card", reason="expired")
        script.wait(10)
    assert sink.of_type(RISING) == [] and rules.denied_rising.retries == 2
    script.deny(token="token-someone-else")
    [start] = started(sink)
    assert start.details.count == 2 and start.details.extra["reasons"] == {"expired": 1, "unknown_card": 1}


def test_the_warning_is_armed_by_its_schedule(tmp_path):
    clock, sink = FakeClock(wall=NINE_AM), ListSink()
    rules = door_rules(tmp_path, clock, sink, schedule=[{"start": "09:00", "end": "09:10"}])  # site time
    script = Denials(rules, clock)
    script.every(60, 4)
    [start] = started(sink)
    script.every(60, 10)  # 09:10 passes with the denials still coming
    [end] = ended(sink)
    assert (end.related_event_id, end.details.reason) == (start.event_id, "disarmed")
    assert parse_utc(end.ended_at) == NINE_AM + 600
    assert len(started(sink)) == 1  # no new warning while disarmed, though the count is still significant


def test_a_backlog_posted_after_an_outage_is_history_not_a_rise(tmp_path):
    clock, sink = FakeClock(wall=NINE_AM), ListSink()
    rules = door_rules(tmp_path, clock, sink)
    Denials(rules, clock).wait(4 * 3600)
    for minute in range(10):  # ten denials of three hours ago, posted at once when the controller is back
        event = DoorEvent(
            type="access.denied",
            door="main-gate",
            adapter="push-1",
            edge_time=clock.wall(),
            device_time=clock.wall() - 3 * 3600 + minute * 60,
            credential_token=f"token-{minute}",
            reason="unknown_card",
        )
        rules.on_event(event)
    verdict = rules.denied_rising.verdict("main-gate")
    assert sink.of_type(RISING) == [] and verdict.count == 0
    assert verdict.baseline_per_hour == pytest.approx(10 / (4 - 600 / 3600), rel=0.01)  # learned from


def test_an_unreadable_stored_history_is_learned_afresh(tmp_path, caplog):
    clock = FakeClock(wall=NINE_AM)
    state = StateStore(tmp_path / "state.db")
    state.put(DENIALS_SCOPE, "main-gate", {"hours": "not a list"}, clock.wall())
    service = AccessService(access_for(tmp_path), AlertFactory("d", "s", clock), ListSink(), clock, TZ, state=state)
    assert service.rules.denied_rising.verdict("main-gate").baseline_per_hour == 0
    assert "main-gate: stored denial history unreadable" in caplog.text


def test_the_history_survives_a_restart_without_counting_the_downtime(tmp_path):
    clock = FakeClock(wall=NINE_AM)
    factory, access = AlertFactory("dev-1", "site-1", clock), access_for(tmp_path)
    first = AccessService(access, factory, ListSink(), clock, TZ, state=StateStore(tmp_path / "state.db"))
    Denials(first.rules, clock).history("main-gate", per_hour=30, hours=24, seed=3)
    first.start()
    first.stop(2.0)  # saves what changed
    saved = first.state.facts(DENIALS_SCOPE)
    assert set(saved) == {"main-gate", "side-gate"} and len(saved["main-gate"]["hours"]) <= 26
    assert len(saved["main-gate"]["recent"]) <= MAX_RECENT
    first.state.close()

    clock.advance(6 * 3600)  # the agent was down for 6 h
    state = StateStore(tmp_path / "state.db")
    sink = ListSink()
    second = AccessService(access, factory, sink, clock, TZ, state=state)
    # 18 h of history in the baseline; counted over 24 h (the downtime as quiet) the rate would be 23/h
    assert second.rules.denied_rising.verdict("main-gate").baseline_per_hour == pytest.approx(30, rel=0.1)
    Denials(second.rules, clock).every(90, 20)
    assert started(sink) == []

    fresh_sink = ListSink()
    fresh = AccessService(access, factory, fresh_sink, clock, TZ, state=StateStore(tmp_path / "fresh.db"))
    Denials(fresh.rules, clock).every(90, 20)
    assert len(started(fresh_sink)) == 1  # the same pace at a door with no history warns


def test_a_reload_carries_the_history_and_the_warning_of_an_unchanged_rule(tmp_path):
    clock, sink = FakeClock(wall=NINE_AM), ListSink()
    old = door_rules(tmp_path, clock, sink)
    script = Denials(old, clock)
    script.history("side-gate", per_hour=30, hours=3, seed=4)
    script.every(90, 5)
    [start] = started(sink)

    new = DoorRules(
        access_config(tmp_path, doors=DOORS, forward_events=[], denials={"count": 9, "window": 60}),
        AlertFactory("dev-1", "site-1", clock),
        sink,
        clock,
        TZ,
    )
    new.adopt(old)
    assert new.open_episode_ids() == {start.event_id}
    busy = new.denied_rising.verdict("side-gate")
    assert busy.baseline_per_hour == pytest.approx(30, rel=0.15)  # not a new door after the reload
    script.rules = new
    script.every(90, 5)
    script.wait(1800)
    assert len(started(sink)) == 1
    [end] = ended(sink)
    assert end.related_event_id == start.event_id

    changed = door_rules(tmp_path, clock, sink, p_value=1e-3)
    changed.adopt(new)
    assert changed.denied_rising.verdict("side-gate").baseline_per_hour > 20  # the thresholds changed, not the door


def test_disabling_the_rule_by_a_reload_ends_the_warning_with_config_changed(tmp_path, outbox):
    clock = FakeClock(wall=NINE_AM)
    factory, state = AlertFactory("dev-1", "site-1", clock), StateStore(tmp_path / "state.db")
    episodes = EpisodeSink(outbox, state, clock)
    old = DoorRules(access_for(tmp_path), factory, episodes, clock)
    Denials(old, clock).every(60, 4)
    [opened] = state.open_episodes()
    assert opened.start.type == RISING and old.open_episode_ids() == {opened.start.event_id}

    new = DoorRules(access_for(tmp_path, enabled=False), factory, episodes, clock)
    new.adopt(old)
    orphans = old.open_episode_ids() - new.open_episode_ids()  # what daemon/reload.py's end_orphans ends
    assert orphans == {opened.start.event_id}
    delivery = SimpleNamespace(factory=factory, state=state, sink=episodes)
    assert len(end_episodes(delivery, orphans, "config_changed")) == 1
    assert state.open_episodes() == []
    [end] = [alert for alert in map(json.loads, (row.payload for row in outbox.tail(10))) if alert["phase"] == "end"]
    assert (end["related_event_id"], end["details"]["reason"]) == (opened.start.event_id, "config_changed")
    Denials(new, clock).every(10, 20)
    assert len(state.open_episodes()) == 0  # disabled: nothing more
    state.close()


@pytest.mark.parametrize(
    "rising, path, complaint",
    [
        ("window: 7200\nbaseline: 3600", "access.denied_rising", "baseline (3600 s) must be longer than window"),
        ("min_count: 1", "access.denied_rising.min_count", "greater than or equal to 2"),
        ("p_value: 0.5", "access.denied_rising.p_value", "less than or equal to 0.05"),
        ("prior_rate: 0", "access.denied_rising.prior_rate", "greater than 0"),
        ("pvalue: 0.001", "access.denied_rising.pvalue", "did you mean 'p_value'?"),
    ],
)
def test_config_errors_name_the_key_and_say_what_is_wrong(rising, path, complaint):
    lines = ["device: {id: dev-1, site: site-1}", "mqtt: {host: broker.local}", "access:", "  denied_rising:"]
    text = "\n".join(lines + [f"    {line}" for line in rising.splitlines()]) + "\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="agent.yaml", environ={})
    [issue] = caught.value.issues
    assert issue.path == path and complaint in issue.message, issue.format("agent.yaml")
    assert issue.line is not None


def test_the_daemon_publishes_and_stores_the_warning_and_ends_it_when_a_reload_disables_the_rule(tmp_path, mosquitto):
    port = free_port()
    access = access_section(tmp_path, port, denials=10)  # the burst rule would need 10 within 60 s
    access["denied_rising"] = {"min_count": 3, "p_value": 0.001}
    config = base_config(tmp_path / "state", mosquitto.port, access=access)
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        assert watcher.wait_ready()["ok"]
        for seq in range(3):  # a new door: 3 within 10 min is P = 6.8e-4 at the prior's 1/6
            event = {"type": "access.denied", "reader": "r1", "card": f"77{seq}", "reason": "unknown_card"}
            assert post(port, {**event, "codes": {"seq": seq}})[0] == 200
        [start] = wait_for(lambda: watcher.payloads(f"alerts/{RISING}"), timeout=15, message="the warning")
        assert (start["phase"], start["source"], start["details"]["count"]) == (
            "start",
            {"kind": "door", "id": "main-gate"},
            3,
        )
        assert start["details"]["extra"]["p_value"] < 0.001
        assert watcher.payloads("alerts/access.denied_burst") == []

        config["access"]["denied_rising"]["enabled"] = False
        daemon.write_config(config)
        daemon.signal(signal.SIGHUP)
        ends = wait_for(
            lambda: [a for a in watcher.payloads(f"alerts/{RISING}") if a["phase"] == "end"],
            timeout=20,
            message="the warning ended by the reload",
        )
        assert [(e["related_event_id"], e["details"]["reason"]) for e in ends] == [
            (start["event_id"], "config_changed")
        ]
        assert daemon.stop() == 0
    finally:
        if daemon.running():
            daemon.stop()
        watcher.close()
    with sqlite3.connect(tmp_path / "state" / "outbox.db") as db:
        stored = [row[0] for row in db.execute("SELECT event_id FROM outbox WHERE topic LIKE ?", (f"%/{RISING}",))]
    assert sorted(stored) == sorted([start["event_id"], ends[0]["event_id"]])
    assert "Traceback" not in daemon.log()
