"""One passage per person even when the track breaks: fragments of one walk stitched under one passage id.

The tracker loses a person behind another, in a gap of detections, or when the box changes shape, and starts a
new id a moment later. Counted by track id, the crossing then falls between two tracks that each stayed on their
own side: nobody crossed. `FragmentStitcher` gives every track a passage id; a new track takes over the passage
of a track of the same class that vanished at most `window` s before it started, when its first foot point is
where the vanished one was heading (its last foot point moved on at its last velocity, within `reach`: the larger
of `MIN_REACH` and `REACH_PER_HEIGHT` box heights). The line counters key their side memory by passage, so the
crossing counts once, whichever fragment is on which side, and the line rule's cooldown follows the passage.
The same spirit as the loitering timer hand-over (handover.py), with the motion added because people at a line
walk, they do not stand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from edge_agent.events import Track

MIN_REACH = 0.05  # normalized: a new box's foot point this close to the prediction is the same person
REACH_PER_HEIGHT = 0.35  # or within this many of the vanished box's heights (near people have tall boxes)
MAX_EXTRAPOLATION = 1.0  # seconds of walking the prediction assumes at most
VELOCITY_SPAN = 1.0  # seconds of foot points the walking velocity is measured over
FORGET_AFTER = 60.0  # seconds a vanished track's passage is remembered (as long as LineCounter's side memory)


@dataclass(frozen=True, slots=True)
class Passage:
    """A track's passage: `id` is shared by the fragments of one walk; `since` is the clip time from which the
    track's own path belongs to it (a track that came back after its passage went on without it starts anew)."""

    id: int
    since: float = float("-inf")


@dataclass(slots=True)
class _Seen:
    passage: Passage
    track: Track  # the tracker's own object: as of its last match (where it was, how it moved)
    last_seen: float
    handed_over: bool = False  # a later track took the passage over; if this one returns it starts a new one


class FragmentStitcher:
    """Track id -> passage for one camera; fed each frame's reported tracks, in order.

    A passage is held by one track at a time, and by a chain of tracks one after the other: a track whose passage
    was taken over and that comes back (the tracker found it again) gets a new passage from that moment, so two
    tracks never alternate on one passage. Passage ids are the stitcher's own numbers, never reused.
    """

    def __init__(self, window: float = 2.5):
        self.window = window
        self._seen: dict[int, _Seen] = {}
        self._next = 1
        self.stitched = 0  # fragments joined to an earlier track's passage

    def passages(self, tracks: Iterable[Track], now: float) -> dict[int, Passage]:
        """{track id: passage} for `tracks`."""
        tracks = list(tracks)
        present = {t.track_id for t in tracks}
        result = {}
        for track in tracks:
            seen = self._seen.get(track.track_id)
            if seen is None:
                seen = self._seen[track.track_id] = _Seen(self._claim(track, present) or self._new(), track, now)
            elif seen.handed_over:
                seen.passage, seen.handed_over = self._new(since=now), False
            seen.track, seen.last_seen = track, now
            result[track.track_id] = seen.passage
        self._expire(now, present)
        return result

    def _new(self, since: float = float("-inf")) -> Passage:
        self._next += 1
        return Passage(self._next - 1, since)

    def _claim(self, track: Track, present: set[int]) -> Passage | None:
        points = list(track.foot_points)
        started, x, y = points[0] if points else (track.first_seen, *track.box.foot)
        best, best_distance = None, float("inf")
        for track_id, gone in self._seen.items():
            gap = started - gone.last_seen
            if track_id in present or gone.handed_over or gone.track.class_name != track.class_name:
                continue
            if not 0 < gap <= self.window:
                continue
            ahead = min(gap, MAX_EXTRAPOLATION)
            (fx, fy), (vx, vy) = gone.track.box.foot, _velocity(gone.track)
            distance = ((x - fx - vx * ahead) ** 2 + (y - fy - vy * ahead) ** 2) ** 0.5
            if distance <= max(MIN_REACH, REACH_PER_HEIGHT * gone.track.box.height) and distance < best_distance:
                best, best_distance = track_id, distance
        if best is None:
            return None
        self.stitched += 1
        self._seen[best].handed_over = True
        return self._seen[best].passage

    def _expire(self, now: float, present: set[int]) -> None:
        # kept while the tracker may still bring a track back, so a track that returns after a hand-over is
        # known as one and one that returns at all keeps its passage (the line counters forget as late)
        if len(self._seen) < 64:
            return
        stale = [tid for tid, s in self._seen.items() if tid not in present and now - s.last_seen > FORGET_AFTER]
        for track_id in stale:
            del self._seen[track_id]


def _velocity(track: Track) -> tuple[float, float]:
    """Foot point velocity (normalized per second) over the last VELOCITY_SPAN s of the track's path."""
    points = list(track.foot_points)
    if len(points) < 2:
        return (0.0, 0.0)
    t1, x1, y1 = points[-1]
    start = next((p for p in points if t1 - p[0] <= VELOCITY_SPAN), points[0])
    t0, x0, y0 = start if start is not points[-1] else points[-2]
    dt = t1 - t0
    return ((x1 - x0) / dt, (y1 - y0) / dt) if dt > 0 else (0.0, 0.0)
