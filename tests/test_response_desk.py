"""The response desk on a real outbox and state store, with real HTTP actions: dispositions (order, repeats,
unknown events, bound actions), escalation timers in the episode ledger, and snoozes that report what they hid.
Every time is a short real wait on the system clock or a FakeClock step: no sleep-and-hope."""

from __future__ import annotations

import json

import pytest

from edge_agent.actions.response_desk import ResponseDesk, ResponseRefused
from edge_agent.clock import FakeClock
from edge_agent.config import AgentConfig
from edge_agent.config.outbox import OutboxConfig
from edge_agent.events import AlertFactory, Topics
from edge_agent.store import Outbox
from edge_agent.store.episodes import EpisodeSink
from edge_agent.store.state_store import StateStore
from tests.support.actions import make_alert, records_of, start_runner
from tests.support.wait import wait_for

TOPICS = Topics("edge", "site-1", "dev-1")


def agent_config(escalate: dict | None = None) -> AgentConfig:
    rule = {"name": "anyone", "type": "intrusion", "camera": "entrance", "zone": "room"}
    if escalate is not None:
        rule["escalate"] = escalate
    return AgentConfig.model_validate(
        {
            "device": {"id": "dev-1", "site": "site-1"},
            "cameras": [
                {
                    "id": "entrance",
                    "url": "rtsp://127.0.0.1/x",
                    "enabled": False,
                    "zones": {"room": {"points": [[0, 0], [1, 0], [1, 1], [0, 1]]}},
                }
            ],
            "rules": [rule],
            "actions": [
                {"name": "siren-on", "kind": "http", "url": "http://127.0.0.1:1/on", "on": [{"rule": "anyone"}]},
            ],
        }
    )


class Box:
    """The delivery's response parts, as daemon/delivery.py wires them, on files in `directory`."""

    def __init__(self, directory, clock, config: AgentConfig, runner=None):
        self.outbox = Outbox(directory / "outbox.db", OutboxConfig(), clock, topic_prefix="edge")
        self.state = StateStore.beside(directory / "outbox.db")
        self.sink = EpisodeSink(self.outbox, self.state, clock)
        self.factory = AlertFactory("dev-1", "site-1", clock)
        self.desk = ResponseDesk(self.state, self.outbox, self.sink.emit, self.factory, TOPICS)
        self.sink.response, self.sink.escalations = self.desk, self.desk.ledger
        self.desk.configure(config, lambda: runner)

    def alerts(self, alert_type: str) -> list[dict]:
        return [json.loads(row.payload) for row in self.outbox.tail(1000) if row.topic.endswith(f"/{alert_type}")]

    def close(self) -> None:
        self.state.close()
        self.outbox.close()


@pytest.fixture
def clock():
    return FakeClock(wall=1_780_000_000.0)


def test_dispositions_follow_the_order_and_a_refused_one_changes_nothing(tmp_path, clock):
    box = Box(tmp_path, clock, agent_config())
    start = make_alert(clock)
    box.sink.emit(start)
    end = box.factory.make("intrusion", "info", ("camera", "entrance"), phase="end", related_event_id=start.event_id)
    box.sink.emit(end)
    try:
        first = box.desk.dispose(start.event_id, "acknowledged", "ana", "on my way", "remote")
        assert first["outcome"] == "recorded" and first["disposition"]["state"] == "acknowledged"
        before = [row.event_id for row in box.outbox.tail(1000)]
        refusals = [
            (start.event_id, "acknowledged", "duplicate", "already acknowledged"),
            ("0190aaaa-0000-7000-8000-000000000000", "acknowledged", "unknown_event", "no alert"),
            (end.event_id, "acknowledged", "end_alert", "is an end alert"),
        ]
        box.desk.dispose(start.event_id, "resolved", "ana", "", "console")
        refusals.append((start.event_id, "dispatched", "out_of_order", "already resolved"))
        for event_id, state, outcome, words in refusals:
            with pytest.raises(ResponseRefused, match=words) as refused:
                box.desk.dispose(event_id, state, "bob", "", "remote")
            assert refused.value.result["outcome"] == outcome
        added = [json.loads(row.payload) for row in box.outbox.tail(1000)][len(before) :]
        assert [(message["state"], message["origin"]) for message in added] == [("resolved", "console")]
        states = [d["state"] for d in box.alerts("dispositions")]
        assert states == ["acknowledged", "resolved"]  # the refusals published nothing
        assert [d.state for d in box.desk.ledger.dispositions(start.event_id)] == ["acknowledged", "resolved"]
        box.desk.dispose(start.event_id, "false_alarm", "ana", "a cat", "remote")  # may follow any state
        with pytest.raises(ResponseRefused, match="closed as false_alarm"):
            box.desk.dispose(start.event_id, "dispatched", "ana", "", "remote")
        assert box.desk.counts["refused"] == 5 and box.desk.counts["dispositions"] == 3
    finally:
        box.close()


