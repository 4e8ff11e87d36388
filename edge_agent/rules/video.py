"""Zone rules: intrusion, loitering, crowd, occupancy, stationary vehicle, e-bike in lift.

Each rule turns the frame's tracks into two facts for its `Lifecycle`:
`starts` (the condition is met: dwell reached, count held) and `holds` (an
episode already running still stands). Per-track memories are keyed by track
id and forgotten once the track has been gone longer than `clear_after`; the
loitering and stationary-vehicle timers of a track that vanishes are handed to
a new track starting at the same place (rules/handover.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge_agent.events import Track
from edge_agent.rules.episode import FrameContext, Lifecycle, RuleEmitter
from edge_agent.rules.geometry import Polygon
from edge_agent.rules.handover import Handover, present_ids
from edge_agent.rules.schedule import ArmingSchedule


@dataclass(slots=True)
class _Presence:
    entered: float
    last_inside: float
    track: Track
    offered: bool = False  # handed to the Handover as vanished


class DwellClock:
    """Continuous time each track has spent inside; a gap longer than `grace` restarts it.

    With a `handover`, a track that vanishes while inside offers its start, and a new
    track appearing inside claims it (pass every track of the frame as `present`).
    """

    def __init__(self, grace: float, handover: Handover | None = None):
        self.grace = grace
        self.handover = handover
        self._presence: dict[int, _Presence] = {}
        self._previous_now = float("-inf")

    def update(self, inside: Sequence[Track], now: float, present: Sequence[Track] = ()) -> None:
        for track in inside:
            presence = self._presence.get(track.track_id)
            if presence is None or now - presence.last_inside > self.grace:
                inherited = self.handover.claim(track, now) if self.handover is not None else None
                self._presence[track.track_id] = _Presence(now if inherited is None else inherited, now, track)
            else:
                presence.last_inside, presence.track = now, track
                if presence.offered and self.handover is not None:
                    self.handover.returned(track.track_id)
                    presence.offered = False
        if self.handover is not None:
            self._offer_vanished(present_ids(present))
        self._previous_now = now
        gone = [tid for tid, p in self._presence.items() if now - p.last_inside > self.grace]
        for track_id in gone:
            del self._presence[track_id]

    def dwell(self, track: Track, now: float) -> float:
        presence = self._presence.get(track.track_id)
        return 0.0 if presence is None else now - presence.entered

    def _offer_vanished(self, present: set[int]) -> None:
        """Tracks inside on the previous frame and gone from this one altogether (not just out of the zone)."""
        for track_id, presence in self._presence.items():
            if not presence.offered and track_id not in present and presence.last_inside == self._previous_now:
                track = presence.track
                self.handover.vanished(track_id, track.class_name, track.box, presence.entered, presence.last_inside)
                presence.offered = True


class ZoneRule:
    """Filters tracks by class, score, area and zone; subclasses decide what the count means."""

    def __init__(self, config, zone: Polygon, emitter: RuleEmitter, schedule: ArmingSchedule):
        self.config = config
        self.zone = zone
        self.emitter = emitter
        self.schedule = schedule
        self.classes = frozenset(config.classes)
        self.lifecycle = Lifecycle(emitter, zone=zone.name, clear_after=config.clear_after, cooldown=config.cooldown)

    @property
    def name(self) -> str:
        return self.config.name

    def qualifies(self, track: Track) -> bool:
        return (
            track.class_name in self.classes
            and track.score >= self.config.min_score
            and track.box.area >= self.config.min_area
        )

    def inside(self, tracks: Sequence[Track]) -> list[Track]:
        return [t for t in tracks if self.qualifies(t) and self.zone.contains(*t.box.foot)]

    def update(self, ctx: FrameContext, tracks: Sequence[Track]) -> None:
        raise NotImplementedError

    def finish(self, ctx: FrameContext, reason: str) -> None:
        self.lifecycle.finish(ctx, reason)


class IntrusionRule(ZoneRule):
    """Someone entered: starts once a track has stayed `min_dwell` s; ends when the zone is empty."""

    def __init__(self, *args):
        super().__init__(*args)
        self.clock = DwellClock(self.config.clear_after)

    def update(self, ctx: FrameContext, tracks: Sequence[Track]) -> None:
        inside = self.inside(tracks)
        self.clock.update(inside, ctx.now)
        dwellers = [t for t in inside if self.clock.dwell(t, ctx.now) >= self.config.min_dwell]
        self.lifecycle.update(
            ctx,
            starts=bool(dwellers),
            holds=bool(inside),
            objects=inside,
            count=len(inside),
            armed=self.schedule.armed(ctx.wall),
            facts={"min_dwell_s": self.config.min_dwell},
        )


class LoiteringRule(ZoneRule):
    """Someone stayed longer than `max_dwell` s; ends when no loiterer is left."""

    def __init__(self, *args):
        super().__init__(*args)
        self.clock = DwellClock(self.config.clear_after, Handover(self.config.handover_window))

    def update(self, ctx: FrameContext, tracks: Sequence[Track]) -> None:
        inside = self.inside(tracks)
        self.clock.update(inside, ctx.now, tracks)
        loiterers = [t for t in inside if self.clock.dwell(t, ctx.now) >= self.config.max_dwell]
        longest = max((self.clock.dwell(t, ctx.now) for t in loiterers), default=0.0)
        self.lifecycle.update(
            ctx,
            starts=bool(loiterers),
            holds=bool(loiterers),
            objects=loiterers,
            count=len(loiterers),
            armed=self.schedule.armed(ctx.wall),
            facts={"max_dwell_s": self.config.max_dwell, "dwell_s": round(longest, 1)},
        )


class _HeldCount(ZoneRule):
    """A count condition that must hold `hold` s to start and stay off `clear_after` s to end.

    A drop shorter than `clear_after` (someone missed by the detector for a frame or
    two) neither ends an episode nor restarts the hold.
    """

    def __init__(self, *args):
        super().__init__(*args)
        self._since: float | None = None
        self._last_over = float("-inf")

    def over(self, count: int) -> bool:
        raise NotImplementedError

    def still_over(self, count: int) -> bool:
        return self.over(count)

    def facts(self) -> dict:
        return {}

    def update(self, ctx: FrameContext, tracks: Sequence[Track]) -> None:
        inside = self.inside(tracks)
        count = len(inside)
        if self.over(count):
            self._since = ctx.now if self._since is None else self._since
            self._last_over = ctx.now
        elif ctx.now - self._last_over > self.config.clear_after:
            self._since = None
        held = self._since is not None and ctx.now - self._since >= self.config.hold and self.over(count)
        self.lifecycle.update(
            ctx,
            starts=held,
            holds=self.still_over(count),
            objects=inside,
            count=count,
            armed=self.schedule.armed(ctx.wall),
            facts=self.facts(),
        )


class CrowdRule(_HeldCount):
    def over(self, count: int) -> bool:
        return count >= self.config.min_count

    def still_over(self, count: int) -> bool:
        end_below = self.config.end_below if self.config.end_below is not None else self.config.min_count
        return count >= end_below

    def facts(self) -> dict:
        return {"min_count": self.config.min_count, "hold_s": self.config.hold}


class OccupancyRule(_HeldCount):
    def over(self, count: int) -> bool:
        return count > self.config.capacity

    def facts(self) -> dict:
        return {"capacity": self.config.capacity}


@dataclass(slots=True)
class _Anchor:
    x: float
    y: float
    since: float
    seen: float
    track: Track
    offered: bool = False  # handed to the Handover as vanished


class StationaryVehicleRule(ZoneRule):
    """A vehicle whose foot point stays within `max_movement` for `max_stationary` s.

    A vehicle hidden long enough to lose its track keeps its time: see rules/handover.py.
    """

    def __init__(self, *args):
        super().__init__(*args)
        self._anchors: dict[int, _Anchor] = {}
        self._handover = Handover(self.config.handover_window)
        self._previous_now = float("-inf")

    def update(self, ctx: FrameContext, tracks: Sequence[Track]) -> None:
        inside = self.inside(tracks)
        standing = [t for t in inside if self._standing_for(t, ctx.now) >= self.config.max_stationary]
        self._offer_vanished(present_ids(tracks))
        self._previous_now = ctx.now
        stale = [tid for tid, a in self._anchors.items() if ctx.now - a.seen > self.config.clear_after]
        for track_id in stale:
            del self._anchors[track_id]
        longest = max((ctx.now - self._anchors[t.track_id].since for t in standing), default=0.0)
        self.lifecycle.update(
            ctx,
            starts=bool(standing),
            holds=bool(standing),
            objects=standing,
            count=len(standing),
            armed=self.schedule.armed(ctx.wall),
            facts={"max_stationary_s": self.config.max_stationary, "stationary_s": round(longest, 1)},
        )

    def _standing_for(self, track: Track, now: float) -> float:
        x, y = track.box.foot
        anchor = self._anchors.get(track.track_id)
        if anchor is not None and anchor.offered:  # the track itself is back: its own time goes on
            self._handover.returned(track.track_id)
            anchor.offered = False
        if anchor is None:
            inherited = self._handover.claim(track, now)
            anchor = self._anchors[track.track_id] = _Anchor(x, y, now if inherited is None else inherited, now, track)
        elif max(abs(x - anchor.x), abs(y - anchor.y)) > self.config.max_movement:
            anchor = self._anchors[track.track_id] = _Anchor(x, y, now, now, track)
        anchor.seen, anchor.track = now, track
        return now - anchor.since

    def _offer_vanished(self, present: set[int]) -> None:
        for track_id, anchor in self._anchors.items():
            if not anchor.offered and track_id not in present and anchor.seen == self._previous_now:
                box = anchor.track.box
                self._handover.vanished(track_id, anchor.track.class_name, box, anchor.since, anchor.seen)
                anchor.offered = True


class EbikeInLiftRule(ZoneRule):
    """A bicycle or motorcycle in the lift zone for `min_consecutive` detector runs in a row."""

    def __init__(self, *args):
        super().__init__(*args)
        self._streaks: dict[int, int] = {}

    def update(self, ctx: FrameContext, tracks: Sequence[Track]) -> None:
        inside = self.inside(tracks)
        self._streaks = {t.track_id: self._streaks.get(t.track_id, 0) + 1 for t in inside}
        confirmed = [t for t in inside if self._streaks[t.track_id] >= self.config.min_consecutive]
        self.lifecycle.update(
            ctx,
            starts=bool(confirmed),
            holds=bool(inside),
            objects=inside,
            count=len(inside),
            armed=self.schedule.armed(ctx.wall),
            facts={"min_consecutive": self.config.min_consecutive},
        )


ZONE_RULES = {
    "intrusion": IntrusionRule,
    "loitering": LoiteringRule,
    "crowd": CrowdRule,
    "occupancy": OccupancyRule,
    "stationary_vehicle": StationaryVehicleRule,
    "ebike_in_lift": EbikeInLiftRule,
}
