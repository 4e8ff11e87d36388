"""AccessService: adapters, door rules, fusion and the tick thread wired as the daemon runs them."""

from __future__ import annotations

import http.client
import json

from edge_agent.access.service import AccessService
from edge_agent.clock import SystemClock
from edge_agent.events import AlertFactory, LineCrossing, ListSink
from tests.support.wait import wait_for
from tests.test_access_common import access_config


class Engine:
    def __init__(self):
        self.listeners = []

    def add_crossing_listener(self, listener):
        self.listeners.append(listener)


def test_service_runs_adapters_rules_fusion_and_ticks(tmp_path):
    access = access_config(
        tmp_path,
        doors=[{"id": "main-gate", "held_open_after": 0.3, "camera_line": {"camera": "entrance", "line": "door"}}],
        adapters=[
            {
                "type": "http_push",
                "id": "push",
                "port": 0,
                "default_door": "main-gate",
                "auth": {"allow_unauthenticated": True},
            }
        ],
        tailgating={"window": 5, "settle": 0.2, "early_tolerance": 0.1},
    )
    clock = SystemClock()
    sink = ListSink()
    engine = Engine()
    service = AccessService(
        access, AlertFactory("dev", "site", clock), sink, clock, crossings=engine, tick_interval=0.05
    )
    assert len(engine.listeners) == 1
    service.start()
    try:
        [push] = service.adapters
        body = json.dumps({"events": [{"type": "access.granted"}, {"type": "door.opened"}]}).encode()
        connection = http.client.HTTPConnection("127.0.0.1", push.port, timeout=5)
        connection.request("POST", "/events", body=body, headers={"Content-Type": "application/json"})
        assert connection.getresponse().status == 200
        connection.close()
        now = clock.wall()
        for track in (1, 2):
            engine.listeners[0](LineCrossing("entrance", "door", track, "person", "in", now, clock.monotonic()))
        wait_for(
            lambda: sink.of_type("door.held_open") and sink.of_type("tailgating"),
            timeout=5,
            message="held-open from the tick thread and tailgating",
        )
        [tailgating] = sink.of_type("tailgating")
        assert (tailgating.details.grants, tailgating.details.crossings) == (1, 2)
        assert service.alive() and service.progress() > 0
        assert service.snapshot()["push"]["events"] == 2
    finally:
        service.stop()
    assert not service.alive()
