"""Drawing zones, lines, tracks and alerts on frames, so a technician sees why something fired.

Used by `replay --annotate` (a video) and `probe --out` (one still with the
geometry only). Everything is drawn from normalized coordinates, so any
resolution works. The technician's page draws the same marks in the browser
(rules/marks.py: the same labels; the chain keeps the last frame's marks, in memory only).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge_agent.config.cameras import CameraConfig
from edge_agent.events import Alert, Track
from edge_agent.rules.marks import track_label

ZONE_COLOUR = (255, 200, 0)  # BGR
ACTIVE_COLOUR = (0, 0, 255)
LINE_COLOUR = (0, 255, 255)
TRACK_COLOUR = (0, 255, 0)
TEXT_COLOUR = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX
INSTANT_SHOWN_S = 2.0  # how long an instant alert stays on screen (frame time)


def _px(point, size) -> tuple[int, int]:
    width, height = size
    return int(round(point[0] * (width - 1))), int(round(point[1] * (height - 1)))


def _label(image: np.ndarray, text: str, origin: tuple[int, int], colour=TEXT_COLOUR, scale: float = 0.45) -> None:
    (w, h), base = cv2.getTextSize(text, FONT, scale, 1)
    x, y = origin
    y = max(h + 2, y)
    cv2.rectangle(image, (x, y - h - 3), (x + w + 2, y + base - 1), (0, 0, 0), -1)
    cv2.putText(image, text, (x + 1, y - 1), FONT, scale, colour, 1, cv2.LINE_AA)


def draw_geometry(
    image: np.ndarray,
    camera: CameraConfig,
    active_zones: Sequence[str] = (),
    line_counts: dict[str, dict[str, int]] | None = None,
) -> np.ndarray:
    """Zones (red when a rule on them is active) and lines with an arrow toward the in side."""
    size = (image.shape[1], image.shape[0])
    for name, zone in camera.zones.items():
        colour = ACTIVE_COLOUR if name in active_zones else ZONE_COLOUR
        points = np.array([_px(p, size) for p in zone.points], dtype=np.int32)
        cv2.polylines(image, [points], True, colour, 2, cv2.LINE_AA)
        _label(image, f"zone {name}", tuple(points[0]), colour)
    for name, line in camera.lines.items():
        a, b = _px(line.points[0], size), _px(line.points[1], size)
        cv2.line(image, a, b, LINE_COLOUR, 2, cv2.LINE_AA)
        middle = ((a[0] + b[0]) // 2, (a[1] + b[1]) // 2)
        towards = _in_arrow_tip(line, size, middle)
        cv2.arrowedLine(image, middle, towards, LINE_COLOUR, 2, cv2.LINE_AA, tipLength=0.3)
        counts = (line_counts or {}).get(name)
        text = f"line {name}" + (f" in {counts['in']} out {counts['out']}" if counts else " (arrow = in)")
        _label(image, text, (min(a[0], b[0]), min(a[1], b[1]) - 4), LINE_COLOUR)
    return image


def _in_arrow_tip(line, size, middle: tuple[int, int]) -> tuple[int, int]:
    (ax, ay), (bx, by) = _px(line.points[0], size), _px(line.points[1], size)
    nx, ny = -(by - ay), bx - ax
    length = max(1.0, (nx * nx + ny * ny) ** 0.5)
    ix, iy = _px(line.in_side, size)
    if nx * (ix - ax) + ny * (iy - ay) < 0:
        nx, ny = -nx, -ny
    arrow = 0.06 * max(size)
    return int(middle[0] + nx / length * arrow), int(middle[1] + ny / length * arrow)


def draw_tracks(image: np.ndarray, tracks: Sequence[Track]) -> np.ndarray:
    size = (image.shape[1], image.shape[0])
    for track in tracks:
        box = track.box
        top_left, bottom_right = _px((box.x1, box.y1), size), _px((box.x2, box.y2), size)
        cv2.rectangle(image, top_left, bottom_right, TRACK_COLOUR, 2)
        trail = [_px((x, y), size) for _, x, y in track.foot_points]
        if len(trail) > 1:
            cv2.polylines(image, [np.array(trail, dtype=np.int32)], False, TRACK_COLOUR, 1, cv2.LINE_AA)
        cv2.circle(image, _px(box.foot, size), 4, TRACK_COLOUR, -1)
        # Labelled inside the box above its bottom edge: a person's box often reaches the top of
        # the frame, where the alert banner would cover a label at the box's top.
        _label(image, track_label(track), (top_left[0], bottom_right[1] - 4), TRACK_COLOUR)
    return image


class AlertOverlay:
    """An AlertSink that remembers what to show: open episodes until they end, instants for a moment."""

    def __init__(self) -> None:
        self._open: dict[str, Alert] = {}
        self._recent: list[tuple[float, Alert]] = []
        self.now = 0.0  # frame monotonic time, set by the annotator before each frame

    def emit(self, alert: Alert) -> None:
        if alert.phase == "start":
            self._open[alert.event_id] = alert
        elif alert.phase == "end":
            self._open.pop(alert.related_event_id or "", None)
            self._recent.append((self.now, alert))
        else:
            self._recent.append((self.now, alert))

    def lines(self) -> list[tuple[str, tuple[int, int, int]]]:
        self._recent = [(t, a) for t, a in self._recent if self.now - t <= INSTANT_SHOWN_S]
        shown = [(f"ACTIVE {a.type} [{a.rule}] {_facts(a)}", ACTIVE_COLOUR) for a in self._open.values()]
        shown += [(f"{a.phase.upper()} {a.type} [{a.rule}] {_facts(a)}", LINE_COLOUR) for _, a in self._recent]
        return shown

    def active_zones(self) -> set[str]:
        return {a.details.zone for a in self._open.values() if a.details.zone}


def _facts(alert: Alert) -> str:
    d = alert.details
    parts = [
        f"{k}={v}"
        for k, v in (
            ("zone", d.zone),
            ("line", d.line),
            ("dir", d.direction),
            ("count", d.count),
            ("peak", d.peak_count),
            ("dur", d.duration_s),
            ("tracks", d.track_ids),
        )
        if v is not None
    ]
    return " ".join(parts)


class VideoAnnotator:
    """Writes an annotated video: geometry, tracks, counters and the alerts on screen."""

    def __init__(self, path: str | Path, camera: CameraConfig, fps: float, overlay: AlertOverlay):
        self.path = Path(path)
        self.camera = camera
        self.fps = fps
        self.overlay = overlay
        self._writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(
        self, image: np.ndarray, tracks: Sequence[Track], line_counts: dict[str, dict[str, int]], now: float
    ) -> None:
        self.overlay.now = now
        canvas = image.copy()
        draw_geometry(canvas, self.camera, self.overlay.active_zones(), line_counts)
        draw_tracks(canvas, tracks)
        for row, (text, colour) in enumerate(self.overlay.lines()[:8]):
            _label(canvas, text, (4, 18 + 18 * row), colour)
        if self._writer is None:
            self._writer = self._open(canvas.shape[1], canvas.shape[0])
        self._writer.write(canvas)
        self.frames += 1

    def _open(self, width: int, height: int) -> cv2.VideoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
        if not writer.isOpened():
            raise OSError(f"cannot write video {self.path} (OpenCV has no mp4v encoder here?)")
        return writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
