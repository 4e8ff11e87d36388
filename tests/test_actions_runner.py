"""The action runner on a real outbox with real programs: matching, schedule, cooldown, rate limit, full queues,
stop, remote runs, the after-store hook, and records that match the published schema."""

from __future__ import annotations

import json
import queue
import stat
import threading
from pathlib import Path

import pytest

from edge_agent.actions.recorder import RECORD_QUEUE, Job, Recorder, RecordMaker
from edge_agent.actions.runner import ActionRefused
from edge_agent.clock import FakeClock, SystemClock
from edge_agent.config import AgentConfig
from edge_agent.daemon.action_stages import action_stages
from edge_agent.daemon.delivery import Delivery, Services
from edge_agent.daemon.prometheus import MetricsServer
from edge_agent.daemon.telemetry import SystemStats, TelemetryCollector, TelemetrySources
from edge_agent.events import Topics
from edge_agent.store.episodes import EpisodeSink
from edge_agent.store.state_store import StateStore
from tests.support.actions import make_alert, records_of, schema_problems, start_runner, stored_records
from tests.support.wait import wait_for
from tests.test_metrics import scrape, value

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def gate(tmp_path) -> tuple[Path, Path]:
    """(program, release): the program appends its first argument to `log` and returns once `release` exists."""
    release, log = tmp_path / "release", tmp_path / "log"
    program = tmp_path / "gate.sh"
    program.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {log}\nwhile [ ! -e {release} ]; do sleep 0.02; done\n')
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program, release


def ran(tmp_path: Path) -> list[str]:
    log = tmp_path / "log"
    return log.read_text().splitlines() if log.exists() else []


def command_action(program: Path, name: str = "act", **settings) -> dict:
    return {"name": name, "kind": "command", "argv": [str(program), "{zone}"], "on": [{"rule": "anyone"}], **settings}


def outcomes(outbox, name: str = "act") -> list[str]:
    return [record["outcome"] for record in records_of(outbox, name)]


def test_triggers_match_rule_type_source_and_phase(gate, tmp_path, outbox):
    program, release = gate
    release.touch()
    runner = start_runner(
        outbox,
        command_action(program, "by-rule"),
        command_action(program, "by-type", on=[{"type": "door.forced", "source": "front", "phases": ["instant"]}]),
        command_action(program, "ends", on=[{"rule": "anyone", "phases": ["end"]}]),
    )
    try:
        runner.offer(make_alert(zone="z1"))  # by-rule
        runner.offer(make_alert(zone="z2", rule="other"))  # nothing
        runner.offer(make_alert(zone="z3", type="door.forced", phase="instant", rule=None, source="front"))  # by-type
        runner.offer(make_alert(zone="z4", type="door.forced", phase="instant", rule=None, source="back"))  # nothing
        runner.offer(make_alert(zone="z5", phase="end"))  # ends
        wait_for(lambda: len(stored_records(outbox)) == 3, message="three records")
    finally:
        runner.stop()
    assert sorted(ran(tmp_path)) == ["z1", "z3", "z5"]
    assert {record["action"]: record["outcome"] for record in stored_records(outbox)} == {
        "by-rule": "ok",
        "by-type": "ok",
        "ends": "ok",
    }


def test_outside_the_schedule_triggers_are_counted_not_run(gate, tmp_path, outbox):
    program, release = gate
    clock = FakeClock(wall=1_767_225_600.0)  # Thursday 2026-01-01 00:00 UTC
    runner = start_runner(
        outbox,
        command_action(program, schedule=[{"days": ["mon"], "start": "08:00", "end": "18:00"}]),
        clock=clock,
    )
    try:
        runner.offer(make_alert())
    finally:
        runner.stop()
    assert stored_records(outbox) == [] and ran(tmp_path) == []
    assert runner.snapshot()["by_action"]["act"]["off_schedule"] == 1


