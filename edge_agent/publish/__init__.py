"""MQTT publishing: the outbox-draining publisher, connection set-up and remote commands."""

from edge_agent.publish.mqtt import Publisher
from edge_agent.publish.state import PublisherStats

__all__ = ["Publisher", "PublisherStats"]
