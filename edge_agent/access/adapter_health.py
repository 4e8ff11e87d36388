"""What the door service reports about its adapters' links: the daemon's `Health` is the one implementation.

A protocol, not an import of daemon/health.py: the door service sits below the daemon, which hands it
its `Health` (tests hand it a list-backed one or none).
"""

from __future__ import annotations

from typing import Protocol


class AdapterHealth(Protocol):
    def adapter_offline(self, adapter_id: str, adapter_type: str, what: str, error: str | None = None) -> None:
        """Start an adapter outage (`what`: why, in words; `error`: the start error, when one)."""

    def adapter_online(self, adapter_id: str, adapter_type: str) -> None:
        """End the adapter's open outage, if any."""
