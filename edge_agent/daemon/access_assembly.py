"""The daemon's access-control stage: AccessService (adapters → DoorRules + TailgatingFusion) under the supervisor.

One AccessService is built per pipeline (a reload builds a new pipeline, hence a new service).
Building it reads the site key and the adapters' secret files and subscribes the tailgating
fusion to the video rule engine's line crossings, so a missing or short key fails the build
(the start fails, a reload is rolled back) and a supervisor restart never subscribes twice.
An adapter that cannot start (serial device unplugged, port in use) does not fail the stage:
it runs offline with its reason and the service retries it with back-off.

A restart of the `access` stage stops the service and starts the same one again: adapters
open a fresh server, serial port or connection thread, while their counters and the rules'
state (open doors, denial windows, welfare silence, recent grants) carry on. The supervisor
watches the service's liveness (every started adapter's threads, the tick and retry threads)
and progress (the tick count). An adapter that could not start, or was online and goes
offline (a line-stream bridge hung up, an OSDP bus went quiet), raises an `agent.health`
alert, and another when it is back.
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
from edge_agent.sources.access.service import AccessService, endpoint_of

__all__ = ["AccessNotAvailable", "AccessParts", "AdapterHealthWatch", "access_stages", "endpoint_of"]

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
    """`agent.health` alerts on adapter link changes: offline after being online or when it cannot start
    (once, with the reason), and back online."""

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
            elif adapter.id in self._reported_offline:
                continue
            elif adapter.last_error is not None:
                self._reported_offline.add(adapter.id)
                self._emit(adapter, "adapter_offline", Severity.minor,
                           f"on {endpoint_of(adapter.config)} could not start: {adapter.last_error}; retrying with back-off",
                           error=adapter.last_error)
            elif adapter.id in self._seen_online:
                self._reported_offline.add(adapter.id)
                self._emit(adapter, "adapter_offline", Severity.minor, "went offline")

    def _emit(self, adapter, reason: str, severity: Severity, what: str, error: str | None = None) -> None:
        message = f"access adapter {adapter.id} ({adapter.type}) {what}"
        (log.info if adapter.online else log.warning)(message, extra={"adapter": adapter.id})
        extra = {"adapter": adapter.id, "adapter_type": adapter.type}
        if error is not None:
            extra["error"] = error
        alert = self.factory.make(
            "agent.health", severity, ("device", self.factory.device_id),
            details=AlertDetails(reason=reason, message=message, extra=extra),
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

    def make_stage() -> ComponentStage:
        # service.start() does not raise for an adapter that cannot start: that one is retried
        return ComponentStage(STAGE_NAME, service, alive=service.alive, progress=progress, start=service.start)

    def adapter_figures() -> dict:
        figures = service.snapshot()
        for adapter in service.adapters:
            port = getattr(adapter, "port", None)  # http_push with port 0: where it really listens
            if port:
                figures[adapter.id]["port"] = port
        return figures

    return AccessParts([StageSpec(STAGE_NAME, make_stage)], adapter_figures, service)

