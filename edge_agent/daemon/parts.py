"""What building a pipeline yields: the stages to supervise and what telemetry and commands read of them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edge_agent.daemon.supervisor import StageSpec

if TYPE_CHECKING:
    from edge_agent.access.service import AccessService
    from edge_agent.actions.runner import ActionRunner
    from edge_agent.rules.engine import RuleEngine

log = logging.getLogger(__name__)

Section = Callable[[], dict]  # a telemetry section, read when a sample is taken


@dataclass
class PipelineParts:
    specs: list[StageSpec] = field(default_factory=list)
    cameras: Section | None = None
    lines: Section | None = None
    detector: Section | None = None
    adapters: Section | None = None
    rule_engine: RuleEngine | None = None  # the video rules; tailgating fusion hears their line crossings
    access: AccessService | None = None
    actions: Callable[[], ActionRunner | None] | None = None  # the current action runner (the supervisor may renew it)
    chains: dict = field(default_factory=dict)  # camera id -> CameraChain
    pumps: dict = field(default_factory=dict)  # camera id -> the current CameraPump (the supervisor may renew it)
    inherited_sources: dict = field(default_factory=dict)  # camera id -> a reader handed over by a reload
    counters: dict[str, Callable[[], int]] = field(default_factory=dict)  # telemetry system.agent
    closers: list[Callable[[], None]] = field(default_factory=list)

    def add(self, other: PipelineParts) -> None:
        """Take in the stages and sections another builder made (video, access, telemetry)."""
        self.specs.extend(other.specs)
        for name in ("cameras", "lines", "detector", "adapters", "rule_engine", "access", "actions"):
            if getattr(other, name) is not None:
                setattr(self, name, getattr(other, name))
        if other.chains:
            self.chains, self.pumps, self.inherited_sources = other.chains, other.pumps, other.inherited_sources
        self.counters.update(other.counters)
        self.closers.extend(other.closers)

    def latest_frame(self, camera_id: str):
        """The camera's newest decoded Frame (not consumed), or None when it has none or is not running."""
        pump = self.pumps.get(camera_id)
        return pump.source.peek() if pump is not None else None

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:
                log.exception("releasing a pipeline resource failed")
