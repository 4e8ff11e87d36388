"""Tailgating end to end: `replay` of the entrance clip with scripted door events.

The clip (see tests/test_replay.py for what watching it established) shows six
visitors walking in one at a time over the `floor` line; they first appear at
frames 60, 228, 502, 746, 926 and 1236 (10 fps). The door `main-gate` is tied to
that line. Grants are scripted, by eye, at the moment visitors 1, 3 and 5
appear; a grant at another door when visitor 2 appears and an outward grant
when visitor 4 appears must not cover them. Replaying the first 100 s (five
entries) must raise tailgating exactly for visitors 2 and 4.

The replay is the real one (`replay_clip(..., ReplayOptions(door_events=...))`, what
`edge-agent replay --door-events` runs): frames → motion gate → detector →
tracker → rule engine, whose line crossings feed the tailgating fusion, while
the scripted events (card numbers tokenized with the config's site key) reach
the door rules and the fusion at their clip times. The `entering` rule alerts
on every inward crossing of `floor`, which tells us which track entered when.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from edge_agent.cli.main import main
from edge_agent.clock import FakeClock
from edge_agent.config import load_config
from edge_agent.replay import ReplayOptions, replay_clip
from tests.support.assets import ROOT, footage
from tests.test_access_common import write_site_key

pytestmark = [pytest.mark.assets, pytest.mark.slow]

T0 = 1_767_225_600.0
FPS = 10.0
APPEARS = [60, 228, 502, 746, 926, 1236]  # first frame each visitor is visible, by eye
REPLAY_SECONDS = 100.0  # visitors 1-5
CARDS = ["4010001", "4010002", "4010003", "4010004", "4010005"]


def grant(visitor: int, door: str = "main-gate", direction: str = "in") -> dict:
    return {
        "at_clip_s": APPEARS[visitor - 1] / FPS,
        "type": "access.granted",
        "door": door,
        "direction": direction,
        "reader": "r-in",
        "card": CARDS[visitor - 1],
    }


SCRIPT = [grant(1), grant(2, door="side-door"), grant(3), grant(4, direction="out"), grant(5)]


@pytest.fixture(scope="module")
def environ(replay_environ):
    return replay_environ


def entrance_config_file(tmp_path: Path) -> Path:
    document = yaml.safe_load((ROOT / "configs" / "replay-entrance.yaml").read_text())
    document["access"] = {
        "site_key_file": str(write_site_key(tmp_path)),
        "doors": [{"id": "main-gate", "camera_line": {"camera": "entrance", "line": "floor"}}, {"id": "side-door"}],
        "tailgating": {"window": 8},
    }
    path = tmp_path / "replay-tailgating.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def clip_seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() - T0


def test_tailgating_alerts_exactly_for_entries_no_grant_covers(environ, tmp_path):
    config = load_config(entrance_config_file(tmp_path), environ={**environ, "EDGE_AGENT_STATE": str(tmp_path)})
    result = replay_clip(
        config,
        footage("entrance-one-by-one.mp4"),
        ReplayOptions(clock=FakeClock(wall=T0), max_seconds=REPLAY_SECONDS, door_events=SCRIPT),
    )

    entries = [a for a in result.alerts if a.rule == "entering"]
    assert len(entries) == 5, [(a.details.track_ids, clip_seconds(a.started_at)) for a in entries]
    for appear, entry in zip(APPEARS, entries):  # each entry within a few seconds of the visitor appearing
        assert appear / FPS <= clip_seconds(entry.started_at) <= appear / FPS + 4.0
    assert result.doors == {"fed": 5, "not_reached": 0, "covered": 3, "tailgating": 2}
    grants = [a for a in result.alerts if a.type == "access.granted"]
    assert [round(clip_seconds(a.started_at), 1) for a in grants] == [s["at_clip_s"] for s in SCRIPT]

    alerts = [a for a in result.alerts if a.type == "tailgating"]
    assert [a.details.track_ids for a in alerts] == [entries[1].details.track_ids, entries[3].details.track_ids]
    assert [(a.details.grants, a.details.crossings) for a in alerts] == [(0, 1), (0, 1)]
    assert all(a.source.id == "main-gate" and a.details.line == "floor" for a in alerts)
    printed = "".join(alert.model_dump_json() for alert in result.alerts)
    assert not any(card in printed for card in CARDS)


def test_replay_command_feeds_door_events_and_prints_their_alerts(environ, monkeypatch, capsys, tmp_path):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EDGE_AGENT_STATE", str(tmp_path))
    events = tmp_path / "doors.jsonl"
    script = [
        grant(1),
        {"at_clip_s": 12.5, "type": "door.forced", "door": "main-gate"},
        {"at_clip_s": 99.0, "type": "door.forced", "door": "side-door"},
    ]
    events.write_text("\n".join(json.dumps(line) for line in script) + "\n")
    code = main(
        [
            "replay",
            str(footage("entrance-one-by-one.mp4")),
            "--config",
            str(entrance_config_file(tmp_path)),
            "--door-events",
            str(events),
            "--max-seconds",
            "35",
            "--report",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    alerts = [json.loads(line) for line in out.splitlines()]
    [granted] = [a for a in alerts if a["type"] == "access.granted"]
    start = clip_seconds(granted["started_at"]) - APPEARS[0] / FPS  # the CLI's clip starts at the real time

    def at_clip(alert: dict) -> float:
        return clip_seconds(alert["started_at"]) - start

    [forced] = [a for a in alerts if a["type"] == "door.forced"]
    assert forced["source"]["id"] == "main-gate" and at_clip(forced) == pytest.approx(12.5, abs=0.002)
    [tailgating] = [a for a in alerts if a["type"] == "tailgating"]  # visitor 2, no grant
    assert APPEARS[1] / FPS <= at_clip(tailgating) <= APPEARS[1] / FPS + 4.0
    assert (
        "door events: 2 fed, 1 after the end of the replay; tailgating: 1 crossing(s) covered by a grant, 1 alert(s)"
        in err
    )
    assert CARDS[0] not in out and CARDS[0] not in err


def test_replay_command_names_a_bad_door_event_line(environ, monkeypatch, capsys, tmp_path):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EDGE_AGENT_STATE", str(tmp_path))
    config = str(entrance_config_file(tmp_path))
    clip = str(footage("entrance-one-by-one.mp4"))
    events = tmp_path / "doors.jsonl"
    cases = [
        ('{"at_clip_s": 1, "type": "access.granted", "door": "main-gate", "card": "12-34"}', "doors.jsonl line 2.card"),
        ('{"type": "door.forced", "door": "main-gate"}', "doors.jsonl line 2.at_clip_s: required"),
        ('{"at_clip_s": 1, "type": "door.forced", "door": "back-door"}', "unknown door 'back-door'"),
        ('{"at_clip_s": 1, "type": "door.forced", "door": "main-gate", "time": 5}', "timed by at_clip_s only"),
        ('{"at_clip_s": 1, "type": "door.forced"', "doors.jsonl line 2: invalid JSON"),
    ]
    for line, message in cases:
        events.write_text(json.dumps(grant(1)) + "\n" + line + "\n")
        assert main(["replay", clip, "--config", config, "--door-events", str(events)]) == 64
        err = capsys.readouterr().err
        assert message in err and "12-34" not in err, err
    assert main(["replay", clip, "--config", config, "--door-events", str(tmp_path / "none.jsonl")]) == 66
    assert "none.jsonl does not exist" in capsys.readouterr().err
