"""A frame's detections and tracks as marks to draw: the labels annotate.py draws, as data for the page's overlay.

No OpenCV here: the chain copies the last detected frame's marks on the detector's thread (a few small dicts), and
the technician's page draws them in the browser. Memory only: never written, never published.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_agent.events import Detection, Track

TRAIL_POINTS = 16  # the page's short trail: the newest foot points of a track


def track_label(track: Track) -> str:
    return f"#{track.track_id} {track.class_name} {track.score:.2f}"


def _xyxy(box) -> list[float]:
    return [round(box.x1, 4), round(box.y1, 4), round(box.x2, 4), round(box.y2, 4)]


def detection_marks(detections: Sequence[Detection]) -> list[dict]:
    """What the detector found in a frame, as the page draws it: class, score, normalized xyxy box."""
    return [{"class": d.class_name, "score": round(d.score, 3), "box": _xyxy(d.box)} for d in detections]


def track_marks(tracks: Sequence[Track], trail: int = TRAIL_POINTS) -> list[dict]:
    """A frame's tracks as `draw_tracks` draws them (box, label, foot-point trail), copied: the tracker goes on
    changing its tracks on its own thread."""
    return [
        {
            "id": track.track_id,
            "class": track.class_name,
            "score": round(track.score, 3),
            "box": _xyxy(track.box),
            "label": track_label(track),
            "trail": [[round(x, 4), round(y, 4)] for _, x, y in list(track.foot_points)[-trail:]],
        }
        for track in tracks
    ]
