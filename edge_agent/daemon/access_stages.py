"""The daemon's access-control stage: an AccessService (adapters → DoorRules + TailgatingFusion) under the supervisor.

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
and progress (the tick count); adapter outages reach `Health` from the service itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge_agent.access.service import AccessService
from edge_agent.config import AgentConfig
from edge_agent.daemon.delivery import Services
from edge_agent.daemon.stage_kinds import ComponentStage, Stages
from edge_agent.daemon.supervisor import StageSpec
from edge_agent.daemon.telemetry import Section
from edge_agent.events import CrossingFeed

log = logging.getLogger(__name__)

STAGE_NAME = "access"


class AccessNotAvailable(RuntimeError):
    """The access section cannot be run as configured (unreadable site key or secret, bad adapter setup)."""


@dataclass
class AccessParts:
    """What the access build yields: its stage, the service (what a reload carries, the `osdp_output` actions'
    control panels) and the telemetry `adapters` section."""

    stages: Stages
    service: AccessService
    adapters: Section


def access_stages(config: AgentConfig, services: Services, crossings: CrossingFeed | None = None) -> AccessParts:
    """Builds the service (reading its key and secret files) and its stage spec; starts nothing. `crossings`: the video
    side's line crossings, for tailgating fusion (None without cameras)."""
    try:
        service = AccessService(
            config.access,
            services.factory,
            services.sink,
            services.clock,
            config.device.timezone,
            crossings=crossings,
            health=services.health,
            hang_timeout=config.supervisor.stall_timeout,
            state=services.state,
        )
    except (ValueError, OSError) as exc:
        raise AccessNotAvailable(f"access control cannot start: {exc}") from None

    def make_stage() -> ComponentStage:
        # service.start() does not raise for an adapter that cannot start: that one is retried
        return ComponentStage(
            STAGE_NAME,
            service,
            alive=service.alive,
            progress=service.progress,
            start=service.start,
            why_dead=lambda: service.hung,
        )

    def adapter_figures() -> dict:
        figures = service.snapshot()
        for adapter in service.adapters:
            port = getattr(adapter, "port", None)  # http_push with port 0: where it really listens
            if port:
                figures[adapter.id]["port"] = port
        return figures

    stages = Stages(
        [StageSpec(STAGE_NAME, make_stage)],
        closers=[service.release],
        counters={
            "door_rule_tick_errors": lambda: service.tick_errors,
            "door_events_unknown_door": lambda: service.rules.unknown_doors,
            "door_events_unknown_type": lambda: service.rules.unknown_types,
            "door_forced_inferred": lambda: service.rules.forced.inferred,
            "door_forced_merged": lambda: service.rules.forced.merged,
            "door_alert_commit_failures": lambda: service.committer.commit_failures,
            "door_alerts_forgotten": lambda: service.committer.forgotten,
        },
    )
    return AccessParts(stages, service, adapter_figures)
