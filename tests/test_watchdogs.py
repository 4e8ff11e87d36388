"""Every long-lived thread is watched: kill or hang each kind inside a real agent and see it noticed.

The agent runs in process against a private mosquitto, with a real unix datagram socket as
systemd's NOTIFY_SOCKET. A test breaks one thread through its fault point (edge_agent/faults.py:
the next pass of that thread hangs or dies), never by replacing the agent's parts. A broken thread must be
detected (stage snapshot, `agent.health` alert at the broker), and then either restarted (a new
thread alive, its work resumes) or, past the restart budget, the watchdog is no longer fed and
the agent exits non-zero for systemd to restart it. A hung thread is abandoned, never killed.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
import uuid

import pytest
import yaml

from edge_agent import faults
from edge_agent.config import parse_config
from edge_agent.daemon import core_watch
from edge_agent.daemon.agent import Agent
from edge_agent.daemon.notify import SystemdNotifier
from tests.support.assets import entrance_camera
from tests.support.daemon import NotifySocket, Watcher, base_config
from tests.support.wait import wait_for
from tests.test_access_common import write_site_key
from tests.test_daemon_access_stage import Bridge

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


@pytest.fixture
def arm():
    """`arm(point, mode)`: the next thread through the fault point hangs or dies; every fault released after."""
    armed: list[faults.Fault] = []

    def arm_one(point: str, mode: str) -> faults.Fault:
        armed.append(faults.arm(point, mode))
        return armed[-1]

    yield arm_one
    for fault in armed:
        fault.release()


class RunningAgent:
    def __init__(self, tmp_path, document: dict, notify: NotifySocket, environ: dict | None = None):
        path = tmp_path / "config.yaml"
        text = yaml.safe_dump(document, sort_keys=False)
        path.write_text(text)
        # WATCHDOG_USEC for this pid: the agent ticks (and feeds the watchdog) every 0.5 s
        env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}
        env.update(environ or {})
        config = parse_config(text, source=str(path), environ={**os.environ, **env})
        self.agent = Agent(path, text, config, environ={**os.environ, **env}, notifier=SystemdNotifier(env))
        self.exit_codes: list[int] = []
        self.thread = threading.Thread(target=lambda: self.exit_codes.append(self.agent.run()), daemon=True)
        self.thread.start()

    def stages(self) -> dict:
        return self.agent.status_report()["stages"]

    def stop(self) -> None:
        self.agent.request_stop()
        self.thread.join(30)


@pytest.fixture
def notify(tmp_path):
    socket = NotifySocket(tmp_path / "notify.sock")
    yield socket
    socket.close()


@pytest.fixture
def run_agent(tmp_path, mosquitto, notify):
    started: list[RunningAgent] = []
    watchers: list[Watcher] = []

    def start(environ: dict | None = None, **sections) -> tuple[RunningAgent, Watcher]:
        sections.setdefault("supervisor", {"start_grace": 0.5, "stall_timeout": 2.0})
        document = base_config(tmp_path / "state", mosquitto.port, **sections)
        running = RunningAgent(tmp_path, document, notify, environ)
        started.append(running)
        watcher = Watcher(mosquitto.port)
        watchers.append(watcher)
        watcher.wait_ready()
        return running, watcher

    yield start
    for watcher in watchers:
        watcher.close()
    for running in started:
        running.stop()


def stage_alert(watcher: Watcher, reason: str, stage: str) -> dict:
    return wait_for(
        lambda: next((a for a in watcher.health(reason) if a["details"]["extra"]["stage"] == stage), None),
        timeout=30,
        message=f"{reason} for stage {stage} at the broker",
    )


def test_a_fault_point_must_exist():
    with pytest.raises(ValueError, match="a fault point is one of"):
        faults.arm("the-kitchen-sink", "hang")


# -- the publisher ------------------------------------------------------------------------------


def test_a_hung_publisher_is_abandoned_and_a_new_one_delivers(run_agent, arm, monkeypatch):
    monkeypatch.setattr(core_watch, "PUBLISHER_STALL_S", 2.0)
    running, watcher = run_agent()
    agent = running.agent
    hung = agent.delivery.publisher
    wait_for(lambda: agent.core is not None, message="the core watch")
    stuck = arm(faults.PUBLISHER, "hang")  # the network loop's next turn blocks for good
    wait_for(lambda: agent.delivery.publisher is not hung, timeout=30, message="a new publisher")
    assert stuck.fired.is_set() and stuck.thread.is_alive()  # abandoned, still stuck: Python cannot kill it
    alert = stage_alert(watcher, "stage_stalled", "publisher")  # reached mosquitto through the new one
    assert "no progress" in alert["details"]["message"]
    assert running.stages()["publisher"]["restarts"] == 1
    assert watcher.command("ping")["result"] == {"pong": True}


def test_a_dead_publisher_is_restarted_then_past_the_budget_the_watchdog_starves(run_agent, arm, notify):
    running, watcher = run_agent(supervisor={"start_grace": 0.5, "max_restarts": 1})
    agent = running.agent
    wait_for(lambda: agent.core is not None, message="the core watch")
    first = agent.delivery.publisher
    death = arm(faults.PUBLISHER, "die")
    second = wait_for(lambda: agent.delivery.publisher is not first and agent.delivery.publisher, timeout=30)
    wait_for(lambda: second.connected, timeout=30, message="the new publisher connected")
    assert not first.alive() and not death.thread.is_alive() and second.alive()
    assert stage_alert(watcher, "stage_crashed", "publisher")["details"]["extra"]["restarts"] == 1
    assert watcher.command("ping")["result"] == {"pong": True}
    fed = notify.count("WATCHDOG=1")
    wait_for(lambda: notify.count("WATCHDOG=1") > fed + 1, message="the watchdog fed again after the restart")

    arm(faults.PUBLISHER, "die")  # a second death within the window: the budget (1) is spent
    running.thread.join(30)
    assert running.exit_codes == [os.EX_SOFTWARE]
    assert "stage publisher failed" in agent.core.supervisor.gave_up
    starved = notify.count("WATCHDOG=1")
    wait_for(lambda: notify.count("STOPPING=1") >= 1, message="STOPPING=1")
    assert notify.count("WATCHDOG=1") == starved


# -- the command server -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hang", "die"])
def test_a_broken_command_worker_is_replaced_and_pings_are_answered(run_agent, arm, monkeypatch, mode):
    monkeypatch.setattr(core_watch, "COMMAND_STALL_S", 2.0)
    running, watcher = run_agent()
    agent = running.agent
    broken = arm(faults.COMMAND_WORKER, mode)
    request = {"request_id": uuid.uuid4().hex, "args": {}}
    watcher.client.publish(f"{watcher.base}/cmd/status", json.dumps(request).encode(), qos=1)
    wait_for(broken.fired.is_set, message="the worker took the poisoned command")
    reason = "stage_stalled" if mode == "hang" else "stage_crashed"
    stage_alert(watcher, reason, "commands")
    assert agent.commands.alive()  # a fresh worker on the same queue
    assert broken.thread.is_alive() == (mode == "hang")  # a hung worker is abandoned, not killed
    assert watcher.command("ping")["result"] == {"pong": True}
    assert running.stages()["commands"]["restarts"] == 1


# -- an access adapter --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hang", "die"])
def test_a_broken_adapter_thread_restarts_the_access_stage(tmp_path, run_agent, arm, mode):
    bridge = Bridge()
    access = {
        "site_key_file": str(write_site_key(tmp_path)),
        "adapters": [
            {
                "type": "line_stream",
                "id": "bridge",
                "tcp_host": "127.0.0.1",
                "tcp_port": bridge.port,
                "default_door": "main-gate",
                "reconnect_min_delay": 0.1,
                "reconnect_max_delay": 0.2,
            }
        ],
        "doors": [{"id": "main-gate"}],
    }
    try:
        running, watcher = run_agent(access=access)
        [adapter] = running.agent.pipeline.access.service.adapters
        wait_for(lambda: adapter.online and bridge.clients, message="adapter connected")
        broken = arm(faults.ADAPTER_READER, mode)
        clients = len(bridge.clients)
        bridge.send({"type": "access.granted", "reader": "r1", "card": "4010042"})
        wait_for(broken.fired.is_set, message="the adapter thread took the poisoned line")
        alert = stage_alert(watcher, "stage_crashed", "access")  # a hung adapter thread counts as a dead one
        assert ("adapter bridge: its thread has not turned" in alert["details"]["message"]) == (mode == "hang")
        wait_for(lambda: len(bridge.clients) > clients and adapter.online, message="the new thread reconnected")
        bridge.send({"type": "access.granted", "reader": "r1", "card": "4010042"})
        wait_for(lambda: watcher.payloads("alerts/access.granted"), message="a grant after the restart")
        assert running.stages()["access"]["restarts"] == 1
    finally:
        bridge.vanish()


# -- a camera reader ----------------------------------------------------------------------------


def test_a_reader_hung_in_read_raises_camera_offline_and_is_replaced(run_agent, arm, replay_environ):
    camera = entrance_camera(health={"stall_timeout": 1.0, "offline_grace": 30.0})
    running, watcher = run_agent(
        environ=replay_environ,
        detector={"models_dir": replay_environ["EDGE_AGENT_MODELS"], "threads": 1},
        cameras=[camera],
    )
    wait_for(lambda: running.stages()["camera-entrance"]["status"] == "running", message="the camera running")
    stuck = arm(faults.CAMERA_READ, "hang")  # the reader's next read() blocks for good

    def offline(phase):
        alerts = watcher.payloads("alerts/camera.offline")
        return next((a for a in alerts if a["phase"] == phase), None)

    start = wait_for(lambda: offline("start"), timeout=30, message="camera.offline start")
    assert "stuck in read() for" in start["details"]["reason"]  # long before offline_grace (30 s)
    alert = stage_alert(watcher, "stage_crashed", "camera-entrance")
    assert "stuck in read()" in alert["details"]["message"]
    end = wait_for(lambda: offline("end"), timeout=30, message="camera.offline end from the new reader")
    assert end["related_event_id"] == start["event_id"] and stuck.thread.is_alive()  # abandoned in read()
    assert running.stages()["camera-entrance"]["restarts"] == 1


# -- the metrics server -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hang", "die"])
def test_a_broken_metrics_server_is_replaced_and_serves_again(run_agent, arm, mode):
    running, watcher = run_agent(telemetry={"interval": 30, "prometheus": {"enabled": True, "port": 0}})
    agent = running.agent
    server = agent.supervisor.stage("metrics").component
    broken = arm(faults.METRICS_SERVER, mode)
    wait_for(broken.fired.is_set, message="the accept loop took the next turn")
    stage_alert(watcher, "stage_stalled" if mode == "hang" else "stage_crashed", "metrics")
    fresh = agent.supervisor.stage("metrics").component
    assert fresh is not server and fresh.alive()
    with urllib.request.urlopen(f"http://127.0.0.1:{fresh.port}/metrics", timeout=10) as response:
        assert response.status == 200 and b"edge_agent_" in response.read()
    assert running.stages()["metrics"]["restarts"] == 1
