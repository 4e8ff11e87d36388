"""Attacks through the response controls (arm, disarm, snooze from the platform or the console), on the real
outbox and state store as the delivery wires them (tests/test_response_desk.py's Box)."""

from __future__ import annotations

import json

from edge_agent.actions.response_desk import AUDIT
from edge_agent.clock import FakeClock
from edge_agent.publish.commands import CommandDispatcher
from tests.test_response_desk import Box, agent_config, make_alert


def test_a_flood_of_controls_keeps_only_the_newest_audit_entries(tmp_path):
    """R1: every arm/disarm/snooze added an audit entry to the state store for ever, and the console read them
    all on each refresh: a sender repeating disarm/arm filled the box's disk and memory. The newest are kept."""
    clock = FakeClock(wall=1_780_000_000.0)
    box = Box(tmp_path, clock, agent_config())
    box.desk.max_audit = 5
    try:
        for turn in range(6):
            box.desk.control("disarm", "rule:anyone", f"remote:p{turn}", "remote", reason="x" * 200)
            clock.advance(1.0)
            box.desk.control("arm", "rule:anyone", f"remote:p{turn}", "remote")
            clock.advance(1.0)
        kept = box.state.facts(AUDIT)
        trail = box.desk.audit_trail()
    finally:
        box.close()
    assert len(kept) == 5
    assert [(e["command"], e["by"]) for e in trail] == [
        ("arm", "remote:p3"),
        ("disarm", "remote:p4"),
        ("arm", "remote:p4"),
        ("disarm", "remote:p5"),
        ("arm", "remote:p5"),
    ]


class DeskAgent:
    """The face's two response methods over a real ResponseDesk (what daemon/face.py does with the delivery's)."""

    def __init__(self, box):
        self.box = box

    def dispose(self, event_id, state, by, note, origin):
        return self.box.desk.dispose(event_id, state, by, note, origin)

    def control_alerts(self, command, target, by, origin, minutes=0, reason=""):
        return self.box.desk.control(command, target, by, origin, minutes, reason)


def command(name, **args):
    return json.dumps({"request_id": "r1", "args": args}).encode()


def test_control_characters_in_names_and_notes_are_refused_and_change_nothing(tmp_path):
    """R2: `by` took a NUL, which the box recorded and published and PostgreSQL then refused, so the platform lost
    the disposition; a line break in a name forges a log line. Names and ids take no control character, notes and
    reasons only line breaks and tabs; a refusal names the field and records nothing."""
    clock = FakeClock(wall=1_780_000_000.0)
    box = Box(tmp_path, clock, agent_config())
    dispatcher = CommandDispatcher(DeskAgent(box), clock)
    try:
        start = make_alert(clock)
        box.sink.emit(start)
        hostile = [
            ("dispose", {"event_id": start.event_id, "state": "acknowledged", "by": "ana\u0000"}, "by"),
            ("dispose", {"event_id": start.event_id, "state": "acknowledged", "by": "ana\nINFO forged"}, "by"),
            ("dispose", {"event_id": start.event_id, "state": "acknowledged", "by": "ana", "note": "a\u0007"}, "note"),
            ("disarm", {"rule": "night\r", "by": "ana"}, "rule"),
            ("snooze", {"rule": "night", "minutes": 5, "reason": "delivery\u0000", "by": "ana"}, "reason"),
        ]
        for name, args, field in hostile:
            reply = dispatcher.dispatch(name, command(name, **args))
            assert not reply.ok and field in reply.error and "control character" in reply.error, (name, reply.error)
        assert not box.state.facts(AUDIT)
        assert not [row for row in box.outbox.tail(100) if row.topic.endswith("/dispositions")]
        fine = dispatcher.dispatch(
            "dispose", command("dispose", event_id=start.event_id, state="acknowledged", by="ana", note="gate\n2")
        )
        assert fine.ok, fine.error
    finally:
        box.close()
