"""A camera's recent frames for clips: scaled down, pixelated and JPEG-compressed as they arrive, at a reduced rate.

Kept only for a camera one of whose rules asks for clips. Its memory is bounded by seconds x rate x one JPEG
(640 px at quality 80: ~30-60 KB a frame, so 12 s at 2 fps is well under 2 MB per camera).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from edge_agent.events import Box
from edge_agent.vision.pixelate import pixelate


@dataclass(frozen=True)
class RingFrame:
    captured_at: float  # wall time
    jpeg: bytes


class FrameRing:
    def __init__(self, seconds: float, fps: float, width: int, quality: int, pixelated: bool):
        self.fps = fps
        self.width = width
        self.quality = quality
        self.pixelated = pixelated
        self.size: tuple[int, int] = (0, 0)
        self._frames: deque[RingFrame] = deque(maxlen=max(2, int(seconds * fps) + 2))
        self._lock = threading.Lock()
        self._last = float("-inf")

    def offer(self, captured_at: float, image: np.ndarray, people: list[Box]) -> bool:
        """Keep this frame if the ring's rate allows; True when kept."""
        if captured_at - self._last < 0.9 / self.fps:
            return False
        self._last = captured_at
        small = scaled(image, self.width)
        if self.pixelated:
            small = pixelate(small, people)
        ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return False
        with self._lock:
            self.size = (small.shape[1], small.shape[0])
            self._frames.append(RingFrame(captured_at, encoded.tobytes()))
        return True

    def between(self, start: float, end: float) -> list[RingFrame]:
        with self._lock:
            return [frame for frame in self._frames if start <= frame.captured_at <= end]

    def bytes_held(self) -> int:
        with self._lock:
            return sum(len(frame.jpeg) for frame in self._frames)


def scaled(image: np.ndarray, width: int) -> np.ndarray:
    """`image` no wider than `width` (aspect kept); the image itself when it already is."""
    height, current = image.shape[:2]
    if current <= width:
        return image
    return cv2.resize(image, (width, max(1, round(height * width / current))), interpolation=cv2.INTER_AREA)
