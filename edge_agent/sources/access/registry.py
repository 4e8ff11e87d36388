"""Adapter classes by config `type`, and building the configured set."""

from __future__ import annotations

from edge_agent.clock import Clock
from edge_agent.config.access import AccessConfig
from edge_agent.sources.access.base import AccessAdapter, OnEvent
from edge_agent.sources.access.tokens import CredentialTokenizer


def adapter_types() -> dict[str, type[AccessAdapter]]:
    # Imported here so that loading the registry does not load libosdp unless it is used.
    from edge_agent.sources.access.http_push import HttpPushAdapter
    from edge_agent.sources.access.line_stream import LineStreamAdapter
    from edge_agent.sources.access.osdp import OsdpAdapter

    return {cls.type: cls for cls in (OsdpAdapter, HttpPushAdapter, LineStreamAdapter)}


def tokenizer_for(access: AccessConfig) -> CredentialTokenizer | None:
    """The site's credential tokenizer, or None when no site key is configured."""
    if access.site_key_file is None:
        return None
    return CredentialTokenizer.from_file(access.site_key_file)


def build_adapters(access: AccessConfig, on_event: OnEvent, clock: Clock,
                   tokenizer: CredentialTokenizer | None = None) -> list[AccessAdapter]:
    """One adapter per configured feed, not started. Raises ValueError on a missing or short site key."""
    if not access.adapters:
        return []
    tokenizer = tokenizer or tokenizer_for(access)
    if tokenizer is None:
        raise ValueError("access.site_key_file is required when access adapters are configured")
    types = adapter_types()
    return [types[config.type](config, on_event, clock, tokenizer) for config in access.adapters]
