"""Access-control feeds: OSDP, HTTP push and line-stream adapters emitting normalized door events.

    adapters = build_adapters(config.access, on_event, clock)
    for adapter in adapters: adapter.start()
    ...adapter.snapshot()  # telemetry: online, events, rejected by reason

Raw card numbers and PINs become HMAC-SHA256 tokens under the site key inside
the adapter (edge_agent.credentials); nothing downstream ever sees them.
"""

from edge_agent.sources.access.base import AccessAdapter, BurstLog, OnEvent, Rejected
from edge_agent.sources.access.registry import adapter_types, build_adapters

__all__ = [
    "AccessAdapter",
    "BurstLog",
    "OnEvent",
    "Rejected",
    "adapter_types",
    "build_adapters",
]
