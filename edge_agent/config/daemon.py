from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from edge_agent.config.base import Section
from edge_agent.config.policy import LISTENER, REMOTE


class LoggingConfig(Section):
    """Log output (stderr; journald under systemd). Secrets are never logged."""

    level: Literal["debug", "info", "warning", "error"] = Field(default="info", description="Log level.")
    format: Literal["auto", "text", "json"] = Field(
        default="auto", description="auto: text on a terminal, JSON lines otherwise (journald)."
    )


class PrometheusConfig(Section):
    """Optional Prometheus text endpoint with the telemetry figures."""

    enabled: bool = Field(default=False, description="Serve /metrics in Prometheus text format.")
    bind: str = Field(
        default="127.0.0.1",
        json_schema_extra=LISTENER,
        description="Listen address; loopback unless you mean otherwise.",
    )
    port: int = Field(
        default=9108,
        ge=0,
        le=65535,
        description="Listen port (0 picks a free one; telemetry `system.metrics.port` says which).",
    )


class TelemetryConfig(Section):
    """Health figures published on {prefix}/{site}/{device}/telemetry through the outbox."""

    remote_change: ClassVar[str] = REMOTE

    interval: float = Field(default=60.0, ge=1, description="Seconds between telemetry messages.")
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)


class SupervisorConfig(Section):
    """Restarts of stalled or crashed stages, and how long a reloaded pipeline must survive."""

    stall_timeout: float = Field(
        default=30.0, gt=0, description="A stage with no heartbeat for this long is restarted."
    )
    max_restarts: int = Field(
        default=5,
        ge=1,
        description="Restarts of one stage allowed per restart_window before the agent exits for systemd to restart "
        "it.",
    )
    restart_window: float = Field(default=300.0, gt=0, description="Window in seconds for max_restarts.")
    start_grace: float = Field(
        default=3.0,
        ge=0,
        description="Seconds a newly started pipeline must stay up before a reload or set-config counts as applied; a "
        "stage that dies sooner rolls it back.",
    )


class CommandsConfig(Section):
    """Remote commands and config changes."""

    confirm_timeout: float = Field(
        default=120.0,
        ge=5,
        le=3600,
        description="Seconds a new config (set-config, SIGHUP) has to show the broker connected and every stage "
        "healthy before it is persisted and answered `applied`; otherwise the last known-good config comes back "
        "(`reverted`). Long enough for a TLS handshake over a slow uplink and the model load.",
    )
