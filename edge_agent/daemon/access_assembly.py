"""The daemon's access-control stage: AccessService (adapters → DoorRules + TailgatingFusion) under the supervisor.

One AccessService is built per pipeline (a reload builds a new pipeline, hence a new service).
Building it reads the site key and the adapters' secret files and subscribes the tailgating
fusion to the video rule engine's line crossings, so a missing or short key fails the build
(the start fails, a reload is rolled back) and a supervisor restart never subscribes twice.

A restart of the `access` stage stops the service and starts the same one again: adapters
open a fresh server, serial port or connection thread, while their counters and the rules'
state (open doors, denial windows, welfare silence, recent grants) carry on. The supervisor
watches the service's liveness (every adapter thread and the tick thread) and progress (the
tick count). An adapter that was online and goes offline (a line-stream bridge hung up, an
OSDP bus went quiet) raises an `agent.health` alert, and another when it is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from edge_agent.clock import Clock
from edge_agent.config import AgentConfig
from edge_agent.daemon.stages import ComponentStage
from edge_agent.daemon.supervisor import StageSpec
from edge_agent.events import AlertDetails, AlertFactory, AlertSink, Severity
from edge_agent.sources.access.service import AccessService

log = logging.getLogger(__name__)

STAGE_NAME = "access"


class AccessNotAvailable(RuntimeError):
    """The access section cannot be run as configured (unreadable site key or secret, bad adapter setup)."""


@dataclass
class AccessParts:
    specs: list[StageSpec]
    adapters: Callable[[], dict]  # telemetry `adapters` section
    service: AccessService
    close: Callable[[], None] = field(default=lambda: None)


class AdapterHealthWatch:
    """`agent.health` alerts on adapter link changes: offline after being online, and back online."""

    def __init__(self, service: AccessService, factory: AlertFactory, sink: AlertSink):
        self.service = service
        self.factory = factory
        self.sink = sink
        self._seen_online: set[str] = set()
        self._reported_offline: set[str] = set()

    def check(self) -> None:
        for adapter in self.service.adapters:
            if adapter.online:
                self._seen_online.add(adapter.id)
                if adapter.id in self._reported_offline:
                    self._reported_offline.discard(adapter.id)
                    self._emit(adapter, "adapter_online", Severity.info, "is back online")
            elif adapter.id in self._seen_online and adapter.id not in self._reported_offline:
                self._reported_offline.add(adapter.id)
                self._emit(adapter, "adapter_offline", Severity.minor, "went offline")

    def _emit(self, adapter, reason: str, severity: Severity, what: str) -> None:
        message = f"access adapter {adapter.id} ({adapter.type}) {what}"
        (log.info if adapter.online else log.warning)(message, extra={"adapter": adapter.id})
        alert = self.factory.make(
            "agent.health", severity, ("device", self.factory.device_id),
            details=AlertDetails(reason=reason, message=message, extra={"adapter": adapter.id, "adapter_type": adapter.type}),
        )
        try:
            self.sink.emit(alert)
        except Exception:  # reporting must not take the access stage down
            log.exception("could not store the %s health alert", reason)


def access_stages(config: AgentConfig, sink: AlertSink, factory: AlertFactory, clock: Clock,
                  crossing_source=None) -> AccessParts:
    """Builds the service (reading its key and secret files) and its stage spec; starts nothing."""
    try:
        service = AccessService(config.access, factory, sink, clock, config.device.timezone,
                                crossing_source=crossing_source)
    except (ValueError, OSError) as exc:
        raise AccessNotAvailable(f"access control cannot start: {exc}") from None
    watch = AdapterHealthWatch(service, factory, sink)

    def progress() -> int:
        watch.check()
        return service.progress()

    def start() -> None:
        try:
            service.start()
        except OSError as exc:  # a port in use, a missing serial device: say which adapters
            endpoints = ", ".join(f"{adapter.id} on {endpoint_of(adapter.config)}" for adapter in service.adapters)
            raise AccessNotAvailable(f"access adapters could not start ({endpoints}): {exc}") from None

    def make_stage() -> ComponentStage:
        return ComponentStage(STAGE_NAME, service, alive=service.alive, progress=progress, start=start)

    def adapter_figures() -> dict:
        figures = service.snapshot()
        for adapter in service.adapters:
            port = getattr(adapter, "port", None)  # http_push with port 0: where it really listens
            if port:
                figures[adapter.id]["port"] = port
        return figures

    return AccessParts([StageSpec(STAGE_NAME, make_stage)], adapter_figures, service)


def endpoint_of(adapter_config) -> str:
    """Where an adapter listens or connects, for error messages."""
    if adapter_config.type == "http_push":
        return f"{adapter_config.bind}:{adapter_config.port}"
    if adapter_config.type == "line_stream":
        return adapter_config.serial_device or f"{adapter_config.tcp_host}:{adapter_config.tcp_port}"
    return getattr(adapter_config, "device", "?")
