"""The other end of the wire: a reference consumer for the central platform (see docs/platform.md)."""

from edge_agent.platform.consumer import ConsumerOptions, PlatformConsumer, subscription_filters
from edge_agent.platform.store import PlatformStore, Summary

__all__ = ["ConsumerOptions", "PlatformConsumer", "PlatformStore", "Summary", "subscription_filters"]
