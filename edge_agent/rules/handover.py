"""Timers that follow the object, not the track id.

A parked van hidden by a passing lorry, or someone standing behind a pillar, loses its track
once the tracker gives up (`max_lost`); the tracker then starts a new id when the object
shows again. A rule keyed by track id would restart its 180 s. `Handover` keeps the timer
start of a track that vanished (gone from the frame entirely, not merely out of the zone)
for `window` s; a new track of the same class starting at the same place claims it.
"The same place": foot points within `MAX_FOOT_DISTANCE` (normalized) or boxes with IoU of
at least `MIN_IOU` — the first tolerates a box cut by the occluder, the second a tall box
whose foot point jitters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from edge_agent.events import Box, Track

MAX_FOOT_DISTANCE = 0.05
MIN_IOU = 0.3


@dataclass(slots=True)
class _Vanished:
    class_name: str
    box: Box
    since: float  # the timer's start, handed to the claimant
    last_seen: float


class Handover:
    """Vanished tracks' timer starts, claimable by a new track at the same place within `window` s."""

    def __init__(self, window: float):
        self.window = window
        self._vanished: dict[int, _Vanished] = {}

    def vanished(self, track_id: int, class_name: str, box: Box, since: float, last_seen: float) -> None:
        """`track_id` is gone from the frame; its timer started at `since`."""
        if self.window > 0:
            self._vanished[track_id] = _Vanished(class_name, box, since, last_seen)

    def returned(self, track_id: int) -> None:
        """The track itself came back: its own timer goes on, nothing to hand over."""
        self._vanished.pop(track_id, None)

    def claim(self, track: Track, now: float) -> float | None:
        """The timer start `track` inherits (the nearest matching vanished track's), or None."""
        self._expire(now)
        best_id, best_distance = None, float("inf")
        for track_id, gone in self._vanished.items():
            if gone.class_name != track.class_name or track_id == track.track_id:
                continue
            distance = _foot_distance(gone.box, track.box)
            if (distance <= MAX_FOOT_DISTANCE or gone.box.iou(track.box) >= MIN_IOU) and distance < best_distance:
                best_id, best_distance = track_id, distance
        if best_id is None:
            return None
        return self._vanished.pop(best_id).since

    def _expire(self, now: float) -> None:
        stale = [tid for tid, gone in self._vanished.items() if now - gone.last_seen > self.window]
        for track_id in stale:
            del self._vanished[track_id]


def present_ids(tracks: Iterable[Track]) -> set[int]:
    return {track.track_id for track in tracks}


def _foot_distance(a: Box, b: Box) -> float:
    (ax, ay), (bx, by) = a.foot, b.foot
    return ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5
