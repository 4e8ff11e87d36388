"""The other end of the wire: a reference consumer for the central platform (see docs/platform.md)."""

from edge_agent.platform.consumer import ConsumerOptions, PlatformConsumer, subscription_filters
from edge_agent.platform.message_checks import RejectedMessage, action_record
from edge_agent.platform.store import ATTENTION_OUTCOMES, PlatformStore, StoreVersionError, Summary

__all__ = [
    "ATTENTION_OUTCOMES",
    "ConsumerOptions",
    "PlatformConsumer",
    "PlatformStore",
    "RejectedMessage",
    "StoreVersionError",
    "Summary",
    "action_record",
    "subscription_filters",
]
