"""The rule engine: per camera, the zones, counting lines and rules fed with each frame's tracks.

Each camera's state is touched only by `process` calls for that camera, so one
engine serves several camera threads as long as each camera is fed from one
thread. Counters and per-rule figures may be read from any thread.
Crossing listeners (tailgating fusion) are called on the camera's thread and
must not block; an exception in one is logged and counted, never propagated.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence

from edge_agent.config.cameras import CameraConfig
from edge_agent.events import AlertFactory, AlertSink, CrossingListener, FrameDetections, LineCrossing, Track
from edge_agent.rules.crossing import LineCrossingRule
from edge_agent.rules.episode import FrameContext, RuleEmitter
from edge_agent.rules.forecast import CrowdForecastRule
from edge_agent.rules.geometry import Crossing, LineCounter, Polygon
from edge_agent.rules.schedule import ArmingSchedule
from edge_agent.rules.stitching import FragmentStitcher
from edge_agent.rules.video import ZONE_RULES

log = logging.getLogger(__name__)

RULES_BY_TYPE = {**ZONE_RULES, "crowd.forecast": CrowdForecastRule}  # forecast.py builds on video.py's ZoneRule


class CameraRules:
    """One camera's zones, line counters and rules."""

    def __init__(
        self,
        camera: CameraConfig,
        rules: Iterable,
        factory: AlertFactory,
        sink: AlertSink,
        timezone: str,
        notify: Callable[[LineCrossing], None],
    ):
        self.camera = camera
        self.timezone = timezone
        self.zones = {name: Polygon.from_config(name, zone) for name, zone in camera.zones.items()}
        self.counters = {name: LineCounter.from_config(name, line) for name, line in camera.lines.items()}
        self.stitcher = FragmentStitcher()  # one passage per person across track fragments (the counters' key)
        self._notify = notify
        self.zone_rules = []
        self.line_rules: dict[str, list[LineCrossingRule]] = {name: [] for name in camera.lines}
        for rule in rules:
            emitter = RuleEmitter(rule, camera.id, factory, sink)
            schedule = ArmingSchedule(rule.schedule, timezone)
            if rule.type == "line_crossing":
                self.line_rules[rule.line].append(LineCrossingRule(rule, emitter, schedule))
            else:
                self.zone_rules.append(RULES_BY_TYPE[rule.type](rule, self.zones[rule.zone], emitter, schedule))
        self.last_context: FrameContext | None = None
        self.last_tracks: Sequence[Track] = ()  # replaced, never mutated: read from other threads

    @property
    def rules(self) -> list:
        return [*self.zone_rules, *(r for rules in self.line_rules.values() for r in rules)]

    def process(self, frame: FrameDetections, tracks: Sequence[Track]) -> None:
        ctx = FrameContext(frame.camera_id, frame.seq, frame.captured_at, frame.monotonic)
        self.last_context = ctx
        self.last_tracks = tracks
        for rule in self.zone_rules:
            rule.update(ctx, tracks)
        passages = self.stitcher.passages(tracks, ctx.now)
        for name, counter in self.counters.items():
            self._crossed(ctx, name, counter, counter.update(tracks, ctx.now, passages))

    def _crossed(self, ctx: FrameContext, name: str, counter: LineCounter, crossings: list[Crossing]) -> None:
        for crossing in crossings:
            counts = counter.counts()
            if counter.counted(crossing):
                self._notify(
                    LineCrossing(
                        camera_id=ctx.camera_id,
                        line=name,
                        track_id=crossing.track.track_id,
                        class_name=crossing.track.class_name,
                        direction=crossing.direction,
                        at=ctx.wall,
                        monotonic=ctx.now,
                    )
                )
            for rule in self.line_rules[name]:
                rule.on_crossing(ctx, crossing, counts)

    def adopt(self, predecessor: CameraRules) -> list[str]:
        """Take over the predecessor's state where the config did not change: counters of identical lines, rules
        whose config and zone (and the site's time zone) are identical (their episodes, dwell clocks, cooldowns carry
        on). Returns the rule names taken over; what is not taken over is dropped, and its open episodes are ended by
        the caller."""
        kept = []
        if self.camera.zones != predecessor.camera.zones or self.timezone != predecessor.timezone:
            old_rules: dict = {}
        else:
            old_rules = {rule.name: rule for rule in predecessor.rules}
        for name, counter in predecessor.counters.items():
            if name in self.counters and self.camera.lines.get(name) == predecessor.camera.lines.get(name):
                self.counters[name] = counter
        self.stitcher = predecessor.stitcher  # the passages the kept counters remember go on
        for rules in (self.zone_rules, *self.line_rules.values()):
            for index, rule in enumerate(rules):
                previous = old_rules.get(rule.name)
                if previous is not None and type(previous) is type(rule) and previous.config == rule.config:
                    previous.emitter.factory, previous.emitter.sink = rule.emitter.factory, rule.emitter.sink
                    rules[index] = previous
                    kept.append(rule.name)
        self.last_context, self.last_tracks = predecessor.last_context, predecessor.last_tracks
        return kept

    def open_episode_ids(self) -> set[str]:
        """Event ids of the start alerts whose episodes this camera's rules hold open."""
        return {rule.lifecycle.start_event_id for rule in self.zone_rules if rule.lifecycle.start_event_id}

    def zone_occupancy(self, classes: Iterable[str]) -> dict[str, int]:
        """{zone: objects of `classes` whose foot is inside} as of the last processed frame."""
        wanted = frozenset(classes)
        feet = [t.box.foot for t in self.last_tracks if t.class_name in wanted]
        return {name: sum(zone.contains(*foot) for foot in feet) for name, zone in self.zones.items()}

    def finish(self, reason: str, wall: float | None = None, monotonic: float | None = None) -> None:
        """End every open episode (the source ended or the camera is being stopped)."""
        last = self.last_context
        if last is None:
            return
        ctx = FrameContext(
            last.camera_id, last.seq, last.wall if wall is None else wall, last.now if monotonic is None else monotonic
        )
        if reason == "source_ended":  # the clip is over, so is every passage: decide the pending ones
            for name, counter in self.counters.items():
                self._crossed(ctx, name, counter, counter.settle())
        for rule in self.rules:
            rule.finish(ctx, reason)


