"""MQTT publishing: topic layout, the outbox-draining publisher, connection set-up and back-off."""

from edge_agent.publish.backoff import FullJitterBackoff
from edge_agent.publish.mqtt import Publisher
from edge_agent.publish.state import PublisherStats
from edge_agent.publish.topics import Topics

__all__ = ["FullJitterBackoff", "Publisher", "PublisherStats", "Topics"]
