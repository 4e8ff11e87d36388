"""The agent's core: the outbox and the publisher, which outlive reloads unless their sections change."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge_agent import __version__
from edge_agent.clock import Clock
from edge_agent.config import AgentConfig
from edge_agent.daemon.supervisor import HealthReporter
from edge_agent.events import AlertFactory
from edge_agent.publish.mqtt import Publisher
from edge_agent.publish.topics import Topics
from edge_agent.sources.camera_health import HealthAlerts
from edge_agent.store import Outbox

log = logging.getLogger(__name__)


def core_sections(config: AgentConfig) -> tuple:
    """The sections whose change needs a new outbox or publisher (identity, broker, store)."""
    return (config.device, config.mqtt, config.outbox)


@dataclass
class Core:
    config: AgentConfig
    device_id: str
    topics: Topics
    outbox: Outbox
    publisher: Publisher
    factory: AlertFactory
    health: HealthReporter
    camera_health: HealthAlerts  # open camera outages and tampers, kept across pipeline reloads

    @classmethod
    def build(cls, config: AgentConfig, device_id: str, clock: Clock) -> "Core":
        topics = Topics(config.mqtt.topic_prefix, config.device.site, device_id)
        factory = AlertFactory(device_id, config.device.site, clock)
        config.device.state_dir.mkdir(parents=True, exist_ok=True)
        outbox = Outbox.for_config(config, device_id, clock)
        try:
            publisher = Publisher(config.mqtt, outbox, topics, device_id, __version__, clock)
        except Exception:
            outbox.close()
            raise
        return cls(config, device_id, topics, outbox, publisher, factory, HealthReporter(factory, outbox), HealthAlerts(factory))

    def start(self, on_command) -> None:
        self.publisher.subscribe(self.topics.command_filter, on_command)
        self.publisher.start()

    def stop(self, timeout: float) -> None:
        """Publisher first (it finishes in-flight rows and publishes status offline), then the store."""
        try:
            self.publisher.stop(timeout)
        finally:
            self.outbox.close()

    def reply(self, topic: str, payload: str) -> None:
        if not self.publisher.publish_now(topic, payload, qos=1, retain=False):
            log.warning("command reply on %s not sent: not connected to the broker", topic)
