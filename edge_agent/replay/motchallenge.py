"""Tracks and detections written as MOTChallenge text, so the product's own output can be scored.

One row per box: `frame,id,left,top,width,height,conf,-1,-1,-1`, with the 1-based frame
number of the source clip (not the decimated detector run) and pixels at the source
resolution, which is what `gt/gt.txt` of a MOTChallenge sequence uses. Detections get id -1.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from edge_agent.events import Box, Frame


class MotWriter:
    """Appends rows to one MOTChallenge text file; `close()` when the replay ends."""

    def __init__(self, path: str | Path):
        self._out: TextIO = open(path, "w", encoding="ascii")  # closed by close(): the replay owns it
        self.rows = 0

    def write(self, frame: Frame, boxes: Iterable[tuple[int, Box, float]]) -> None:
        """`boxes`: (id, normalized box, confidence) seen in `frame`."""
        if frame.source_index is None:
            raise ValueError("frames without a source index cannot be exported (only clips are)")
        width, height = frame.size
        for object_id, box, confidence in boxes:
            left, top = box.x1 * width, box.y1 * height
            self._out.write(
                f"{frame.source_index},{object_id},{left:.2f},{top:.2f},"
                f"{box.width * width:.2f},{box.height * height:.2f},{confidence:.4f},-1,-1,-1\n"
            )
            self.rows += 1

    def close(self) -> None:
        self._out.close()


class MotExport:
    """The replay's optional track and detection writers, fed once per detector run."""

    def __init__(self, tracks_out: str | Path | None, detections_out: str | Path | None):
        self.tracks = MotWriter(tracks_out) if tracks_out else None
        self.detections = MotWriter(detections_out) if detections_out else None

    def wrap(self, detect):
        """`detect` that also writes each frame's raw detections."""
        if self.detections is None:
            return detect

        def detect_and_write(frame: Frame):
            found = detect(frame)
            self.detections.write(frame, ((-1, d.box, d.score) for d in found.detections))
            return found

        return detect_and_write

    def write_tracks(self, frame: Frame, tracks) -> None:
        """The confirmed tracks the tracker reported for `frame` (None: the motion gate skipped it)."""
        if self.tracks is not None and tracks is not None:
            self.tracks.write(frame, ((t.track_id, t.box, t.score) for t in tracks))

    def close(self) -> None:
        for writer in (self.tracks, self.detections):
            if writer is not None:
                writer.close()