def test_the_answer_runs_the_action_bound_to_it_with_the_alert_fields(tmp_path, clock, target):
    runner = start_runner(
        Outbox(tmp_path / "records.db", OutboxConfig(), topic_prefix="edge"),
        {
            "name": "siren-off",
            "kind": "http",
            "url": f"{target.url}/ok/off/{{disposition}}/{{zone}}",
            "on": [{"rule": "anyone", "dispositions": ["acknowledged"]}],
        },
    )
    box = Box(tmp_path, clock, agent_config(), runner)
    try:
        start = make_alert(clock)
        runner.offer(start)  # the start itself does not run a disposition-bound action
        box.sink.emit(start)
        box.desk.dispose(start.event_id, "dispatched", "ana", "", "remote")  # not bound: nothing runs
        other = make_alert(clock, rule="other")
        box.sink.emit(other)
        box.desk.dispose(other.event_id, "acknowledged", "ana", "", "remote")  # another rule: nothing runs
        assert target.requests == []
        fresh = make_alert(clock)
        box.sink.emit(fresh)
        result = box.desk.dispose(fresh.event_id, "acknowledged", "ana", "", "remote")
        assert [a["action"] for a in result["actions"]] == ["siren-off"]
        wait_for(lambda: target.of_kind("ok"), message="the siren's stop")
        assert [request.path for request in target.requests] == ["/ok/off/acknowledged/room"]
        wait_for(lambda: records_of(runner.store, "siren-off"), message="its record")
        record = records_of(runner.store, "siren-off")[0]
        assert record["trigger"] == "disposition" and record["alert_event_id"] == fresh.event_id
    finally:
        runner.stop()
        box.close()


def test_an_unanswered_start_escalates_once_and_an_answer_cancels_it(tmp_path, clock):
    box = Box(tmp_path, clock, agent_config({"after": 30}))
    try:
        answered, ignored = make_alert(clock), make_alert(clock, zone="hall")
        box.sink.emit(answered)
        box.sink.emit(ignored)
        clock.advance(29.0)
        box.desk.tick()
        assert box.alerts("alert.unanswered") == []
        box.desk.dispose(answered.event_id, "acknowledged", "ana", "", "console")
        clock.advance(1.0)
        box.desk.tick()
        box.desk.tick()
        unanswered = box.alerts("alert.unanswered")
        assert [u["details"]["extra"]["unanswered_event_id"] for u in unanswered] == [ignored.event_id]
        assert unanswered[0]["details"]["extra"]["after_s"] == 30.0 and unanswered[0]["severity"] == "major"
        assert box.desk.ledger.pending_escalations() == 0
    finally:
        box.close()


