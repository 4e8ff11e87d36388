"""Attacks through the response controls (arm, disarm, snooze from the platform or the console), on the real
outbox and state store as the delivery wires them (tests/test_response_desk.py's Box)."""

from __future__ import annotations

from edge_agent.actions.response_desk import AUDIT
from edge_agent.clock import FakeClock
from tests.test_response_desk import Box, agent_config


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
