"""Adapter classes by config `type`, and building the configured set."""

from __future__ import annotations

from edge_agent.clock import Clock
from edge_agent.config.access import AccessConfig
from edge_agent.credentials import CredentialTokenizer, tokenizer_for
from edge_agent.sources.access.base import AccessAdapter, OnEvent


def adapter_types() -> dict[str, type[AccessAdapter]]:
    # Imported here so that loading the registry does not load libosdp unless it is used.
    from edge_agent.sources.access.http_push import HttpPushAdapter
    from edge_agent.sources.access.line_stream import LineStreamAdapter
    from edge_agent.sources.access.osdp import OsdpAdapter

    return {cls.type: cls for cls in (OsdpAdapter, HttpPushAdapter, LineStreamAdapter)}


def build_adapters(
    access: AccessConfig, on_event: OnEvent, clock: Clock, tokenizer: CredentialTokenizer | None = None
) -> list[AccessAdapter]:
    """One adapter per configured feed, not started. Raises ValueError on a missing or short site key."""
    if not access.adapters:
        return []
    tokenizer = tokenizer or tokenizer_for(access)
    if tokenizer is None:
        raise ValueError("access.site_key_file is required when access adapters are configured")
    types = adapter_types()
    return [types[config.type](config, on_event, clock, tokenizer) for config in access.adapters]


def describe_start_error(adapter: AccessAdapter, exc: BaseException) -> str:
    """What failed, naming the adapter's endpoint unless the error already does."""
    text = str(exc) or type(exc).__name__
    endpoint = endpoint_of(adapter.config)
    return text if endpoint in text else f"{endpoint}: {text}"


def endpoint_of(adapter_config) -> str:
    """Where an adapter listens or connects, for error messages."""
    if adapter_config.type == "http_push":
        return f"{adapter_config.bind}:{adapter_config.port}"
    if adapter_config.type == "line_stream":
        return adapter_config.serial_device or f"{adapter_config.tcp_host}:{adapter_config.tcp_port}"
    return getattr(adapter_config, "device", "?")