def test_cooldown_and_rate_limit_refuse_and_are_recorded(gate, outbox):
    program, release = gate
    release.touch()
    clock = FakeClock()
    runner = start_runner(
        outbox,
        command_action(program, "cool", cooldown=5),
        command_action(program, "rated", rate_limit={"count": 2, "per": 60}),
        clock=clock,
    )
    try:
        for step in (0, 1, 5, 0):  # cool: run, cooldown, run (5 s after), cooldown; rated: run, run, limited, limited
            clock.advance(step)
            runner.offer(make_alert())
        clock.advance(55)  # 61 s after the first: the window has room again
        runner.offer(make_alert())
        wait_for(lambda: len(stored_records(outbox)) == 10, message="ten records")
    finally:
        runner.stop()
    assert sorted(outcomes(outbox, "cool")) == sorted(["ok", "cooldown", "ok", "cooldown", "ok"])
    assert sorted(outcomes(outbox, "rated")) == sorted(["ok", "ok", "rate_limited", "rate_limited", "ok"])
    refused = next(record for record in records_of(outbox, "rated") if record["outcome"] == "rate_limited")
    assert refused["attempts"] == 0 and "started_at" not in refused and schema_problems(refused) == []


def test_a_full_queue_drops_and_a_busy_action_delays_only_itself(gate, tmp_path, outbox):
    program, release = gate
    free = tmp_path / "free.sh"
    free.write_text(f'#!/bin/sh\nprintf "free %s\\n" "$1" >> {tmp_path}/log\n')
    free.chmod(0o755)
    runner = start_runner(outbox, command_action(program, queue_size=1), command_action(free, "free"))
    try:
        runner.offer(make_alert(zone="first"))
        wait_for(lambda: "first" in ran(tmp_path), message="the first run to start")
        runner.offer(make_alert(zone="second"))  # waits in the queue
        runner.offer(make_alert(zone="third"))  # the queue is full
        wait_for(lambda: outcomes(outbox) == ["dropped"], message="the dropped record")
        wait_for(lambda: len(outcomes(outbox, "free")) == 3, message="the other action's runs")
        assert runner.snapshot()["by_action"]["act"]["queued"] == 1
        release.touch()
        wait_for(lambda: len(outcomes(outbox)) == 3, message="all three records")
    finally:
        runner.stop()
    assert outcomes(outbox) == ["dropped", "ok", "ok"] and outcomes(outbox, "free") == ["ok"] * 3
    assert [line for line in ran(tmp_path) if not line.startswith("free")] == ["first", "second"]
    assert runner.snapshot()["by_action"]["act"]["outcomes"] == {"dropped": 1, "ok": 2}


def test_stop_records_queued_runs_as_stopped(gate, tmp_path, outbox):
    program, release = gate
    runner = start_runner(outbox, command_action(program))
    runner.offer(make_alert(zone="running"))
    wait_for(lambda: ran(tmp_path) == ["running"], message="the first run to start")
    runner.offer(make_alert(zone="queued-1"))
    runner.offer(make_alert(zone="queued-2"))
    stopping = threading.Thread(target=runner.stop, kwargs={"timeout": 10})
    stopping.start()
    wait_for(lambda: runner.workers["act"]._stopping.is_set(), message="the worker to be told to stop")
    release.touch()  # the run in progress finishes; nothing queued starts
    stopping.join(15)
    assert not stopping.is_alive()
    assert sorted(outcomes(outbox)) == ["ok", "stopped", "stopped"] and ran(tmp_path) == ["running"]
    runner.offer(make_alert(zone="late"))  # never raises, never runs
    wait_for(lambda: len(outcomes(outbox)) == 4, message="the late offer's record")
    assert sorted(outcomes(outbox)) == ["ok", "stopped", "stopped", "stopped"]
    assert all(schema_problems(record) == [] for record in stored_records(outbox))


def test_every_stored_alert_is_offered_after_its_commit(gate, tmp_path, outbox):
    program, release = gate
    release.touch()
    committed_first = []
    state = StateStore.beside(tmp_path / "outbox.db")
    sink = EpisodeSink(outbox, state)
    runner = start_runner(outbox, command_action(program))

    def listener(alert):
        committed_first.append(outbox.get(alert.event_id) is not None)
        runner.offer(alert)

    sink.listen(lambda alert: committed_first.append("replaced listener heard it"))
    sink.listen(listener)  # replaces the one before: one listener at a time
    sink.unlisten(runner.offer)  # not the listener: no effect
    try:
        start = make_alert(zone="a")
        sink.emit(start)
        wait_for(lambda: outcomes(outbox) == ["ok"], message="the run")
        sink.unlisten(listener)
        sink.emit(make_alert(zone="b"))
    finally:
        runner.stop()
        state.close()
    assert ran(tmp_path) == ["a"] and committed_first == [True]
    (record,) = records_of(outbox, "act")
    assert record["alert_event_id"] == start.event_id and record["rule"] == "anyone" and record["phase"] == "start"
    assert record["latency_ms"] >= record["run_ms"] >= 0 and record["queued_ms"] >= 0


