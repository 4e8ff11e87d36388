"""The wire contract as a platform's own tools meet it: Ajv (a second, independent JSON Schema validator, from
the npm registry: .ci/validate_contract.mjs) on every schema, example and message type the agent publishes;
one `started_at`; `set-config` results. MQTT v5 request/response is in tests/test_command_routes.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edge_agent.clock import FakeClock
from tests.support.contract_samples import keep_payloads_for_the_ci, write_samples
from tests.support.daemon import Daemon, Watcher, base_config, retained_message
from tests.support.wait import wait_for
from tests.test_counts import MIDNIGHT, agent_config
from tests.test_counts import Agent as CountsAgent

ROOT = Path(__file__).resolve().parents[1]
VALIDATOR = ROOT / ".ci" / "validate_contract.mjs"
EVERY_TYPE = "alert,status,telemetry,counts,action,command-reply"


def ajv(*args: str) -> tuple[int, dict]:
    """Run the Ajv check; without node or its packages (`npm ci` in .ci) the test fails under CI, else skips."""
    node = shutil.which("node")
    if node is None or not (ROOT / ".ci" / "node_modules" / "ajv").is_dir():
        message = "node and .ci/node_modules (run `npm ci` in .ci) are needed for the contract's second validator"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run([node, str(VALIDATOR), *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_ajv_strict_compiles_every_schema_and_accepts_every_example():
    code, report = ajv()
    assert (code, report["problems"]) == (0, [])
    examples = len(list((ROOT / "docs" / "examples").glob("alert-*.json")))
    assert report["schemas"]["alert"]["valid"] == examples and report["schemas"]["action"]["valid"] >= 1


def test_ajv_refuses_what_the_docs_mark_always(tmp_path):
    """The second validator is live: an alert without `event_id`, an end without `related_event_id`."""
    intrusion = json.loads((ROOT / "docs" / "examples" / "alert-intrusion-start.json").read_text())
    end = json.loads((ROOT / "docs" / "examples" / "alert-intrusion-end.json").read_text())
    line = json.loads((ROOT / "docs" / "examples" / "alert-line-crossing.json").read_text())
    del intrusion["event_id"], end["related_event_id"]
    line["created_at"] = "2026-01-05 22:14"  # not RFC 3339 (`format: date-time`, checked by ajv-formats)
    (tmp_path / "alert.jsonl").write_text("".join(json.dumps(alert) + "\n" for alert in (intrusion, end, line)))
    code, report = ajv(str(tmp_path))
    assert code == 1 and report["schemas"]["alert"]["invalid"] == 3
    assert any("/created_at must match format" in p for p in report["problems"]), report["problems"]
    assert any("required property 'event_id'" in p for p in report["problems"]), report["problems"]
    assert any("required property 'related_event_id'" in p for p in report["problems"]), report["problems"]


@pytest.fixture
def agent(tmp_path, mosquitto):
    config = base_config(
        tmp_path / "state",
        mosquitto.port,
        telemetry={"interval": 1},
        actions=[{"name": "mark", "kind": "command", "argv": ["/bin/true"], "remote": True}],
    )
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config).start()
    watcher.wait_ready()
    yield daemon, watcher, config
    assert daemon.stop() == 0
    watcher.close()


def test_every_message_type_the_agent_publishes_passes_ajv(agent, mosquitto, tmp_path):
    daemon, watcher, config = agent
    assert watcher.command("status")["ok"] and watcher.command("get-config")["ok"]
    assert not watcher.command("set-config", {"config": {**config, "cameras": [{"id": "c1"}]}})["ok"]
    assert watcher.command("run-action", {"action": "mark"})["ok"]
    wait_for(lambda: watcher.health("config_rejected"), message="the config_rejected alert")
    wait_for(lambda: watcher.payloads("actions/mark"), message="the action record")
    wait_for(lambda: watcher.payloads("telemetry"), message="telemetry")
    samples = tmp_path / "samples"
    seen = write_samples(samples, watcher.base, list(watcher.messages))
    assert set(seen) == set(EVERY_TYPE.split(",")) - {"counts"}, seen
    # counts need a camera: the agent's own counts stage, with crossings through a real rule engine (test_counts.py)
    counting = CountsAgent(agent_config(tmp_path / "counts", interval=60), FakeClock(MIDNIGHT))
    counting.walk_in(1)
    counting.run(70)
    rows = [row for row in counting.delivery.outbox.claim(100) if row.topic.endswith("/counts")]
    assert rows
    (samples / "counts.jsonl").write_bytes(b"".join(bytes(row.payload) + b"\n" for row in rows))
    keep_payloads_for_the_ci("counts", [row.payload for row in rows])  # for .ci/run's check of the whole suite
    counting.delivery.stop(timeout=5)

    code, report = ajv("--require", EVERY_TYPE, str(samples))
    assert (code, report["problems"]) == (0, [])
    assert all(report["schemas"][name]["valid"] > 0 for name in EVERY_TYPE.split(","))


def test_one_started_at_in_the_status_reply_and_the_retained_status(agent, mosquitto):
    daemon, watcher, config = agent
    telemetry = wait_for(lambda: watcher.payloads("telemetry"), message="telemetry")[-1]
    assert telemetry["system"]["mqtt"]["last_connected_at"].endswith("Z")  # RFC 3339, as every time on the wire
    reply = watcher.command("status")["result"]
    retained, _ = retained_message(mosquitto.port, f"{watcher.base}/status")
    assert reply["started_at"] == retained["started_at"]  # a boot id the platform can compare
    assert reply["outbox"]["last_delivery_at"].endswith("Z")  # the telemetry it was told of was delivered


def test_set_config_says_persisted_always_and_lists_every_problem(agent):
    daemon, watcher, config = agent
    before = daemon.config_path.read_text()
    unsaved = watcher.command("set-config", {"config": {**config, "telemetry": {"interval": 2}}, "persist": False})
    assert unsaved["ok"] and unsaved["result"]["persisted"] is False, unsaved
    assert daemon.config_path.read_text() == before

    broken = {
        **config,
        "telemetry": {"interval": -1},
        "cameras": [{"id": "c1", "url": "c1.mp4", "zones": {"z": {"points": [[0, 0], [1, 0], [1, 1]]}}}],
        "rules": [{"name": "r1", "type": "intrusion", "camera": "c9", "zone": "z"}],
    }
    rejected = watcher.command("set-config", {"config": broken})
    assert rejected["ok"] is False and rejected["result"]["persisted"] is False, rejected
    problems = rejected["result"]["problems"]
    assert any("telemetry.interval" in p for p in problems) and any("rules[0].camera" in p for p in problems), problems
    assert all(p.split(": ", 1)[-1] in rejected["error"] for p in problems)
