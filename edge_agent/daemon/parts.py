"""What building a pipeline yields, one typed field per part, and the registry of the parts a reload carries.

`daemon/pipeline.py` fills a `PipelineParts`; the supervisor runs its `specs`; telemetry, the agent's face
(daemon/face.py) and the reload (daemon/reload.py) read it through the methods below, never through a part's insides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from edge_agent.daemon.stage_kinds import Stages
from edge_agent.daemon.supervisor import StageSpec
from edge_agent.daemon.telemetry import TelemetryCollector

if TYPE_CHECKING:
    from edge_agent.actions.runner import ActionRunner
    from edge_agent.daemon.access_stages import AccessParts
    from edge_agent.daemon.action_stages import ActionParts
    from edge_agent.daemon.counts_stages import CountsParts
    from edge_agent.daemon.video_stages import VideoParts
    from edge_agent.events import Frame

log = logging.getLogger(__name__)


@runtime_checkable
class Carried(Protocol):
    """A part of a build whose state outlives it: the part with the same key in the next build takes it over.

    daemon/reload.py `carry` is the one walk: `hand_over` is called on every outgoing part while its pipeline still
    runs (`successor`: the incoming part with its key, or None), then, once the outgoing video stages have stopped and
    before any incoming stage starts, `adopt` on every incoming part that has a predecessor. A part takes only what its
    config leaves unchanged and returns what it kept (for the log); what it leaves, the reload ends (`config_changed`).
    The parts a registered one is made of (a chain's tracker, the door rules' denial windows) follow the same
    `adopt(predecessor)` and are carried by their owner."""

    def hand_over(self, successor: Any) -> None: ...

    def adopt(self, predecessor: Any) -> object: ...


CAMERA_KEY = "camera "  # + the camera id: a camera's feed in the registry

# Every field of PipelineParts is either carried (in `carried()`) or starts afresh with each build, for the reason
# given here; tests/test_carry.py fails on a field that is neither, so a new part cannot forget its state silently.
CARRIED_FIELDS = ("video", "counts", "access")
STARTS_AFRESH = {
    "actions": "the runner is rebuilt with its actions; an alert reaches exactly one runner (the after-store listener)",
    "collector": "telemetry figures are read from the current parts at each sample",
    "telemetry": "the telemetry and metrics stages hold no state of their own",
    "fault": "test-only fault injection",
    "response": "its state is the delivery's ResponseDesk (dispositions, timers, controls in the state store)",
}


@dataclass
class PipelineParts:
    video: VideoParts | None = None  # cameras, detector, chains and the video rule engine
    counts: CountsParts | None = None  # line counts and zone occupancy (daemon/counts_stages.py), with cameras
    access: AccessParts | None = None  # the door path (daemon/access_stages.py)
    actions: ActionParts | None = None  # the action runner (daemon/action_stages.py)
    response: Stages | None = None  # ticks the delivery's ResponseDesk (daemon/response_stages.py)
    collector: TelemetryCollector | None = None  # telemetry sections, read by a sample, a scrape and the page
    telemetry: Stages = field(default_factory=Stages)  # the telemetry and metrics stages
    fault: Stages = field(default_factory=Stages)  # EDGE_AGENT_FAULT (tests only)

    def stages(self) -> list[Stages]:
        """Every builder's stages in start order: the action runner first (it hears every alert the others raise;
        last to stop), the response desk's tick, then video, counts, access, telemetry and metrics, the fault
        injector."""
        built = [
            self.actions.stages if self.actions else None,
            self.response,
            self.video.stages if self.video else None,
            self.counts.stages if self.counts else None,
            self.access.stages if self.access else None,
            self.telemetry,
            self.fault,
        ]
        return [stages for stages in built if stages is not None]

    @property
    def specs(self) -> list[StageSpec]:
        return [spec for stages in self.stages() for spec in stages.specs]

    def counters(self) -> dict[str, Callable[[], int]]:
        """The builders' counters for telemetry `system.agent`."""
        return {name: read for stages in self.stages() for name, read in stages.counters.items()}

    def carried(self) -> dict[str, Carried]:
        """The registry: every part of this build whose state a reload carries, by the key its successor shares."""
        parts: dict[str, Carried] = {}
        if self.video is not None:
            parts["video rules"] = self.video.engine
            parts.update({CAMERA_KEY + camera_id: feed for camera_id, feed in self.video.feeds.items()})
        if self.counts is not None:
            parts["counts"] = self.counts.ledger  # after the rule engine, whose last frame it samples
        if self.access is not None:
            parts["access"] = self.access.service
        return parts

    def held_episodes(self) -> set[str]:
        """Start event ids of the episodes this build's rules hold open (video rules, doors)."""
        held = set(self.video.engine.open_episode_ids()) if self.video is not None else set()
        if self.access is not None:
            held |= self.access.service.rules.open_episode_ids()
        return held

    # -- what the agent's face reads ---------------------------------------------------------------
    def latest_frame(self, camera_id: str) -> Frame | None:
        """The camera's newest decoded Frame (not consumed), or None when it has none or is not running."""
        feed = self.video.feeds.get(camera_id) if self.video is not None else None
        pump = feed.pump if feed is not None else None
        return pump.source.peek() if pump is not None else None

    def sight(self, camera_id: str, occupancy_classes: Sequence[str]) -> dict | None:
        """What the camera's detector sees now (chain.py `sight`), or None when the camera does not run."""
        feed = self.video.feeds.get(camera_id) if self.video is not None else None
        return feed.chain.sight(occupancy_classes) if feed is not None else None

    def action_runner(self) -> ActionRunner | None:
        return self.actions.runner() if self.actions is not None else None

    def line_counts(self) -> dict:
        return self.video.lines() if self.video is not None else {}

    def adapter_figures(self) -> dict | None:
        """Per access adapter its figures (as telemetry `adapters`), or None without access control."""
        return self.access.adapters() if self.access is not None else None

    def door_states(self) -> dict:
        return self.access.service.rules.door_states() if self.access is not None else {}

    def figures_now(self) -> dict:
        """The telemetry sample as it would be now (CPU% baseline untouched), as JSON-ready data."""
        return self.collector.current().model_dump(mode="json") if self.collector is not None else {}

    def close(self) -> None:
        for close in reversed([close for stages in self.stages() for close in stages.closers]):
            try:
                close()
            except Exception:
                log.exception("releasing a pipeline resource failed")
