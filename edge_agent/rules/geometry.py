"""Zones and directed lines in normalized image coordinates; objects are placed by their foot point.

Line crossing uses a hysteresis band: a foot point within `margin` of the line
keeps the side it had, so a person standing on the line, or a box bottom
jittering by a few pixels, never counts. A crossing is the move from one
confirmed side to the other whose path passes through the segment itself
(walking around the end of a line is not crossing it).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from edge_agent.config.geometry import LineConfig, ZoneConfig
from edge_agent.events import Track
from edge_agent.rules.stitching import Passage

IN, OUT, UNKNOWN = 1, -1, 0


class Polygon:
    """A closed polygon; `contains` is the even-odd ray test (points on an edge may go either way)."""

    def __init__(self, name: str, points: Sequence[Sequence[float]]):
        if len(points) < 3:
            raise ValueError(f"zone {name!r} needs at least 3 points, found {len(points)}")
        self.name = name
        self.points = [(float(x), float(y)) for x, y in points]
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        self._bounds = (min(xs), min(ys), max(xs), max(ys))
        self._edges = list(zip(self.points, self.points[1:] + self.points[:1]))

    @classmethod
    def from_config(cls, name: str, config: ZoneConfig) -> Polygon:
        return cls(name, config.points)

    def contains(self, x: float, y: float) -> bool:
        x1, y1, x2, y2 = self._bounds
        if x < x1 or x > x2 or y < y1 or y > y2:
            return False
        inside = False
        for (ax, ay), (bx, by) in self._edges:
            if (ay > y) != (by > y):
                cross_x = ax + (y - ay) * (bx - ax) / (by - ay)
                if x < cross_x:
                    inside = not inside
        return inside


class DirectedLine:
    """A segment with an inward side. `signed_distance` > 0 on the in side (normalized units)."""

    def __init__(
        self, name: str, a: Sequence[float], b: Sequence[float], in_side: Sequence[float], margin: float = 0.02
    ):
        self.name = name
        self.a = (float(a[0]), float(a[1]))
        self.b = (float(b[0]), float(b[1]))
        self.margin = float(margin)
        dx, dy = self.b[0] - self.a[0], self.b[1] - self.a[1]
        self._length = math.hypot(dx, dy)
        if self._length == 0:
            raise ValueError(f"line {name!r}: the two points must differ")
        self._dir = (dx / self._length, dy / self._length)
        raw = self._raw_distance(float(in_side[0]), float(in_side[1]))
        if raw == 0:
            raise ValueError(f"line {name!r}: in_side lies on the line")
        self._sign = 1.0 if raw > 0 else -1.0

    @classmethod
    def from_config(cls, name: str, config: LineConfig) -> DirectedLine:
        return cls(name, config.points[0], config.points[1], config.in_side, config.margin)

    def _raw_distance(self, x: float, y: float) -> float:
        return self._dir[0] * (y - self.a[1]) - self._dir[1] * (x - self.a[0])

    def signed_distance(self, x: float, y: float) -> float:
        return self._sign * self._raw_distance(x, y)

    def side(self, x: float, y: float) -> int:
        """IN or OUT outside the hysteresis band, UNKNOWN inside it."""
        distance = self.signed_distance(x, y)
        if distance > self.margin:
            return IN
        if distance < -self.margin:
            return OUT
        return UNKNOWN

    def passes_through(self, start: tuple[float, float], end: tuple[float, float]) -> bool:
        """Whether the path start→end meets the segment (extended by the margin at both ends)."""
        d0 = self._raw_distance(*start)
        d1 = self._raw_distance(*end)
        if d0 == d1 or (d0 > 0) == (d1 > 0):
            return False
        fraction = d0 / (d0 - d1)
        x = start[0] + fraction * (end[0] - start[0])
        y = start[1] + fraction * (end[1] - start[1])
        along = (x - self.a[0]) * self._dir[0] + (y - self.a[1]) * self._dir[1]
        return -self.margin <= along <= self._length + self.margin


@dataclass(slots=True)
class _SideMemory:
    side: int  # last confirmed side
    point: tuple[float, float]  # last foot point seen on it
    seen_at: float
    track: Track  # the passage's latest fragment: a crossing decided when it vanishes is its crossing
    pending_side: int = UNKNOWN  # a side change waiting for min_frames observations
    pending_count: int = 0
    pending_point: tuple[float, float] = (0.0, 0.0)  # the last foot point on the pending side


@dataclass(frozen=True, slots=True)
class Crossing:
    track: Track
    direction: str  # "in" | "out"
    passage: int = 0  # the passage (rules/stitching.py) the track belongs to; 0: the track's own id

    @property
    def passage_id(self) -> int:
        return self.passage or self.track.track_id


class LineCounter:
    """Per-passage side memory and in/out counters for one line of one camera.

    A passage is one person's walk, which the tracker may split into fragments (`passages` maps track ids to
    passage ids, rules/stitching.py); without it every track is its own passage. A side change counts once it
    has held for `min_frames` detector runs, or, when the passage vanishes (`coast` s unseen) or the source
    ends (`settle`), if the last sightings were on the new side: the side where a passage was last seen against
    the side it was on before, not only what the last frames happened to show. Every passage's side is
    remembered (rules may watch other classes), but only `classes` are counted.

    `update` is called from the camera's thread; `counts` may be read from any thread.
    """

    def __init__(
        self,
        line: DirectedLine,
        classes: Iterable[str],
        min_frames: int = 1,
        forget_after: float = 60.0,
        coast: float = 3.0,
    ):
        self.line = line
        self.classes = frozenset(classes)
        self.min_frames = min_frames
        self.forget_after = forget_after
        self.coast = coast
        self._memory: dict[int, _SideMemory] = {}
        self._counts = {"in": 0, "out": 0}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, name: str, config: LineConfig) -> LineCounter:
        return cls(DirectedLine.from_config(name, config), config.classes, config.min_frames)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def counted(self, crossing: Crossing) -> bool:
        return crossing.track.class_name in self.classes

    def update(
        self, tracks: Iterable[Track], now: float, passages: Mapping[int, Passage] | None = None
    ) -> list[Crossing]:
        """Crossings of every class this frame (including passages that vanished on the far side); only `classes`
        go into the counters. Without `passages` each track is its own passage."""
        crossings = []
        for track in tracks:
            passage = passages[track.track_id] if passages else Passage(track.track_id)
            direction = self._observe(passage, track, now)
            if direction is not None:
                crossings.append(Crossing(track, direction, passage.id))
        crossings += self._settle(lambda memory: now - memory.seen_at > self.coast)
        self._add(crossings)
        self._forget(now)
        return crossings

    def settle(self) -> list[Crossing]:
        """The source ended: every passage's pending side change is decided by its last sightings."""
        crossings = self._settle(lambda memory: True)
        self._add(crossings)
        return crossings

    def _add(self, crossings: list[Crossing]) -> None:
        counted = [c for c in crossings if self.counted(c)]
        if counted:
            with self._lock:
                for crossing in counted:
                    self._counts[crossing.direction] += 1

    def _settle(self, gone) -> list[Crossing]:
        crossings = []
        for passage, memory in self._memory.items():
            if memory.pending_count == 0 or not gone(memory):
                continue
            direction = self._commit(memory, memory.pending_point)
            if direction is not None:
                crossings.append(Crossing(memory.track, direction, passage))
        return crossings

    def _observe(self, passage: Passage, track: Track, now: float) -> str | None:
        memory = self._memory.get(passage.id)
        if memory is not None and memory.track.track_id == track.track_id:
            memory.seen_at, memory.track = now, track
            return self._step(memory, track.box.foot)
        # First sight of a track (just confirmed, or a fragment continuing a passage): replay the path the
        # tracker already followed (what is new to the passage), so someone confirmed a step after the line counts.
        since = memory.seen_at if memory is not None else passage.since
        direction = None
        for t, x, y in list(track.foot_points) or [(now, *track.box.foot)]:
            if t < since:
                continue
            if memory is None:
                side = self.line.side(x, y)
                if side != UNKNOWN:
                    memory = self._memory[passage.id] = _SideMemory(side, (x, y), now, track)
            else:
                direction = self._step(memory, (x, y)) or direction
        if memory is not None:
            memory.seen_at, memory.track = now, track
        return direction

    def _step(self, memory: _SideMemory, foot: tuple[float, float]) -> str | None:
        side = self.line.side(*foot)
        if side == UNKNOWN:
            return None  # inside the band: keep the side and any pending change
        if side == memory.side:
            memory.point, memory.pending_side, memory.pending_count = foot, UNKNOWN, 0
            return None
        if side != memory.pending_side:
            memory.pending_side, memory.pending_count = side, 0
        memory.pending_count += 1
        memory.pending_point = foot
        if memory.pending_count < self.min_frames:
            return None
        return self._commit(memory, foot)

    def _commit(self, memory: _SideMemory, foot: tuple[float, float]) -> str | None:
        """The pending side becomes the passage's side; the direction when the path went through the segment."""
        side = memory.pending_side
        crossed = self.line.passes_through(memory.point, foot)
        memory.side, memory.point, memory.pending_side, memory.pending_count = side, foot, UNKNOWN, 0
        if not crossed:
            return None
        return "in" if side == IN else "out"

    def _forget(self, now: float) -> None:
        if len(self._memory) < 64:
            return
        stale = [key for key, m in self._memory.items() if now - m.seen_at > self.forget_after]
        for key in stale:
            del self._memory[key]