def test_alerts_kept_for_the_listener_are_heard_first_and_only_by_the_next_one(tmp_path, outbox):
    state = StateStore.beside(tmp_path / "outbox.db")
    sink = EpisodeSink(outbox, state)
    heard: list[tuple[str, str]] = []
    ended, later = make_alert(phase="end"), make_alert()
    try:
        sink.keep_for_listener([ended])
        sink.listen(lambda alert: heard.append(("first", alert.event_id)))
        sink.emit(later)
        sink.keep_for_listener([ended])
        sink.keep_for_listener(())  # the pipeline had no actions: forgotten, not heard by a later listener
        sink.listen(lambda alert: heard.append(("second", alert.event_id)))
    finally:
        state.close()
    assert heard == [("first", ended.event_id), ("first", later.event_id)]


def test_a_failing_listener_never_reaches_the_emitter(tmp_path, outbox):
    state = StateStore.beside(tmp_path / "outbox.db")
    sink = EpisodeSink(outbox, state)

    def broken(alert):
        raise RuntimeError("listener bug")

    sink.listen(broken)
    alert = make_alert()
    try:
        sink.emit(alert)
    finally:
        state.close()
    assert outbox.get(alert.event_id) is not None


def test_remote_runs_only_for_remote_actions_and_read_the_alert_back(gate, tmp_path, outbox):
    program, release = gate
    release.touch()
    runner = start_runner(
        outbox,
        command_action(program, "local"),
        command_action(program, "remote", remote=True, on=[], cooldown=3600),
        command_action(program, "off", remote=True, enabled=False),
    )
    stored = make_alert(zone="from-the-outbox")
    outbox.emit(stored)
    try:
        with pytest.raises(ActionRefused, match="may not be run remotely"):
            runner.run_remote("local", None, "r1")
        with pytest.raises(ActionRefused, match="is disabled"):
            runner.run_remote("off", None, "r1")
        with pytest.raises(ActionRefused, match=r"no action named 'nope' \(configured: local, remote\)"):
            runner.run_remote("nope", None, "r1")
        with pytest.raises(ActionRefused, match="no alert 0190"):
            runner.run_remote("remote", "0190aaaa-0000-7000-8000-000000000000", "r1")
        jobs = [runner.run_remote("remote", stored.event_id, "r2"), runner.run_remote("remote", None, "r3")]
        assert all(job.done.wait(10) for job in jobs)  # no cooldown for a person's request
        with pytest.raises(ActionRefused, match="is not an alert"):
            runner.run_remote("remote", jobs[0].record.event_id, "r4")
    finally:
        runner.stop()
    assert ran(tmp_path) == ["from-the-outbox", ""]
    first, second = records_of(outbox, "remote")
    assert first["trigger"] == "remote" and first["request_id"] == "r2" and first["alert_event_id"] == stored.event_id
    assert "latency_ms" not in first and second["outcome"] == "ok" and "alert_event_id" not in second


def test_the_documented_example_record_validates():
    examples = sorted((ROOT / "docs" / "examples").glob("action-*.json"))
    assert examples, "docs/examples lacks an action record"
    for path in examples:
        assert schema_problems(json.loads(path.read_text())) == [], path.name


def test_figures_reach_telemetry_and_metrics(gate, tmp_path, outbox):
    program, release = gate
    release.touch()
    runner = start_runner(outbox, command_action(program, rate_limit={"count": 1, "per": 60}))
    try:
        runner.offer(make_alert())
        runner.offer(make_alert())
        wait_for(lambda: len(outcomes(outbox)) == 2, message="two records")
    finally:
        runner.stop()
    clock = SystemClock()
    sources = TelemetrySources(extra_system={"actions": runner.snapshot})
    collector = TelemetryCollector("dev-1", clock, SystemStats(tmp_path, clock), sources)
    figures = collector.sample().system["actions"]
    assert figures["by_action"]["act"] == {
        "kind": "command",
        "queued": 0,
        "off_schedule": 0,
        "outcomes": {"ok": 1, "rate_limited": 1},
    }
    assert figures["records_stored"] == 2 and figures["records_lost"] == 0
    server = MetricsServer("127.0.0.1", 0, collector.current)
    server.start()
    try:
        metrics = scrape(server.port)
    finally:
        server.stop()
    assert value(metrics, "edge_agent_action_runs_total", action="act", outcome="rate_limited") == 1
    assert value(metrics, "edge_agent_action_queued", action="act") == 0


