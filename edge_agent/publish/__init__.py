"""MQTT publishing: the outbox-draining publisher, connection set-up and remote commands."""

from edge_agent.publish.publisher import Publisher
from edge_agent.publish.publisher_state import PublisherStats

__all__ = ["Publisher", "PublisherStats"]
