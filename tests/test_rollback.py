"""A new pipeline that dies within its start grace hands the state back: the rollback path of daemon/runtime.py.

A real Agent in a thread with a real mosquitto and an HTTP push door controller; EDGE_AGENT_FAULT makes every
pipeline's fault stage crash once, 0.5 s after it starts. The running config's grace (0.2 s) is over by then, so
the first pipeline survives with one restart; the new config's grace (3 s) is not, so its pipeline fails to start
and the previous config is rebuilt and handed the state back the same way (make before break, in reverse). A door
held open before the switch is still held (its episode not ended), its adapter never reopened, and the switch is
reported once as rolled back.
"""

from __future__ import annotations

import json
import threading

import pytest
import yaml

from edge_agent.config import parse_config
from edge_agent.daemon.agent import Agent
from edge_agent.publish.commands import CommandError
from tests.support.broker import free_port
from tests.support.daemon import base_config
from tests.support.wait import wait_for
from tests.test_daemon_access import access_section, post


def config_text(tmp_path, broker_port: int, door_port: int, start_grace: float) -> str:
    access = access_section(tmp_path, door_port)
    access["doors"] = [{"id": "main-gate", "held_open_after": 1}]
    document = base_config(tmp_path / "state", broker_port, access=access, supervisor={"start_grace": start_grace})
    return yaml.safe_dump(document, sort_keys=False)


def stored(agent: Agent, alert_type: str) -> list[dict]:
    alerts = (json.loads(row.payload) for row in agent.face.recent_messages(200))
    return [alert for alert in alerts if alert.get("type") == alert_type]


@pytest.fixture
def agent(tmp_path, mosquitto):
    door_port = free_port()
    text = config_text(tmp_path, mosquitto.port, door_port, start_grace=0.2)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    agent = Agent(path, text, parse_config(text), environ={"EDGE_AGENT_FAULT": "crash:0.5"})
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    wait_for(lambda: agent.pipeline is not None, timeout=20, message="the agent to start")
    yield agent, door_port
    agent.request_stop()
    thread.join(20)


def test_a_pipeline_that_dies_within_its_start_grace_hands_the_state_back(agent, tmp_path, mosquitto):
    agent, door_port = agent
    assert post(door_port, {"type": "door.opened", "door": "main-gate"})[0] == 200
    [held] = wait_for(lambda: stored(agent, "door.held_open"), timeout=15, message="the door held open")
    [adapter] = agent.pipeline.access.service.adapters
    wait_for(lambda: agent.supervisor.snapshot()["fault-injection"]["restarts"] == 1, message="the first crash")

    longer_grace = config_text(tmp_path, mosquitto.port, door_port, start_grace=3.0)
    with pytest.raises(CommandError, match="failed to start and was rolled back: a stage died while starting"):
        agent.apply_config_text(longer_grace, origin="SIGHUP test", persist=False)

    assert agent.config.supervisor.start_grace == 0.2  # the previous config runs
    assert agent.last_reload["outcome"].startswith("rolled back: a stage died while starting")
    assert held["event_id"] in agent.pipeline.held_episodes()  # handed over and back: still open
    assert agent.pipeline.access.service.adapters == [adapter]  # kept running both ways, never reopened
    assert [alert["phase"] for alert in stored(agent, "door.held_open")] == ["start"]  # no config_changed end
    health = [alert["details"]["reason"] for alert in stored(agent, "agent.health")]
    assert health.count("config_rolled_back") == 1 and "config_rejected" not in health
    assert post(door_port, {"type": "door.closed", "door": "main-gate"})[0] == 200
    ends = wait_for(lambda: [a for a in stored(agent, "door.held_open") if a["phase"] == "end"], message="its end")
    assert [end["related_event_id"] for end in ends] == [held["event_id"]]
