import threading

import pytest

from edge_agent.clock import SystemClock
from edge_agent.daemon.health import Health
from edge_agent.daemon.stage_kinds import ComponentStage, LoopStage, fault_from_env
from edge_agent.daemon.supervisor import StageSpec, Supervisor, SupervisorGaveUp
from edge_agent.events import AlertFactory, ListSink
from tests.support.wait import wait_for


def make_supervisor(sink, max_restarts=3, stall_timeout=0.3):
    health = Health(AlertFactory("dev-1", "site-1"), sink)
    return Supervisor(
        stall_timeout=stall_timeout,
        max_restarts=max_restarts,
        restart_window=60,
        clock=SystemClock(),
        health=health,
        stop_timeout=0.2,
    )


def watch(supervisor, stop_event):
    """Run supervisor checks in a thread like the agent does; remember a give-up."""
    outcome = {}

    def loop():
        while not stop_event.wait(0.05):
            try:
                supervisor.check()
            except SupervisorGaveUp as exc:
                outcome["gave_up"] = str(exc)
                return

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return outcome


def test_stalled_stage_is_restarted_with_a_fresh_instance_and_a_health_alert():
    sink = ListSink()
    release = threading.Event()
    instances = []

    def factory():
        calls = {"n": 0}

        def step():
            calls["n"] += 1
            if len(instances) == 1 and calls["n"] == 3:
                release.wait(30)  # the first instance gets stuck inside a step

        stage = LoopStage("worker", step, interval=0.02)
        instances.append(stage)
        return stage

    supervisor = make_supervisor(sink)
    supervisor.start([StageSpec("worker", factory)])
    done = threading.Event()
    watch(supervisor, done)
    try:
        wait_for(lambda: len(instances) == 2, timeout=5, message="a second instance")
        wait_for(lambda: sink.of_type("agent.health"), timeout=2, message="health alert")
        alert = sink.of_type("agent.health")[0]
        assert alert.details.reason == "stage_stalled"
        assert alert.details.extra == {"stage": "worker", "restarts": 1}
        assert alert.source.kind == "device" and alert.source.id == "dev-1"
        # the fresh instance makes progress and the supervisor reports healthy again
        wait_for(supervisor.healthy, timeout=3, message="healthy after restart")
        assert supervisor.snapshot()["worker"]["restarts"] == 1
    finally:
        done.set()
        release.set()
        supervisor.stop()


def test_crashing_stage_is_restarted_until_the_budget_is_spent():
    sink = ListSink()

    def factory():
        def step():
            raise RuntimeError("boom")

        return LoopStage("crashy", step, interval=0.01, first_delay=0.01)

    supervisor = make_supervisor(sink, max_restarts=2)
    supervisor.start([StageSpec("crashy", factory)])
    done = threading.Event()
    outcome = watch(supervisor, done)
    try:
        wait_for(lambda: "gave_up" in outcome, timeout=5, message="supervisor to give up")
        reasons = [a.details.reason for a in sink.of_type("agent.health")]
        assert reasons == ["stage_crashed", "stage_crashed", "stage_gave_up"]
        assert "RuntimeError: boom" in outcome["gave_up"]
        assert not supervisor.healthy()
    finally:
        done.set()
        supervisor.stop()


def test_start_failure_stops_stages_already_started():
    stopped = []

    class Component:
        def __init__(self, name, fail=False):
            self.name, self.fail = name, fail

        def start(self):
            if self.fail:
                raise OSError("address in use")

        def stop(self, timeout):
            stopped.append(self.name)

    supervisor = make_supervisor(ListSink())
    specs = [
        StageSpec("a", lambda: ComponentStage("a", Component("a"))),
        StageSpec("b", lambda: ComponentStage("b", Component("b"))),
        StageSpec("c", lambda: ComponentStage("c", Component("c", fail=True))),
    ]
    with pytest.raises(OSError, match="address in use"):
        supervisor.start(specs)
    assert stopped == ["b", "a"]
    assert supervisor.snapshot() == {}


def test_component_without_progress_is_checked_for_liveness_only():
    alive = {"value": True}

    class Component:
        def start(self):
            pass

        def stop(self, timeout):
            alive["value"] = False

    sink = ListSink()
    supervisor = make_supervisor(sink, stall_timeout=0.05)
    supervisor.start([StageSpec("pub", lambda: ComponentStage("pub", Component(), alive=lambda: alive["value"]))])
    wait_for(lambda: supervisor.check() and supervisor.snapshot()["pub"]["idle_s"] == 0, timeout=2)
    assert sink.alerts == []
    alive["value"] = False  # its thread died
    assert supervisor.check() is False
    assert sink.of_type("agent.health")[0].details.reason == "stage_crashed"
    supervisor.stop()


def test_fault_injection_spec_fails_only_once():
    """Instances share one charge: whichever reaches it first crashes, every other one keeps beating."""
    factory = fault_from_env("crash:0.1")
    instances = [factory(), factory()]
    for instance in instances:
        instance.start()
    wait_for(lambda: any(not i.poll().alive for i in instances), timeout=5, message="one instance to crash")
    [crashed] = [i for i in instances if not i.poll().alive]
    [survivor] = [i for i in instances if i is not crashed]
    assert crashed.poll().error == "InjectedFault: injected crash"
    beats = survivor.poll().progress
    wait_for(lambda: survivor.poll().progress > beats + 3, timeout=5, message="the other instance beating on")
    assert survivor.poll().alive
    survivor.stop(1)
    with pytest.raises(ValueError, match="EDGE_AGENT_FAULT"):
        fault_from_env("explode:1")
    assert fault_from_env("") is None
