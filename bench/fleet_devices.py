"""One worker process of bench_fleet.py: a slice of the fleet, each device a real Outbox file + Publisher.

Runs in its own process (multiprocessing) so that many devices fit: the parent tells it when
the broker went down and came back (through `events`), and it reports, per device, when it
first reconnected and when the backlog from before the restart had drained. Emitted
event_ids go to a file so the parent can check nothing was lost.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from pathlib import Path

from edge_agent.config.mqtt import MqttConfig
from edge_agent.config.outbox import OutboxConfig
from edge_agent.events import AlertFactory, Topics
from edge_agent.publish import Publisher
from edge_agent.store import Outbox

SITE = "fleet"
POLL_S = 0.1


class SimDevice:
    def __init__(self, workdir: Path, device_id: str, port: int, seed: int, retry_unrouted: bool = False):
        self.device_id = device_id
        self.outbox = Outbox(workdir / f"{device_id}.db", OutboxConfig(), topic_prefix="edge")
        # the agent's defaults (1-120 s full-jitter back-off, will_delay 10 s); --retry-unrouted: mqtt.retry_unrouted
        config = MqttConfig(port=port, retry_unrouted=retry_unrouted)
        topics = Topics("edge", SITE, device_id)
        self.publisher = Publisher(config, self.outbox, topics, device_id, "fleet-bench", rng=random.Random(seed))
        self.factory = AlertFactory(device_id, SITE)
        self.open_start: str | None = None
        self.emitted: list[str] = []

    def emit(self) -> None:
        """Alternate start and end alerts, so the consumer has episodes to pair."""
        if self.open_start is None:
            alert = self.factory.make("loitering", "minor", ("camera", "cam1"), phase="start")
            self.open_start = alert.event_id
        else:
            alert = self.factory.make(
                "loitering", "minor", ("camera", "cam1"), phase="end", related_event_id=self.open_start
            )
            self.open_start = None
        self.outbox.emit(alert)
        self.emitted.append(alert.event_id)

    def backlog_before(self, wall: float) -> bool:
        """True while a row created before `wall` is still not acknowledged."""
        age = self.outbox.stats().oldest_pending_age_s
        return age is not None and time.time() - age < wall


def run_worker(index, device_ids, port, rate, workdir, events, results, retry_unrouted=False) -> None:
    """Start the devices, emit until told to stop, watch reconnects and the drain; report to `results`."""
    logging.getLogger("edge_agent").setLevel(logging.ERROR)  # a thousand "connection lost" lines say nothing
    root = Path(workdir)
    devices = [SimDevice(root, device_id, port, hash(device_id) & 0xFFFF, retry_unrouted) for device_id in device_ids]
    for device in devices:
        device.publisher.start()
    stop_emitting = threading.Event()
    emitter = threading.Thread(target=_emit_loop, args=(devices, rate, stop_emitting), daemon=True)
    emitter.start()
    results.put(("ready", index, len(devices)))
    reconnected: dict[str, float] = {}
    drained: dict[str, float] = {}
    restarted_at = None
    while True:
        command = _poll(events)
        if command is not None and command[0] == "restarted":
            restarted_at = command[1]
        if command is not None and command[0] == "stop_emitting":
            stop_emitting.set()
            emitter.join()
            break
        if restarted_at is not None:
            _watch(devices, restarted_at, reconnected, drained)
    _settle(devices, events, restarted_at, reconnected, drained)
    emitted = [event_id for device in devices for event_id in device.emitted]
    (root / f"emitted-{index}.json").write_text(json.dumps(emitted))
    pending = sum(_unsent(device) for device in devices)
    report = {"emitted": len(emitted), "pending": pending, "reconnected": reconnected, "drained": drained}
    results.put(("done", index, report))
    for device in devices:
        device.publisher.stop(timeout=2.0)
        device.outbox.close()


def _emit_loop(devices: list[SimDevice], rate: float, stop: threading.Event) -> None:
    """Each device emits `rate` alerts a second, phases spread so the fleet does not emit in bursts."""
    period = 1.0 / rate
    due = {device.device_id: time.monotonic() + random.uniform(0, period) for device in devices}
    while not stop.is_set():
        now = time.monotonic()
        for device in devices:
            if due[device.device_id] <= now:
                device.emit()
                due[device.device_id] += period
        stop.wait(max(0.005, min(due.values()) - time.monotonic()))


def _unsent(device: SimDevice) -> int:
    stats = device.outbox.stats()
    return sum(stats.pending.values()) + sum(stats.inflight.values())


def _poll(events):
    try:
        return events.get(timeout=POLL_S)
    except Exception:  # queue.Empty from the multiprocessing queue
        return None


def _watch(devices, restarted_at: float, reconnected: dict, drained: dict) -> None:
    now = time.time()
    for device in devices:
        if device.device_id not in reconnected and device.publisher.connected:
            reconnected[device.device_id] = now
        if device.device_id in reconnected and device.device_id not in drained:
            if not device.backlog_before(restarted_at):
                drained[device.device_id] = now


def _settle(devices, events, restarted_at, reconnected: dict, drained: dict) -> None:
    """After emitting stops: keep watching until every outbox is empty (or the parent gives up)."""
    while True:
        if restarted_at is not None:
            _watch(devices, restarted_at, reconnected, drained)
        if all(_unsent(device) == 0 for device in devices):
            return
        command = _poll(events)
        if command is not None and command[0] == "give_up":
            return
