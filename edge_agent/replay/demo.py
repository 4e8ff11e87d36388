"""The demo: a replay of the sample clip whose alerts also go the daemon's way, outbox first, then the broker.

`run_demo` is what `edge-agent demo` (and `make demo`) runs once the model and the clip are
in place. Alerts reach `sink` as they fire and are committed to the outbox; when a broker
answers at the config's address a publisher drains the outbox to it, exactly as `run` does.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_agent import __version__
from edge_agent.clock import Clock
from edge_agent.config import AgentConfig
from edge_agent.events import AlertSink, TeeSink, Topics
from edge_agent.identity import device_id_for
from edge_agent.publish import Publisher
from edge_agent.replay.clip import Progress, ReplayOptions, ReplayResult, replay_clip
from edge_agent.store import Outbox

DRAIN_TIMEOUT_S = 15.0


@dataclass
class DemoResult:
    replay: ReplayResult
    outbox_path: Path
    broker: str | None  # host:port the alerts were published to, None when no broker answered
    topic_base: str | None
    delivered_all: bool  # every alert reached the broker (False without one)


def run_demo(
    config: AgentConfig,
    clip: str | Path,
    sink: AlertSink,
    *,
    max_seconds: float | None = None,
    on_progress: Progress | None = None,
    say: Callable[[str], None] = lambda _: None,
    clock: Clock | None = None,
) -> DemoResult:
    """Replay `clip` with `config`'s camera; alerts to `sink` and the outbox, published when a broker answers.

    `clock`: where the clip's timeline starts (default: now).
    """
    device_id = device_id_for(config)
    outbox = Outbox.for_config(config, device_id)
    publisher = topics = None
    if broker_answers(config.mqtt.host, config.mqtt.port):
        topics = Topics(config.mqtt.topic_prefix, config.device.site, device_id)
        publisher = Publisher(config.mqtt, outbox, topics, device_id, __version__)
        publisher.start()
        say(f"broker at {config.mqtt.host}:{config.mqtt.port}: publishing under {topics.base}/")
    else:
        say(f"no broker at {config.mqtt.host}:{config.mqtt.port}: alerts stay in {config.outbox_path}")
    try:
        options = ReplayOptions(
            sink=TeeSink(sink, outbox), max_seconds=max_seconds, on_progress=on_progress, clock=clock
        )
        result = replay_clip(config, clip, options)
        delivered = publisher is not None and wait_for_drain(outbox, DRAIN_TIMEOUT_S)
    finally:
        if publisher is not None:
            publisher.stop()
        outbox.close()
    broker = f"{config.mqtt.host}:{config.mqtt.port}" if publisher is not None else None
    return DemoResult(result, Path(config.outbox_path), broker, topics.base if topics else None, delivered)


def broker_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_for_drain(outbox: Outbox, timeout: float) -> bool:
    """True once nothing is left undelivered; False when `timeout` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if outbox.stats().undelivered == 0:
            return True
        time.sleep(0.1)  # polling the outbox's own counter: the publisher offers no drained event
    return False