class RuleEngine:
    """All cameras' rules. `process(frame_detections, tracks)` once per tracked frame."""

    def __init__(
        self,
        cameras: Iterable[CameraConfig],
        rules: Iterable,
        factory: AlertFactory,
        sink: AlertSink,
        timezone: str = "UTC",
    ):
        rules = [r for r in rules if r.enabled]
        self.timezone = timezone
        self._handed_over = False  # a reload took this engine's episodes (hand_over)
        self._listeners: tuple[CrossingListener, ...] = ()
        self._listener_lock = threading.Lock()
        self.listener_errors = 0
        self.cameras: dict[str, CameraRules] = {}
        for camera in cameras:
            mine = [r for r in rules if r.camera == camera.id]
            self.cameras[camera.id] = CameraRules(camera, mine, factory, sink, timezone, self._notify)

    @classmethod
    def from_config(
        cls, config, factory: AlertFactory, sink: AlertSink, camera_ids: Iterable[str] | None = None
    ) -> RuleEngine:
        """From an AgentConfig; `camera_ids` limits it to some cameras (replay of one camera)."""
        wanted = None if camera_ids is None else set(camera_ids)
        cameras = [c for c in config.cameras if wanted is None or c.id in wanted]
        return cls(cameras, config.rules, factory, sink, config.device.timezone)

    def camera(self, camera_id: str) -> CameraRules:
        try:
            return self.cameras[camera_id]
        except KeyError:
            raise KeyError(f"the rule engine has no camera {camera_id!r} (known: {sorted(self.cameras)})") from None

    def process(self, frame: FrameDetections, tracks: Sequence[Track]) -> None:
        self.camera(frame.camera_id).process(frame, tracks)

    def finish(self, camera_id: str | None = None, reason: str = "source_ended") -> None:
        """End open episodes of one camera (or all) as of their last processed frame; after `hand_over`, nothing:
        the episodes belong to the successor, or the reload ends them (`config_changed`)."""
        if self._handed_over:
            return
        targets = self.cameras.values() if camera_id is None else [self.camera(camera_id)]
        for camera in targets:
            camera.finish(reason)

    # -- reloads (the Carried protocol of daemon/parts.py) -------------------------------------------
    def hand_over(self, successor: RuleEngine | None) -> None:
        """A reload replaces this engine (`successor`: the next build's, or None when it has no cameras). From now on
        stopping a camera does not end its episodes: the successor adopts them, or the reload ends them."""
        self._handed_over = True

    def adopt(self, predecessor: RuleEngine) -> dict[str, list[str]]:
        """Take over the predecessor's per-camera state where the config allows (see CameraRules.adopt).

        Returns {camera: rule names kept}. Episodes of what was not kept stay open in the old
        objects; the daemon ends them (`config_changed`) by comparing the ledger with
        `open_episode_ids()`.
        """
        return {
            camera_id: rules.adopt(predecessor.cameras[camera_id])
            for camera_id, rules in self.cameras.items()
            if camera_id in predecessor.cameras
        }

    def open_episode_ids(self) -> set[str]:
        return set().union(*(camera.open_episode_ids() for camera in self.cameras.values()))

    def add_crossing_listener(self, listener: CrossingListener) -> None:
        with self._listener_lock:
            self._listeners = (*self._listeners, listener)

    def _notify(self, crossing: LineCrossing) -> None:
        for listener in self._listeners:
            try:
                listener(crossing)
            except Exception:  # a subscriber's bug must not stop the camera
                self.listener_errors += 1
                log.exception("crossing listener %r failed on %s/%s", listener, crossing.camera_id, crossing.line)

    def line_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """{camera: {line: {"in": n, "out": n}}} for telemetry and reports."""
        return {cid: {name: c.counts() for name, c in cam.counters.items()} for cid, cam in self.cameras.items()}

    def zone_occupancy(self, classes: Iterable[str]) -> dict[str, dict[str, int]]:
        """{camera: {zone: n}}: objects of `classes` in each zone as of each camera's last processed frame."""
        return {cid: cam.zone_occupancy(classes) for cid, cam in self.cameras.items()}

    def rule_counts(self) -> dict[str, dict[str, int]]:
        """{rule name: {"start", "end", "instant", "suppressed"}}."""
        return {rule.name: rule.emitter.stats.as_dict() for cam in self.cameras.values() for rule in cam.rules}