def test_escalation_timers_and_snoozes_survive_a_restart(tmp_path, clock):
    config = agent_config({"after": 30})
    box = Box(tmp_path, clock, config)
    start, answered = make_alert(clock), make_alert(clock, zone="hall")
    box.sink.emit(start)
    box.sink.emit(answered)
    box.desk.dispose(answered.event_id, "acknowledged", "ana", "", "console")
    box.desk.control("snooze", "rule:anyone", "guard", "console", minutes=1, reason="delivery")
    earlier = make_alert(clock, zone="gate")
    box.sink.emit(earlier)  # kept back by the snooze: no alert, so nothing to dispose
    with pytest.raises(ResponseRefused, match="no alert"):
        box.desk.dispose(earlier.event_id, "acknowledged", "ana", "", "remote")
    hidden = make_alert(clock, zone="dock")
    box.sink.emit(hidden)  # kept back
    box.sink.emit(
        box.factory.make(
            "intrusion", "info", ("camera", "entrance"), phase="end", related_event_id=hidden.event_id, rule="anyone"
        )
    )  # its end too
    box.close()

    again = Box(tmp_path, clock, config)
    try:
        with pytest.raises(ResponseRefused, match="nothing changed"):  # the state store remembers the answers
            again.desk.dispose(answered.event_id, "acknowledged", "bob", "", "remote")
        assert again.desk.snapshot()["snoozed"]["rule:anyone"]["suppressed"] == 2
        again.sink.emit(make_alert(clock, type="loitering"))  # kept back too, counted after the restart
        clock.advance(30.0)
        again.desk.tick()
        assert [u["details"]["extra"]["unanswered_event_id"] for u in again.alerts("alert.unanswered")] == [
            start.event_id
        ]
        assert again.alerts("rule.snoozed_report") == []
        clock.advance(30.0)
        again.desk.tick()
        report = again.alerts("rule.snoozed_report")
        assert len(report) == 1
        extra = report[0]["details"]["extra"]
        assert extra["suppressed"] == 3 and extra["suppressed_types"] == {"intrusion": 2, "loitering": 1}
        assert extra["ended_by"] == "expired" and extra["reason"] == "delivery"
        assert [a["details"].get("zone") for a in again.alerts("intrusion")] == ["room", "hall"]  # gate, dock: never
        after = make_alert(clock, zone="yard")
        again.sink.emit(after)
        assert after.event_id in [a["event_id"] for a in again.alerts("intrusion")]
    finally:
        again.close()


def test_disarm_keeps_back_its_target_until_armed_but_never_agent_health(tmp_path, clock):
    box = Box(tmp_path, clock, agent_config())
    try:
        result = box.desk.control("disarm", "camera:entrance", "guard", "console")
        assert result["disarmed"]["by"] == "guard"
        box.sink.emit(make_alert(clock, zone="a"))  # the camera's: kept back
        box.sink.emit(make_alert(clock, zone="b", type="door.forced", phase="instant", rule=None, source="gate"))
        box.desk.control("disarm", "all", "guard", "console")
        box.sink.emit(make_alert(clock, zone="c", type="door.forced", phase="instant", rule=None, source="gate"))
        box.sink.emit(
            box.factory.make("agent.health", "minor", ("device", "dev-1"), details={"reason": "stage_crashed"})
        )
        snapshot = box.desk.snapshot()
        assert (
            snapshot["disarmed"]["camera:entrance"]["suppressed"] == 1
            and snapshot["disarmed"]["all"]["suppressed"] == 1
        )
        with pytest.raises(ResponseRefused, match="neither disarmed nor snoozed"):
            box.desk.control("arm", "rule:anyone", "guard", "console")
        with pytest.raises(ResponseRefused, match="unknown target 'camera:lobby'"):
            box.desk.control("disarm", "camera:lobby", "guard", "console")
        with pytest.raises(ResponseRefused, match="snooze takes a rule"):
            box.desk.control("snooze", "all", "guard", "console", minutes=5, reason="x")
        box.desk.control("arm", "all", "guard", "console")
        box.desk.control("arm", "camera:entrance", "guard", "console")
        box.sink.emit(make_alert(clock, zone="d"))
        zones = [a["details"].get("zone") for a in box.alerts("intrusion") + box.alerts("door.forced")]
        assert zones == ["d", "b"] and len(box.alerts("agent.health")) == 1
        trail = [(entry["command"], entry["target"]) for entry in box.desk.audit_trail()]
        assert trail == [("disarm", "camera:entrance"), ("disarm", "all"), ("arm", "all"), ("arm", "camera:entrance")]
    finally:
        box.close()
