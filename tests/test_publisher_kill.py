"""The publishing process killed with SIGKILL mid-stream and restarted: nothing is lost, status stays honest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from edge_agent.store import OutboxReader
from tests.support.broker import Recorder
from tests.support.wait import wait_for
from tests.test_publisher import DEVICE, SITE, TOPICS

ROOT = Path(__file__).resolve().parents[1]

# The agent side, as its own process: emits `count` alerts (printing each
# event_id once emit() has returned) and keeps publishing until killed.
CHILD = f"""
import sys, time
from edge_agent.config.mqtt import MqttConfig, ReconnectConfig
from edge_agent.config.outbox import OutboxConfig
from edge_agent.events import AlertFactory
from edge_agent.events import Topics
from edge_agent.publish import Publisher
from edge_agent.store import Outbox

db, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
outbox = Outbox(db, OutboxConfig(), topic_prefix="edge")
config = MqttConfig(port=port, will_delay=5, reconnect=ReconnectConfig(min_delay=0.05, max_delay=0.3))
publisher = Publisher(config, outbox, Topics("edge", "{SITE}", "{DEVICE}"), "{DEVICE}", "kill-test")
publisher.start()
print("started", flush=True)
factory = AlertFactory("{DEVICE}", "{SITE}")
for i in range(count):
    alert = factory.make("intrusion", "major", ("camera", "cam1"), details={{"count": i}})
    outbox.emit(alert)
    print(alert.event_id, flush=True)
    time.sleep(0.002)
print("done", flush=True)
while True:
    time.sleep(3600)
"""


class Child:
    def __init__(self, script: Path, db: Path, port: int, count: int):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(db), str(port), str(count)], stdout=subprocess.PIPE, text=True, env=env
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def emitted(self) -> list[str]:
        return [line for line in list(self.lines) if line not in ("started", "done")]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._reader.join(5)


def status_states(recorder: Recorder) -> list[str]:
    return [json.loads(payload)["state"] for topic, payload, *_ in recorder.snapshot() if topic == TOPICS.status]


def test_sigkill_mid_stream_loses_nothing_and_quick_restart_raises_no_offline_flap(tmp_path, mosquitto):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    db = tmp_path / "outbox.db"
    recorder = Recorder(mosquitto.port, "edge/#").start()
    children = []
    try:
        first = Child(script, db, mosquitto.port, 2000)
        children.append(first)
        wait_for(lambda: len(recorder.event_ids()) >= 500, timeout=60, message="500 alerts before the kill")
        first.kill()
        emitted = first.emitted()
        assert 500 <= len(emitted) < 2000, "the kill must land mid-stream"

        second = Child(script, db, mosquitto.port, 0)  # restart: only drains what the first left
        children.append(second)
        wait_for(lambda: set(recorder.event_ids()) >= set(emitted), timeout=60, message="every emitted alert")
        with OutboxReader(db) as reader:
            wait_for(lambda: reader.stats(0).undelivered == 0, message="outbox drained")
            stored = {row.event_id for row in reader.tail(10_000)}
        # Everything emit() returned for is in the store, and all of it arrived
        # (a row committed just before the kill but not yet printed counts too).
        assert set(emitted) <= stored and stored <= set(recorder.event_ids())
        wait_for(lambda: status_states(recorder).count("online") == 2, message="second online status")
        second.kill()
        wait_for(lambda: status_states(recorder)[-1:] == ["offline"], timeout=15, message="Last Will after the delay")
        # The restart came back within the will delay, so no offline between the two onlines.
        assert status_states(recorder) == ["online", "online", "offline"]
        will = next(
            payload for topic, payload, *_ in recorder.snapshot() if topic == TOPICS.status and b"offline" in payload
        )
        assert json.loads(will)["device_id"] == DEVICE and json.loads(will)["agent_version"] == "kill-test"
    finally:
        for child in children:
            if child.process.poll() is None:
                child.kill()
        recorder.stop()
