"""What outlives a reload: the outbox, the publisher that drains it, and the health reporter writing to it.

They are rebuilt only when their own sections (device identity, broker, store) change, so a
reload never drops a queued alert nor an open health episode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge_agent import __version__
from edge_agent.clock import Clock
from edge_agent.config import AgentConfig
from edge_agent.daemon.health import Health
from edge_agent.events import AlertFactory, Topics
from edge_agent.publish.mqtt import Publisher
from edge_agent.store import Outbox

log = logging.getLogger(__name__)


def delivery_sections(config: AgentConfig) -> tuple:
    """The sections whose change needs a new outbox or publisher (identity, broker, store)."""
    return (config.device, config.mqtt, config.outbox)


@dataclass
class Delivery:
    config: AgentConfig
    device_id: str
    topics: Topics
    outbox: Outbox
    publisher: Publisher
    factory: AlertFactory
    health: Health  # open camera and adapter outages, kept across pipeline reloads
    clock: Clock | None = None

    @classmethod
    def build(cls, config: AgentConfig, device_id: str, clock: Clock, health: Health | None = None) -> Delivery:
        """`health`: the previous delivery's, when only the broker changed (its open episodes carry on)."""
        topics = Topics(config.mqtt.topic_prefix, config.device.site, device_id)
        factory = AlertFactory(device_id, config.device.site, clock)
        config.device.state_dir.mkdir(parents=True, exist_ok=True)
        outbox = Outbox(config.outbox_path, config.outbox, clock, topic_prefix=config.mqtt.topic_prefix)
        if health is None or health.factory.device_id != device_id:
            health = Health(factory, outbox)
        else:
            health.sink = outbox
        if outbox.moved_aside_to is not None:
            health.outbox_recovered(outbox.moved_aside_to, outbox.corruption or "")
        try:
            publisher = Publisher(config.mqtt, outbox, topics, device_id, __version__, clock)
        except Exception:
            outbox.close()
            raise
        return cls(config, device_id, topics, outbox, publisher, factory, health, clock)

    def start(self, on_command) -> None:
        self.publisher.subscribe(self.topics.command_filter, on_command)
        self.publisher.start()

    def renew_publisher(self, on_command) -> Publisher:
        """A fresh, unstarted publisher on the same outbox, replacing one whose thread died or hung.

        The old thread is abandoned if it does not stop (Python cannot kill it); rows it had in
        flight are requeued when the new one connects, so they are sent again with the same event_id.
        """
        publisher = Publisher(self.config.mqtt, self.outbox, self.topics, self.device_id, __version__, self.clock)
        publisher.subscribe(self.topics.command_filter, on_command)
        self.publisher = publisher
        return publisher

    def stop(self, timeout: float) -> None:
        """Publisher first (it finishes in-flight rows and publishes status offline), then the store."""
        try:
            self.publisher.stop(timeout)
        finally:
            self.outbox.close()

    def reply(self, topic: str, payload: str) -> None:
        if not self.publisher.publish_now(topic, payload, qos=1, retain=False):
            log.warning("command reply on %s not sent: not connected to the broker", topic)
