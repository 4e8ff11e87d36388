from __future__ import annotations

import pytest

from edge_agent.config.outbox import OutboxConfig
from edge_agent.store import Outbox
from edge_agent.vision.models import fetch_model
from tests.support.alert_contract import EmittedAlerts
from tests.support.assets import assets_dir, model_path
from tests.support.broker import Mosquitto
from tests.support.http_target import HttpTarget


@pytest.fixture(autouse=True)
def alert_contract(monkeypatch):
    """Every alert the agent emits in this test must match its type's published schema (the test errors)."""
    emitted = EmittedAlerts()
    emitted.install(monkeypatch)
    yield emitted
    problems = emitted.violations()
    assert not problems, "alerts outside docs/schemas/alert.schema.json:\n" + "\n".join(problems[:20])


@pytest.fixture
def mosquitto(tmp_path):
    """A private anonymous mosquitto on a free loopback port, stopped after the test."""
    broker = Mosquitto(tmp_path / "broker").start()
    yield broker
    broker.stop()


@pytest.fixture
def outbox(tmp_path):
    """A fresh outbox with default capacity under the `edge` topic prefix."""
    box = Outbox(tmp_path / "outbox.db", OutboxConfig(), topic_prefix="edge")
    yield box
    box.close()


@pytest.fixture(scope="module")
def replay_environ(tmp_path_factory):
    """Environment for configs/replay-*.yaml: the shared model installed in a temp models dir."""
    model_path()  # fail (CI) or skip (laptop) clearly when the assets are missing
    models = tmp_path_factory.mktemp("models")
    fetch_model("yolox_nano", models, mirror_dir=assets_dir())
    return {"EDGE_AGENT_MODELS": str(models), "EDGE_AGENT_ASSETS": str(assets_dir())}


@pytest.fixture
def target():
    """A real local HTTP server standing in for a LAN device an `http` action calls (tests/support/http_target.py)."""
    server = HttpTarget()
    yield server
    server.close()
