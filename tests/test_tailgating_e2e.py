"""Tailgating end to end: the entrance clip through the real video chain, plus scripted door grants.

The clip (see tests/test_replay.py for what watching it established) shows six
visitors walking in one at a time over the `floor` line; they first appear at
frames 60, 228, 502, 746, 926 and 1236 (10 fps). The door `main-gate` is tied to
that line. Grants are scripted, by eye, at the moment visitors 1, 3 and 5
appear; a grant at another door when visitor 2 appears and an outward grant
when visitor 4 appears must not cover them. Replaying the first 100 s (five
entries) must raise tailgating exactly for visitors 2 and 4.

The chain is assembled as `edge-agent replay` does (cli/replay.py: iter_file_frames ->
CameraChain -> RuleEngine), with the fusion registered as a crossing listener
and the grants fed through a line-stream adapter's parser as a controller would send them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edge_agent.clock import FakeClock
from edge_agent.config import load_config
from edge_agent.daemon.video_pipeline import CameraChain, make_motion_gate
from edge_agent.events import AlertFactory, ListSink
from edge_agent.rules.door import DoorRules
from edge_agent.rules.engine import RuleEngine
from edge_agent.rules.fusion import TailgatingFusion
from edge_agent.sources.access import build_adapters
from edge_agent.sources.camera import iter_file_frames
from edge_agent.vision.detector import Detector
from edge_agent.vision.models import fetch_model
from tests.support.assets import ROOT, assets_dir, footage, model_path
from tests.test_access_common import write_site_key

pytestmark = [pytest.mark.assets, pytest.mark.slow]

T0 = 1_767_225_600.0
FPS = 10.0
APPEARS = [60, 228, 502, 746, 926, 1236]  # first frame each visitor is visible, by eye
REPLAY_SECONDS = 100.0  # visitors 1-5
CARDS = ["4010001", "4010002", "4010003", "4010004", "4010005"]


def grant_line(visitor: int, door: str = "main-gate", direction: str = "in") -> bytes:
    at = T0 + APPEARS[visitor - 1] / FPS
    return json.dumps({"type": "access.granted", "door": door, "direction": direction, "reader": "r-in",
                       "card": CARDS[visitor - 1], "time": at}).encode()


SCRIPT = [grant_line(1), grant_line(2, door="side-door"), grant_line(3), grant_line(4, direction="out"), grant_line(5)]


def entrance_config(tmp_path: Path):
    model_path()
    models = tmp_path / "models"
    fetch_model("yolox_nano", models, mirror_dir=assets_dir())
    document = yaml.safe_load((ROOT / "configs" / "replay-entrance.yaml").read_text())
    document["access"] = {
        "site_key_file": str(write_site_key(tmp_path)),
        "adapters": [{"type": "line_stream", "id": "script", "tcp_host": "127.0.0.1", "tcp_port": 9}],
        "doors": [{"id": "main-gate", "camera_line": {"camera": "entrance", "line": "floor"}},
                  {"id": "side-door"}],
        "tailgating": {"window": 8},
    }
    path = tmp_path / "replay-tailgating.yaml"
    path.write_text(yaml.safe_dump(document))
    environ = {"EDGE_AGENT_MODELS": str(models), "EDGE_AGENT_ASSETS": str(assets_dir()),
               "EDGE_AGENT_STATE": str(tmp_path / "state")}
    return load_config(path, environ=environ)


def test_tailgating_alerts_exactly_for_entries_no_grant_covers(tmp_path):
    config = entrance_config(tmp_path)
    clip = footage("entrance-one-by-one.mp4")
    clock = FakeClock(wall=T0)
    camera = config.camera("entrance")
    factory = AlertFactory("replay-entrance", config.device.site, clock)
    sink = ListSink()
    engine = RuleEngine.from_config(config, factory, sink, camera_ids=[camera.id])
    fusion = TailgatingFusion(config.access, factory, sink, clock)
    doors = DoorRules(config.access, factory, sink, clock, config.device.timezone)
    crossings = []
    engine.add_crossing_listener(crossings.append)
    engine.add_crossing_listener(fusion.on_crossing)

    def on_door_event(event):
        doors.on_event(event)
        fusion.on_door_event(event)

    [controller] = build_adapters(config.access, on_door_event, clock)  # parser only: never started
    chain = CameraChain(camera, engine, motion_gate=make_motion_gate(camera))
    detector = Detector.from_config(config.detector, config.models_dir)
    pending = sorted(SCRIPT, key=lambda line: json.loads(line)["time"])
    for frame in iter_file_frames(str(clip), camera.detect_fps, clock=clock, camera_id=camera.id,
                                  max_seconds=REPLAY_SECONDS):
        while pending and json.loads(pending[0])["time"] <= frame.captured_at:
            controller.handle_line(pending.pop(0))
        chain.process(frame, detector.detect_frame)
    chain.finish()
    fusion.flush()

    entries = [c for c in crossings if c.line == "floor" and c.direction == "in"]
    assert len(entries) == 5, [(c.track_id, round(c.at - T0, 1)) for c in entries]
    entry_times = [c.at - T0 for c in entries]
    for appear, seen in zip(APPEARS, entry_times):  # each entry within a few seconds of the visitor appearing
        assert appear / FPS <= seen <= appear / FPS + 4.0
    assert controller.counters["events"] == 5 and len(sink.of_type("access.granted")) == 5

    alerts = sink.of_type("tailgating")
    uncovered = [entries[1], entries[3]]
    assert [a.details.track_ids for a in alerts] == [[c.track_id] for c in uncovered]
    assert [(a.details.grants, a.details.crossings) for a in alerts] == [(0, 1), (0, 1)]
    assert all(a.source.id == "main-gate" and a.details.line == "floor" for a in alerts)
    assert fusion.covered == 3
