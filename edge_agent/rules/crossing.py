"""Line-crossing alerts. Counting happens in the engine's `LineCounter`s whether or not a rule alerts."""

from __future__ import annotations

from edge_agent.events import AlertDetails
from edge_agent.rules.episode import FrameContext, RuleEmitter, describe_objects
from edge_agent.rules.geometry import Crossing
from edge_agent.rules.schedule import ArmingSchedule


class LineCrossingRule:
    """An instant alert per crossing in the chosen direction; one passage (a person's walk, even when the track
    broke: rules/stitching.py) alerts at most once per cooldown."""

    def __init__(self, config, emitter: RuleEmitter, schedule: ArmingSchedule):
        self.config = config
        self.emitter = emitter
        self.schedule = schedule
        self.classes = frozenset(config.classes)
        self._last_alert: dict[int, float] = {}

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def line(self) -> str:
        return self.config.line

    def wants(self, crossing: Crossing) -> bool:
        track = crossing.track
        wanted = self.config.alert_direction
        return (
            wanted in (crossing.direction, "both")
            and track.class_name in self.classes
            and track.score >= self.config.min_score
            and track.box.area >= self.config.min_area
        )

    def on_crossing(self, ctx: FrameContext, crossing: Crossing, counts: dict[str, int]) -> None:
        if not self.wants(crossing) or not self.schedule.armed(ctx.wall):
            return
        passage = crossing.passage_id
        last = self._last_alert.get(passage)
        if last is not None and ctx.now - last < self.config.cooldown:
            self.emitter.stats.add("suppressed")
            return
        self._last_alert[passage] = ctx.now
        self._forget(ctx.now)
        details = AlertDetails(
            line=self.config.line,
            direction=crossing.direction,
            count=counts[crossing.direction],
            message=f"{crossing.track.class_name} crossed {self.config.line} ({crossing.direction})",
            extra={"in": counts["in"], "out": counts["out"]},
            **describe_objects([crossing.track], crossing.track.class_name),
        )
        self.emitter.emit("instant", ctx.wall, details)

    def finish(self, ctx: FrameContext, reason: str) -> None:
        """Crossings are instant: nothing stays open."""

    def _forget(self, now: float) -> None:
        if len(self._last_alert) > 256:
            self._last_alert = {tid: t for tid, t in self._last_alert.items() if now - t < self.config.cooldown}
