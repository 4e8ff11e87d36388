from __future__ import annotations

import pytest

from tests.support.broker import Mosquitto


@pytest.fixture
def mosquitto(tmp_path):
    """A private anonymous mosquitto on a free loopback port, stopped after the test."""
    broker = Mosquitto(tmp_path / "broker").start()
    yield broker
    broker.stop()
