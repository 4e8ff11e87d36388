"""ByteTrack-style multi-object tracker, small enough for a Pi.

Why our own and not a library: the maintained ByteTrack packages pull in
scipy/lap/torch or a plotting stack (supervision, boxmot, norfair), none of
which is on the allowed dependency list, and the algorithm itself is about a
hundred lines over numpy. Association is greedy by IoU (highest first), which
is what ByteTrack degrades to with well-separated boxes and is O(n^2 log n);
at the few dozen objects a camera sees it costs well under a millisecond.

Two-stage association (Zhang et al., ByteTrack, ECCV 2022):
  1. high-score detections against every live track (confirmed, tentative, lost);
  2. low-score detections against confirmed tracks still unmatched, so a person
     half hidden behind a pillar keeps their id instead of ending the track.
A constant-velocity alpha-beta filter predicts each box at the frame's
monotonic time, so a skipped frame (motion gate, slow detector) or a short
occlusion still lands the prediction near the object. Times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.config.tracking import TrackerConfig
from edge_agent.events import Box, Detection, FrameDetections, Track

_POSITION_GAIN = 0.8  # trust in a new measurement of the box centre
_VELOCITY_GAIN = 0.3  # how fast the velocity estimate follows the residual
_SIZE_GAIN = 0.6
_MAX_EXTRAPOLATION = 1.0  # seconds; beyond this a lost track stops drifting


@dataclass(slots=True)
class _State:
    """Motion state beside the public Track (Track is a plain shared type)."""

    track: Track
    cx: float
    cy: float
    w: float
    h: float
    vx: float = 0.0
    vy: float = 0.0
    updated_at: float = 0.0
    confirmed: bool = False

    def predict(self, now: float) -> Box:
        dt = min(max(0.0, now - self.updated_at), _MAX_EXTRAPOLATION)
        cx, cy = self.cx + self.vx * dt, self.cy + self.vy * dt
        return Box(cx - self.w / 2, cy - self.h / 2, cx + self.w / 2, cy + self.h / 2)

    def correct(self, box: Box, now: float) -> None:
        dt = now - self.updated_at
        predicted = self.predict(now)
        px, py = predicted.center
        mx, my = box.center
        rx, ry = mx - px, my - py
        self.cx, self.cy = px + _POSITION_GAIN * rx, py + _POSITION_GAIN * ry
        if dt > 1e-6:
            self.vx += _VELOCITY_GAIN * rx / dt
            self.vy += _VELOCITY_GAIN * ry / dt
        self.w += _SIZE_GAIN * (box.width - self.w)
        self.h += _SIZE_GAIN * (box.height - self.h)
        self.updated_at = now


class Tracker:
    """One camera's tracker. Not thread-safe: feed it from the camera's own thread."""

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self._states: list[_State] = []
        self._next_id = 1

    def continue_ids_after(self, other: Tracker) -> None:
        """Number new tracks after `other`'s, so ids never repeat on the camera across a reload."""
        self._next_id = max(self._next_id, other._next_id)

    @property
    def has_live_tracks(self) -> bool:
        """True while any confirmed track is alive, matched or briefly lost (motion gate input)."""
        return any(state.confirmed for state in self._states)

    def live_tracks(self) -> list[Track]:
        """Confirmed tracks including those lost for less than max_lost seconds."""
        return [state.track for state in self._states if state.confirmed]

    def update(self, frame: FrameDetections) -> list[Track]:
        """Associate one frame's detections; returns the confirmed tracks seen in this frame."""
        now = frame.monotonic
        cfg = self.config
        high = [d for d in frame.detections if d.score >= cfg.high_score]
        low = [d for d in frame.detections if cfg.low_score <= d.score < cfg.high_score]

        matched: set[int] = set()
        unmatched_high = self._associate(self._states, high, now, matched, update_score=True)
        leftovers = [s for s in self._states if s.confirmed and id(s) not in matched]
        self._associate(leftovers, low, now, matched, update_score=False)

        self._age_out(now, matched)
        for detection in unmatched_high:
            self._start(detection, now)
        return [s.track for s in self._states if s.confirmed and s.track.missed == 0]

    def _associate(
        self, states: list[_State], detections: list[Detection], now: float, matched: set[int], update_score: bool
    ) -> list[Detection]:
        """Greedy IoU matching; matched states are corrected and their id() added to `matched`.

        Returns the detections left unmatched.
        """
        if not states or not detections:
            return list(detections)
        predicted = np.array([_xyxy(s.predict(now)) for s in states], dtype=np.float64)
        measured = np.array([_xyxy(d.box) for d in detections], dtype=np.float64)
        iou = iou_matrix(predicted, measured)
        same_class = np.array([[s.track.class_name == d.class_name for d in detections] for s in states])
        iou[~same_class] = 0.0
        matched_states: set[int] = set()
        matched_dets: set[int] = set()
        order = np.argsort(-iou, axis=None)
        for flat in order:
            si, di = divmod(int(flat), len(detections))
            if iou[si, di] < self.config.match_iou:
                break
            if si in matched_states or di in matched_dets:
                continue
            matched_states.add(si)
            matched_dets.add(di)
            matched.add(id(states[si]))
            self._apply(states[si], detections[di], now, update_score)
        return [d for i, d in enumerate(detections) if i not in matched_dets]

    def _apply(self, state: _State, detection: Detection, now: float, update_score: bool) -> None:
        state.correct(detection.box, now)
        track = state.track
        track.box = detection.box
        if update_score:
            track.score = detection.score
        track.last_seen = now
        track.hits += 1
        track.missed = 0
        track.foot_points.append((now, *detection.box.foot))
        if not state.confirmed and track.hits >= self.config.min_hits:
            self._confirm(state)

    def _age_out(self, now: float, matched: set[int]) -> None:
        kept = []
        for state in self._states:
            if id(state) not in matched:
                state.track.missed += 1
                # A tentative track that misses once was probably noise (ByteTrack drops it too).
                if not state.confirmed or now - state.track.last_seen > self.config.max_lost:
                    continue
            kept.append(state)
        self._states = kept

    def _start(self, detection: Detection, now: float) -> None:
        cx, cy = detection.box.center
        track = Track(
            track_id=0,
            class_name=detection.class_name,
            box=detection.box,
            score=detection.score,
            first_seen=now,
            last_seen=now,
        )
        track.foot_points = type(track.foot_points)(maxlen=self.config.history)
        track.foot_points.append((now, *detection.box.foot))
        state = _State(track, cx, cy, detection.box.width, detection.box.height, updated_at=now)
        self._states.append(state)
        if self.config.min_hits <= 1:
            self._confirm(state)

    def _confirm(self, state: _State) -> None:
        state.confirmed = True
        state.track.track_id = self._next_id
        self._next_id += 1


def _xyxy(box: Box) -> tuple[float, float, float, float]:
    return (box.x1, box.y1, box.x2, box.y2)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two (n, 4) and (m, 4) xyxy arrays."""
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
