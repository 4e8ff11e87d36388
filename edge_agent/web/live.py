"""Live images for a logged-in browser: JPEG in memory, at most `live_fps` per session and camera.

Nothing is written to disk or published. One encoding per camera per period is shared by every
session, so a second open page costs no more encoding than the first.
"""

from __future__ import annotations

import threading

import cv2

from edge_agent.clock import Clock

MAX_WIDTH = 960  # enough to place a zone corner; a smaller JPEG costs the box less
QUALITY = 70


class LiveImages:
    def __init__(self, latest_frame, clock: Clock, fps: float):
        """`latest_frame(camera_id)` -> Frame | None: the agent's read-only accessor."""
        self.latest_frame = latest_frame
        self.clock = clock
        self.period = 1.0 / fps
        self.encoded = 0
        self.refused = 0
        self._cache: dict[str, tuple[int, bytes]] = {}  # camera id -> (frame seq, jpeg)
        self._lock = threading.Lock()

    def too_soon(self, last_image: dict[str, float], camera_id: str) -> float | None:
        """Seconds the session must wait before its next image of this camera, or None (and the time is taken)."""
        now = self.clock.monotonic()
        previous = last_image.get(camera_id)
        # a little slack: a browser timer firing a few ms early is not an abuser
        if previous is not None and now - previous < 0.9 * self.period:
            self.refused += 1
            return self.period - (now - previous)
        last_image[camera_id] = now
        return None

    def jpeg(self, camera_id: str) -> bytes | None:
        frame = self.latest_frame(camera_id)
        if frame is None:
            return None
        with self._lock:
            cached = self._cache.get(camera_id)
            if cached is not None and cached[0] == frame.seq:
                return cached[1]
        image = frame.image
        height, width = image.shape[:2]
        if width > MAX_WIDTH:
            image = cv2.resize(image, (MAX_WIDTH, round(height * MAX_WIDTH / width)), interpolation=cv2.INTER_AREA)
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
        if not ok:
            return None
        data = buffer.tobytes()
        with self._lock:
            self._cache[camera_id] = (frame.seq, data)
            self.encoded += 1
        return data
