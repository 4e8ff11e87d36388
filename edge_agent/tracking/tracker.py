"""ByteTrack-style multi-object tracker with a Kalman filter and observation-centric recovery, small enough for a Pi.

Why our own and not a library: the maintained ByteTrack packages pull in torch or a
plotting stack (supervision, boxmot, norfair), and the algorithm is a couple of hundred
lines over numpy and an assignment solver (scipy's, ported: assignment.py).
bench/bench_tracking.py scores it against supervision's ByteTrack on MOTChallenge ground truth
(the figures are in bench/README.md).

What it reports: only tracks matched to a detection in this frame, with that detection's
box. A track coasting on its prediction (occluded, missed) stays alive for `max_lost`
seconds to be matched again but is never reported, so rules and counts only see what the
detector saw.

Association per frame (Zhang et al., ByteTrack, ECCV 2022):
  1. detections scored >= high_score against every live track (confirmed, tentative, lost),
     by IoU against the predicted boxes, at least match_iou;
  2. detections between low_score and high_score against confirmed tracks matched on the
     previous detector run and still unmatched, at IoU >= LOW_MATCH_IOU (0.4): a low score only
     extends a track it clearly overlaps (a half-hidden person), it never bridges a gap;
  3. unmatched detections scored >= start_score start tentative tracks, confirmed after
     min_hits matched runs (a tentative track that misses once is dropped).
Assignment is optimal (`assignment.py`: scipy's `linear_sum_assignment`, ported, without the 34 MB that
importing scipy.optimize costs), not greedy by
IoU: at 5 detector runs/s people move far between runs and greedy pairs cross over
(TUD-Campus at 5/s: MOTA 0.547 vs 0.427, ID switches 2 vs 7).

Motion: a constant-velocity Kalman filter per box coordinate (centre x, centre y, width,
height), decoupled per axis as in SORT/ByteTrack's filter, noise scaled by the box height,
stepped by the frame's monotonic time so skipped frames (motion gate, slow detector) predict
further. After an occlusion the track is re-anchored on its last observation rather than
the drifted prediction (OC-SORT's observation-centric re-update: the velocity is re-estimated
from the last and the new observation). Times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_agent.config.tracking import TrackerConfig
from edge_agent.events import Box, Detection, FrameDetections, Track
from edge_agent.tracking.assignment import linear_sum_assignment

LOW_MATCH_IOU = 0.4  # second stage; ByteTrack uses 0.5, which drops small people seen from above (hall clip)
_MAX_EXTRAPOLATION = 1.0  # seconds; beyond this a lost track stops drifting
# Kalman noise, relative to the box height (SORT/ByteTrack's choice) and per second of clip time.
_MEASUREMENT_STD = 0.05
_POSITION_NOISE = 0.05
_VELOCITY_NOISE = 0.05  # tuned on the MOT15 bench: 0.03-0.1 all beat ByteTrack, 0.05 best overall


@dataclass(slots=True)
class _Axis:
    """One coordinate's constant-velocity Kalman filter: position, velocity and their covariance."""

    x: float
    v: float = 0.0
    pxx: float = 1.0
    pxv: float = 0.0
    pvv: float = 1.0

    def predicted(self, dt: float) -> float:
        return self.x + self.v * dt

    def step(self, z: float, dt: float, scale: float) -> None:
        """Predict `dt` s ahead, then correct with the measurement `z` (`scale`: the box height)."""
        q_x, q_v = (_POSITION_NOISE * scale) ** 2 * dt, (_VELOCITY_NOISE * scale) ** 2 * dt
        x, pxx = self.x + self.v * dt, self.pxx + 2 * dt * self.pxv + dt * dt * self.pvv + q_x
        pxv, pvv = self.pxv + dt * self.pvv, self.pvv + q_v
        innovation_var = pxx + (_MEASUREMENT_STD * scale) ** 2
        k_x, k_v = pxx / innovation_var, pxv / innovation_var
        residual = z - x
        self.x, self.v = x + k_x * residual, self.v + k_v * residual
        self.pxx, self.pxv, self.pvv = (1 - k_x) * pxx, (1 - k_x) * pxv, pvv - k_v * pxv

    def restart(self, z: float, velocity: float, scale: float) -> None:
        """Re-anchor on an observation after an occlusion, with the velocity between observations."""
        self.x, self.v = z, velocity
        self.pxx, self.pxv, self.pvv = (_MEASUREMENT_STD * scale) ** 2, 0.0, (_VELOCITY_NOISE * scale) ** 2


