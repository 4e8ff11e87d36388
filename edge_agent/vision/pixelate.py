"""People made unrecognisable before a picture is kept: every person box mosaicked hard.

The boxes are the ones the detector produced for that very frame (no second model). Each box is grown a little
(a detector's box is tight, and a raised arm or hair pokes out of it) and filled with flat blocks whose side is at
least 1/6 of the person's box height (1/8 of the grown box's) and never under `MIN_BLOCK` pixels. A head is 1/7.5 to
1/8 of a standing person's height, so a face falls in at most 2 x 2 blocks: four flat colours, nothing a face
detector or a person can recognise (docs/evidence.md; tests/test_evidence_privacy.py measures it on the shared
images and clips).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from edge_agent.events import Box, Detection

PEOPLE = frozenset({"person"})
GROW = 0.10  # each side grows by this share of the box's width / height
BLOCK_SHARE = 1 / 6  # block side: at least this share of the person's box height (a head is 1/7.5 of it)
MIN_BLOCK = 8  # pixels


def person_boxes(detections: Iterable[Detection], classes: frozenset[str] = PEOPLE) -> list[Box]:
    return [detection.box for detection in detections if detection.class_name in classes]


def block_size(height_px: float) -> int:
    """The mosaic's block side for a person whose detector box is this many pixels high."""
    return max(MIN_BLOCK, int(np.ceil(height_px * BLOCK_SHARE)))


def pixel_rect(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """The grown box in pixels, clipped to the image: (x1, y1, x2, y2), x2/y2 exclusive."""
    grow_x, grow_y = box.width * GROW, box.height * GROW
    x1 = int(np.floor(max(0.0, box.x1 - grow_x) * width))
    y1 = int(np.floor(max(0.0, box.y1 - grow_y) * height))
    x2 = int(np.ceil(min(1.0, box.x2 + grow_x) * width))
    y2 = int(np.ceil(min(1.0, box.y2 + grow_y) * height))
    return x1, y1, max(x1, x2), max(y1, y2)


def pixelate(image: np.ndarray, boxes: Iterable[Box]) -> np.ndarray:
    """A copy of `image` (H x W x C, uint8) with every box mosaicked; the input is not changed."""
    out = image.copy()
    height, width = image.shape[:2]
    for box in boxes:
        x1, y1, x2, y2 = pixel_rect(box, width, height)
        if x2 > x1 and y2 > y1:
            _mosaic(out, x1, y1, x2, y2, block_size(box.height * height))
    return out


def _mosaic(image: np.ndarray, x1: int, y1: int, x2: int, y2: int, block: int) -> None:
    """Each block of the rectangle (anchored at its top-left) becomes the mean of its pixels, in place."""
    region = image[y1:y2, x1:x2].astype(np.float64)
    rows, cols = np.arange(0, y2 - y1, block), np.arange(0, x2 - x1, block)
    sums = np.add.reduceat(np.add.reduceat(region, rows, axis=0), cols, axis=1)
    heights = np.diff(np.append(rows, y2 - y1))
    widths = np.diff(np.append(cols, x2 - x1))
    means = sums / (heights[:, None] * widths[None, :])[..., None]
    flat = np.repeat(np.repeat(np.rint(means), heights, axis=0), widths, axis=1)
    image[y1:y2, x1:x2] = flat.astype(image.dtype)