def test_alerts_stored_while_the_actions_stage_stops_are_recorded_as_stopped(gate, tmp_path):
    """Stopping the stage (shutdown, or the supervisor renewing a runner with a stuck run) waits for the runs in
    progress; an alert stored meanwhile still reaches the runner and gets its `stopped` record, not silence."""
    program, release = gate
    config = AgentConfig.model_validate(
        {
            "device": {"id": "dev-1", "site": "site-1", "state_dir": str(tmp_path / "state")},
            "actions": [command_action(program, on=[{"type": "intrusion"}])],
        }
    )
    delivery = Delivery.build(config, "dev-1", SystemClock())
    try:
        stage = action_stages(config, Services.of(delivery, SystemClock()), lambda: None).stages.specs[0].factory()
        stage.start()
        delivery.sink.emit(make_alert(zone="running"))
        wait_for(lambda: ran(tmp_path) == ["running"], message="the first run to start")
        stopping = threading.Thread(target=stage.stop, args=(10,))
        stopping.start()
        wait_for(lambda: stage.component.workers["act"]._stopping.is_set(), message="the stop to begin")
        during = make_alert(zone="during-the-stop")
        delivery.sink.emit(during)
        release.touch()
        stopping.join(15)
        assert not stopping.is_alive()
        records = records_of(delivery.outbox, "act")
    finally:
        delivery.stop(5)
    assert ran(tmp_path) == ["running"]
    assert sorted((record["outcome"], record["alert_event_id"] == during.event_id) for record in records) == [
        ("ok", False),
        ("stopped", True),
    ]


def test_a_record_put_as_the_recorder_stops_is_stored(outbox):
    """A worker abandoned by the stop deadline finishes just as the recorder stops: its record is stored (queued
    before the final drain, or stored directly), never left in a queue nobody reads."""
    recorder = Recorder(outbox, Topics("edge", "site-1", "dev-1"))
    recorder.start()
    stoppers: list[threading.Thread] = []

    class StopRacesThePut(queue.Queue):
        def put_nowait(self, item) -> None:
            stopper = threading.Thread(target=recorder.stop, args=(5,))
            stoppers.append(stopper)
            stopper.start()
            stopper.join(0.5)  # unguarded, the whole stop (its final drain too) runs before this put lands
            super().put_nowait(item)

    recorder._queue = StopRacesThePut(maxsize=RECORD_QUEUE)
    job = Job("0190aaaa-0000-7000-8000-00000000000a", "remote", None, {}, 0.0)
    recorder.put(RecordMaker("dev-1", "site-1", SystemClock()).make("act", "command", job, "stopped"))
    stoppers[0].join(10)
    assert not stoppers[0].is_alive()
    assert [record["event_id"] for record in stored_records(outbox)] == [job.record_id]
    assert recorder.stored == 1 and recorder.lost == 0


def test_a_run_offered_as_the_runner_stops_is_run_or_recorded(gate, outbox):
    """An alert offered just as the runner stops is either queued before the workers' final drain (then run or
    recorded `stopped`) or refused `stopped`: never left in a queue no worker reads, with no record."""
    program, release = gate
    release.touch()
    runner = start_runner(outbox, command_action(program, remote=True))
    stoppers: list[threading.Thread] = []

    class StopRacesTheOffer(queue.Queue):
        def put_nowait(self, item) -> None:
            stopper = threading.Thread(target=runner.stop, args=(5,))
            stoppers.append(stopper)
            stopper.start()
            stopper.join(1.0)  # unguarded, the whole stop (its final drain too) runs before this job lands
            super().put_nowait(item)

    worker = runner.workers["act"]
    worker.queue = StopRacesTheOffer(maxsize=1)
    job = runner.run_remote("act", None, "r1")
    stoppers[0].join(10)
    assert not stoppers[0].is_alive()
    assert job.done.wait(10), "the run was neither run nor recorded"
    assert [record["event_id"] for record in records_of(outbox, "act")] == [job.record_id]
