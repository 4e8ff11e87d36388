"""Frames from real footage for INT8 work: dealt to calibration and to a held-out evaluation set.

Quantization calibrates on one side (vision/quantize.py); the agreement report and the variant bench
(vision/variant_bench.py) judge on the other, so a model is never judged on the frames it was
calibrated on.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def split_samples(calib: Path, calib_count: int, eval_count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Calibration and evaluation frames from a clip, an image, or a directory of them.

    Frames are taken at evenly spaced positions across every source and dealt alternately to
    calibration and evaluation, so both cover the same footage and never share a frame; each side
    then keeps an evenly spaced subset, so a small calibration set still spans every source.
    """
    calib = Path(calib)
    if calib.is_dir():
        sources = sorted(p for p in calib.iterdir() if p.is_file() and not p.name.startswith("."))
    elif calib.is_file():
        sources = [calib]
    else:
        raise FileNotFoundError(f"calibration source {calib} does not exist")
    wanted = 2 * max(calib_count, eval_count)
    stills = [p for p in sources if p.suffix.lower() in IMAGE_SUFFIXES]
    clips = [p for p in sources if p.suffix.lower() not in IMAGE_SUFFIXES]
    frames = [img for img in (cv2.imread(str(p)) for p in stills) if img is not None]
    per_clip = -(-max(0, wanted - len(frames)) // len(clips)) if clips else 0
    for clip in clips:
        frames.extend(_clip_frames(clip, per_clip))
    if len(frames) < 2:
        raise ValueError(
            f"{calib}: need at least 2 decodable frames for calibration and evaluation, found {len(frames)}"
        )
    return _spread(frames[0::2], calib_count), _spread(frames[1::2], eval_count)


def _spread(items: list, count: int) -> list:
    if count >= len(items):
        return items
    return [items[int((i + 0.5) * len(items) / count)] for i in range(count)]


def _clip_frames(path: Path, count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if total <= 0 or count <= 0:
        capture.release()
        return []
    wanted = {int((i + 0.5) * total / count) for i in range(count)}
    frames = []
    for index in range(total):
        if not capture.grab():
            break
        if index in wanted:
            ok, image = capture.retrieve()
            if ok:
                frames.append(image)
    capture.release()
    return frames
