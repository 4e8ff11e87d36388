"""What every rule shares: the per-frame context, alert emission, and the start/end lifecycle.

A condition (someone in the zone, the hall crowded) becomes one *episode*:
a start alert when it begins, an end alert with duration and peak count when
it has been false for `clear_after` seconds, linked by `related_event_id`.
After an end, a new episode may not start for `cooldown` seconds; episodes
that would have started meanwhile are counted as suppressed. Durations use
the frame's monotonic time, so replay at any speed keeps clip time.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edge_agent.events import Alert, AlertDetails, AlertFactory, AlertSink, BoxOut, Severity, Track

MAX_OBJECTS_IN_ALERT = 20


@dataclass(frozen=True, slots=True)
class FrameContext:
    """When and where the rules are being evaluated."""

    camera_id: str
    seq: int
    wall: float  # captured_at: what alerts report
    now: float  # monotonic: what durations use


@dataclass(slots=True)
class RuleStats:
    """Per-rule counters for `replay --report` and telemetry."""

    start: int = 0
    end: int = 0
    instant: int = 0
    suppressed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {"start": self.start, "end": self.end, "instant": self.instant, "suppressed": self.suppressed}


def box_out(track: Track) -> BoxOut:
    return BoxOut(
        track_id=track.track_id,
        class_name=track.class_name,
        confidence=min(1.0, max(0.0, float(track.score))),
        box=[min(1.0, max(0.0, v)) for v in track.box.as_list()],
    )


def describe_objects(tracks: Sequence[Track], fallback_class: str) -> dict[str, Any]:
    """The boxes/track/class fields of an alert's details for the objects involved."""
    shown = list(tracks)[:MAX_OBJECTS_IN_ALERT]
    classes = Counter(t.class_name for t in tracks)
    return {
        "object_class": classes.most_common(1)[0][0] if classes else fallback_class,
        "track_ids": sorted(t.track_id for t in tracks),
        "objects": [box_out(t) for t in shown],
        "confidence": round(min(1.0, max((float(t.score) for t in tracks), default=0.0)), 4) if tracks else None,
    }


class RuleEmitter:
    """Builds a rule's alerts through the factory, sends them to the sink, and counts them."""

    def __init__(self, rule, camera_id: str, factory: AlertFactory, sink: AlertSink):
        self.rule = rule
        self.camera_id = camera_id
        self.factory = factory
        self.sink = sink
        self.stats = RuleStats()

    def emit(
        self,
        phase: str,
        started_at: float,
        details: AlertDetails,
        *,
        ended_at: float | None = None,
        related_event_id: str | None = None,
        severity: Severity | None = None,
    ) -> Alert:
        alert = self.factory.make(
            self.rule.type,
            severity or self.rule.severity,
            ("camera", self.camera_id),
            started_at=started_at,
            ended_at=ended_at,
            phase=phase,
            rule=self.rule.name,
            related_event_id=related_event_id,
            details=details,
        )
        self.stats.add(phase)
        self.sink.emit(alert)
        return alert


class Lifecycle:
    """One condition's episodes: start, hold, end, cooldown. Fed once per processed frame."""

    def __init__(self, emitter: RuleEmitter, *, zone: str | None, clear_after: float, cooldown: float):
        self.emitter = emitter
        self.zone = zone
        self.clear_after = clear_after
        self.cooldown = cooldown
        self._start_alert: Alert | None = None
        self._start_now = self._start_wall = 0.0
        self._last_true_now = self._last_true_wall = 0.0
        self._peak = 0
        self._track_ids: set[int] = set()
        self._cooldown_until = float("-inf")
        self._suppressing = False

    @property
    def active(self) -> bool:
        return self._start_alert is not None

    @property
    def start_event_id(self) -> str | None:
        return self._start_alert.event_id if self._start_alert is not None else None

    def update(
        self,
        ctx: FrameContext,
        *,
        starts: bool,
        holds: bool,
        objects: Sequence[Track],
        count: int,
        armed: bool,
        facts: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        """`starts`: the condition is met to begin an episode; `holds`: an active one still stands.
        `message`: the start alert's summary, when the rule has a better one than the count."""
        if self.active:
            if not armed:
                self.finish(ctx, reason="disarmed")
            elif holds:
                self._last_true_now, self._last_true_wall = ctx.now, ctx.wall
                self._peak = max(self._peak, count)
                self._track_ids.update(t.track_id for t in objects)
            elif ctx.now - self._last_true_now >= self.clear_after:
                self.finish(ctx)
            return
        if not (starts and armed):
            self._suppressing = False
            return
        if ctx.now < self._cooldown_until:
            if not self._suppressing:
                self.emitter.stats.add("suppressed")
                self._suppressing = True
            return
        self._begin(ctx, objects, count, facts or {}, message)

    def _begin(
        self, ctx: FrameContext, objects: Sequence[Track], count: int, facts: dict[str, Any], message: str | None
    ) -> None:
        rule = self.emitter.rule
        details = AlertDetails(
            count=count,
            zone=self.zone,
            message=message
            or f"{rule.type.replace('_', ' ')} in {self.zone or self.emitter.camera_id}: {count} object(s)",
            extra=facts or None,
            **describe_objects(objects, rule.classes[0]),
        )
        self._start_alert = self.emitter.emit("start", ctx.wall, details)
        self._start_now, self._start_wall = ctx.now, ctx.wall
        self._last_true_now, self._last_true_wall = ctx.now, ctx.wall
        self._peak = count
        self._track_ids = {t.track_id for t in objects}
        self._suppressing = False

    def finish(self, ctx: FrameContext, reason: str | None = None) -> None:
        """End the active episode (if any) as of the last frame the condition held."""
        if self._start_alert is None:
            return
        rule = self.emitter.rule
        if reason is None:
            ended_now, ended_wall = self._last_true_now, self._last_true_wall
        else:  # disarmed or source ended: the condition still stood until now
            ended_now, ended_wall = ctx.now, ctx.wall
        duration = max(0.0, ended_now - self._start_now)
        details = AlertDetails(
            object_class=self._start_alert.details.object_class,
            peak_count=self._peak,
            duration_s=round(duration, 3),
            zone=self.zone,
            track_ids=sorted(self._track_ids),
            message=f"{rule.type.replace('_', ' ')} in {self.zone or self.emitter.camera_id} ended after "
            f"{duration:.1f} s",
            extra={"reason": reason} if reason else None,
        )
        self.emitter.emit(
            "end",
            self._start_wall,
            details,
            ended_at=ended_wall,
            related_event_id=self._start_alert.event_id,
            # ended by the agent (disarmed, camera stopped, source ended), not by the scene: info (docs/mqtt-api.md)
            severity=Severity.info if reason else None,
        )
        self._start_alert = None
        self._cooldown_until = ctx.now + self.cooldown
