"""A clip's frames for replay and benchmarks: decimated by the clip's own timestamps, as fast as they decode.

Not a camera: no thread, no reconnects, no health. Frames are stamped on the clip's timeline from a
clock's readings, so dwell times and holds follow clip time however fast the replay runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2

from edge_agent.clock import Clock, SystemClock
from edge_agent.config.cameras import CameraConfig
from edge_agent.events.vision_types import Frame
from edge_agent.sources.camera import EARLY_TOLERANCE
from edge_agent.sources.capture import clip_position_s


def iter_file_frames(
    source: CameraConfig | str | Path,
    detect_fps: float | None = None,
    *,
    clock: Clock | None = None,
    camera_id: str | None = None,
    max_seconds: float | None = None,
) -> Iterator[Frame]:
    """Every frame of a clip decimated to `detect_fps` by the clip's own timestamps, as fast as possible.

    `captured_at` and `monotonic` follow the clip's timeline from the clock's current readings,
    so rule dwell times follow clip time. Skipped frames are only grabbed, not converted.
    """
    if isinstance(source, CameraConfig):
        path, camera_id = source.url, camera_id or source.id
        detect_fps = detect_fps or source.detect_fps
    else:
        path, camera_id = str(source), camera_id or Path(source).stem
    if not Path(path).is_file():
        raise FileNotFoundError(f"clip {path} does not exist")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise ValueError(f"clip {path} cannot be decoded")
    clock = clock or SystemClock()
    wall0, mono0 = clock.wall(), clock.monotonic()
    period = 1.0 / detect_fps if detect_fps else 0.0
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    next_due, index, seq = 0.0, 0, 0
    try:
        while capture.grab():
            position = clip_position_s(capture, index, fps)
            index += 1
            if max_seconds is not None and position > max_seconds:
                break
            if position + 1e-6 < next_due - EARLY_TOLERANCE * period:
                continue
            ok, image = capture.retrieve()
            if not ok:
                continue
            next_due = (next_due + period) if position - next_due <= period else position + period
            yield Frame(camera_id, seq, wall0 + position, mono0 + position, image, source_index=index)
            seq += 1
    finally:
        capture.release()
