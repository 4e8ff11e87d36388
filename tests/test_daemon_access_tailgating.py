"""The daemon's pipeline (build_pipeline) joins a camera's line crossings with door grants from an adapter.

The video rule engine built for the camera is the crossing source the access stage's fusion
listens to. Scripted tracks walk over the door line (no decoding: the engine gets tracks
directly); a grant arrives over HTTP as a controller would post it. One grant, two
entries → one tailgating alert with both counts, judged by the stage's own tick thread.
"""

from __future__ import annotations

import http.client
import json
from types import SimpleNamespace

import pytest

from edge_agent.clock import SystemClock
from edge_agent.config import parse_config
from edge_agent.daemon.health import Health
from edge_agent.daemon.pipeline import build_pipeline
from edge_agent.daemon.supervisor import Supervisor
from edge_agent.events import AlertFactory, FrameDetections, ListSink
from edge_agent.store.state_store import StateStore
from edge_agent.vision.models import fetch_model
from tests.support.assets import assets_dir, footage, model_path
from tests.support.wait import wait_for
from tests.test_access_common import write_site_key
from tests.test_rules import person

pytestmark = [pytest.mark.assets]


def pipeline_config(tmp_path):
    model_path()
    models = tmp_path / "models"
    fetch_model("yolox_nano", models, mirror_dir=assets_dir())
    document = {
        "device": {"id": "dev-1", "site": "site-1", "state_dir": str(tmp_path / "state")},
        "detector": {"model": "yolox_nano", "models_dir": str(models)},
        "cameras": [
            {
                "id": "gate",
                "url": str(footage("entrance-one-by-one.mp4")),
                "kind": "file",
                "lines": {"door-line": {"points": [[0.0, 0.5], [1.0, 0.5]], "in_side": [0.5, 0.2]}},
            }
        ],
        "access": {
            "site_key_file": str(write_site_key(tmp_path)),
            "adapters": [
                {
                    "type": "http_push",
                    "id": "ctrl",
                    "port": 0,
                    "default_door": "main-gate",
                    "auth": {"allow_unauthenticated": True},
                }
            ],
            "doors": [{"id": "main-gate", "camera_line": {"camera": "gate", "line": "door-line"}}],
            "tailgating": {"window": 8, "settle": 0.5},
        },
    }
    return parse_config(json.dumps(document))


def walk_in(engine, track_id: int, seq: list[int], clock: SystemClock) -> None:
    for y in (0.9, 0.8, 0.7, 0.6, 0.4, 0.3):
        for _ in range(2):
            seq[0] += 1
            frame = FrameDetections("gate", seq[0], clock.wall(), clock.monotonic(), ())
            engine.process(frame, [person(track_id, 0.5, y)])


def test_pipeline_feeds_camera_crossings_and_adapter_grants_to_the_fusion(tmp_path):
    config = pipeline_config(tmp_path)
    clock = SystemClock()
    sink = ListSink()
    factory = AlertFactory("dev-1", "site-1", clock)
    delivery = SimpleNamespace(
        outbox=sink,
        sink=sink,
        factory=factory,
        device_id="dev-1",
        topics=SimpleNamespace(telemetry="t", counts="c"),
        publisher=None,
        health=Health(factory, sink),
        state=StateStore(tmp_path / "state.db"),
        evidence_desk=None,  # no rule keeps evidence
        response=None,  # no dispositions or escalations here
    )
    parts = build_pipeline(config, delivery, clock, dict, environ={})
    supervisor = Supervisor(30.0, 3, 60.0, clock)
    try:
        supervisor.start([spec for spec in parts.specs if spec.name == "access"])  # no camera decoding needed
        port = parts.adapter_figures()["ctrl"]["port"]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        body = json.dumps({"type": "access.granted", "reader": "r1", "direction": "in", "card": "4010007"})
        connection.request("POST", "/events", body=body, headers={"Content-Type": "application/json"})
        assert connection.getresponse().status == 200
        connection.close()

        seq = [0]
        walk_in(parts.video.engine, 1, seq, clock)
        walk_in(parts.video.engine, 2, seq, clock)
        [alert] = wait_for(lambda: sink.of_type("tailgating"), timeout=10, message="tailgating from the tick thread")
    finally:
        supervisor.stop()
        parts.close()
    assert alert.source.id == "main-gate" and alert.details.track_ids == [2]
    assert (alert.details.grants, alert.details.crossings) == (1, 2)
    assert parts.video.engine.line_counts() == {"gate": {"door-line": {"in": 2, "out": 0}}}
    assert len(sink.of_type("tailgating")) == 1
