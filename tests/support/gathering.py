"""A clip in which people gather, assembled at test time from the shared entrance clip (never committed).

The entrance clip (768x432, 10 fps) shows six visitors, one at a time, standing at a table in an
otherwise empty room. Each visitor is cut out of one frame where they stand (the pixels that differ
from the empty room's first frame, inside the box the shared detector gives them there, score 0.87
to 0.91), shrunk to half size and set down side by side on the empty room, one more at each
scheduled moment; the first six again, mirrored, make up to ten. The detector sees real people in
the room they were filmed in, so the counts it reports are real detections of a scripted crowd
(tests/test_forecast_replay.py checks they follow the script).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from tests.support.assets import footage

EMPTY_ROOM = 0  # frame index of the entrance clip with nobody in it
VISITORS = {  # frame index -> (x1, y1, x2, y2) pixels: a visitor standing at the table
    140: (384, 15, 519, 405),
    320: (382, 4, 544, 373),
    600: (408, 0, 562, 401),
    820: (360, 34, 507, 384),
    1060: (385, 13, 523, 388),
    1300: (354, 1, 532, 407),
}
MOST = 2 * len(VISITORS)
SCALE, SPACING, FEET = 0.5, 72, 415  # half size, a place every 72 px, feet on one row near the bottom
DIFFERS = 45  # summed BGR difference from the empty room above which a pixel belongs to the visitor


def _frames(wanted: set[int]) -> dict[int, np.ndarray]:
    capture = cv2.VideoCapture(str(footage("entrance-one-by-one.mp4")))
    frames, index = {}, 0
    try:
        while len(frames) < len(wanted):
            ok, image = capture.read()
            assert ok, f"the entrance clip ended before frame {max(wanted)}"
            if index in wanted:
                frames[index] = image
            index += 1
    finally:
        capture.release()
    return frames


def _cut_out(image: np.ndarray, room: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(the visitor's pixels, their mask), cropped to the visitor and shrunk to SCALE."""
    x1, y1, x2, y2 = box
    mask = (np.abs(image.astype(np.int16) - room.astype(np.int16)).sum(axis=2) > DIFFERS).astype(np.uint8)
    mask[:, :x1], mask[:, x2:] = 0, 0
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))  # specks of sensor noise
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))  # clothes as dark as the floor
    ys, xs = np.nonzero(mask)
    crop = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    person = cv2.resize(image[crop], None, fx=SCALE, fy=SCALE)
    shape = (person.shape[1], person.shape[0])
    return person, cv2.resize(mask[crop], shape, interpolation=cv2.INTER_NEAREST).astype(bool)


def gathering_clip(path: Path, people: Callable[[float], int], seconds: float, fps: float = 5.0) -> Path:
    """Write `path` (mp4): the empty room with `people(t)` visitors (at most MOST) standing in it at clip second t."""
    frames = _frames({EMPTY_ROOM, *VISITORS})
    room = frames[EMPTY_ROOM]
    cutouts = [_cut_out(frames[index], room, box) for index, box in VISITORS.items()]
    cutouts += [(person[:, ::-1], mask[:, ::-1]) for person, mask in cutouts]
    height, width = room.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {path}"
    try:
        for index in range(round(seconds * fps)):
            image = room.copy()
            for place, (person, mask) in enumerate(cutouts[: people(index / fps)]):
                x, y = 20 + SPACING * place, FEET - person.shape[0]
                image[y : y + person.shape[0], x : x + person.shape[1]][mask] = person[mask]
            writer.write(image)
    finally:
        writer.release()
    return path