@dataclass(slots=True)
class _State:
    """Motion state beside the public Track (Track is a plain shared type)."""

    track: Track
    axes: list[_Axis]  # centre x, centre y, width, height
    updated_at: float
    observed: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # the last measured cx, cy, w, h
    confirmed: bool = False
    matched_last_run: bool = True
    predicted_box: Box | None = field(default=None)

    @classmethod
    def start(cls, track: Track, now: float) -> _State:
        measured = _cxcywh(track.box)
        scale = max(measured[3], 1e-3)
        axes = [
            _Axis(z, pxx=(_MEASUREMENT_STD * scale) ** 2, pvv=(10 * _VELOCITY_NOISE * scale) ** 2) for z in measured
        ]
        return cls(track, axes, now, measured)

    def predict(self, now: float) -> Box:
        dt = min(max(0.0, now - self.updated_at), _MAX_EXTRAPOLATION)
        cx, cy, w, h = (axis.predicted(dt) for axis in self.axes)
        w, h = max(w, 1e-4), max(h, 1e-4)
        return Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)

    def correct(self, box: Box, now: float) -> None:
        measured = _cxcywh(box)
        scale = max(measured[3], 1e-3)
        dt = min(max(0.0, now - self.updated_at), _MAX_EXTRAPOLATION)
        if self.track.missed > 0:  # back after an occlusion: trust observations, not the drifted prediction
            gap = max(now - self.updated_at, 1e-6)
            for axis, z, last in zip(self.axes, measured, self.observed):
                axis.restart(z, (z - last) / gap, scale)
        else:
            for axis, z in zip(self.axes, measured):
                axis.step(z, dt, scale)
        self.observed, self.updated_at = measured, now


class Tracker:
    """One camera's tracker. Not thread-safe: feed it from the camera's own thread."""

    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self._states: list[_State] = []
        self._next_id = 1

    def adopt(self, predecessor: Tracker) -> None:
        """A reload changed the tracker's config, so its tracks start afresh; new ones are numbered after the
        predecessor's, so an id never repeats on the camera (the rules may still hold one)."""
        self._next_id = max(self._next_id, predecessor._next_id)

    @property
    def has_live_tracks(self) -> bool:
        """True while any confirmed track is alive, matched or briefly lost (motion gate input)."""
        return any(state.confirmed for state in self._states)

    def live_tracks(self) -> list[Track]:
        """Confirmed tracks including those lost for less than max_lost seconds."""
        return [state.track for state in self._states if state.confirmed]

    def update(self, frame: FrameDetections) -> list[Track]:
        """Associate one frame's detections; returns the confirmed tracks matched in this frame."""
        now = frame.monotonic
        cfg = self.config
        high = [d for d in frame.detections if d.score >= cfg.high_score]
        low = [d for d in frame.detections if cfg.low_score <= d.score < cfg.high_score]
        for state in self._states:
            state.predicted_box = state.predict(now)

        matched: set[int] = set()
        unmatched_high = self._associate(self._states, high, now, matched, cfg.match_iou, update_score=True)
        leftovers = [s for s in self._states if s.confirmed and s.matched_last_run and id(s) not in matched]
        self._associate(leftovers, low, now, matched, max(cfg.match_iou, LOW_MATCH_IOU), update_score=False)

        self._age_out(now, matched)
        for detection in unmatched_high:
            if detection.score >= cfg.start_score:
                self._start(detection, now)
        return [s.track for s in self._states if s.confirmed and s.track.missed == 0]

    def _associate(
        self,
        states: list[_State],
        detections: list[Detection],
        now: float,
        matched: set[int],
        min_iou: float,
        update_score: bool,
    ) -> list[Detection]:
        """Match by IoU against the predicted boxes; matched states are corrected and their id() added to `matched`.

        Returns the detections left unmatched.
        """
        if not states or not detections:
            return list(detections)
        predicted = np.array([_xyxy(s.predicted_box) for s in states], dtype=np.float64)
        measured = np.array([_xyxy(d.box) for d in detections], dtype=np.float64)
        iou = iou_matrix(predicted, measured)
        same_class = np.array([[s.track.class_name == d.class_name for d in detections] for s in states])
        iou[~same_class] = 0.0
        pairs = assign(iou, min_iou)
        for si, di in pairs:
            matched.add(id(states[si]))
            self._apply(states[si], detections[di], now, update_score)
        taken = {di for _, di in pairs}
        return [d for i, d in enumerate(detections) if i not in taken]

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
            state.matched_last_run = id(state) in matched
            if not state.matched_last_run:
                state.track.missed += 1
                # A tentative track that misses once was probably noise (ByteTrack drops it too).
                if not state.confirmed or now - state.track.last_seen > self.config.max_lost:
                    continue
            kept.append(state)
        self._states = kept

    def _start(self, detection: Detection, now: float) -> None:
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
        state = _State.start(track, now)
        self._states.append(state)
        if self.config.min_hits <= 1:
            self._confirm(state)

    def _confirm(self, state: _State) -> None:
        state.confirmed = True
        state.track.track_id = self._next_id
        self._next_id += 1


def assign(iou: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """(row, column) pairs maximising the total IoU, each pair at least `min_iou`."""
    rows, cols = linear_sum_assignment(np.where(iou >= min_iou, iou, 0.0), maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= min_iou]


def _cxcywh(box: Box) -> tuple[float, float, float, float]:
    return ((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2, box.width, box.height)


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
