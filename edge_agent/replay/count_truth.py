"""What a MOTChallenge `gt.txt` says the counts are: line crossings per line and direction, zone occupancy per frame.

An annotated person is placed by the foot point (the bottom-centre of the box, clamped into the picture as the
detector's boxes are), as the agent places a track. A
truth crossing is two consecutive annotated foot points of the same id on opposite sides of a line (a point
exactly on the line keeps the side before it); no hysteresis band, no minimum frames: the truth is the geometry,
the band is the agent's way of guessing it. Occupancy of a zone in a frame is the number of annotated foot
points inside it. Frames are the sequence's 1-based numbers; times are `(frame - 1) / fps` seconds.

`auto_lines(n)` and `grid_zones(n)` make the swept geometry of `edge-agent eval-counts`: n/2 vertical and n/2
horizontal full-frame lines evenly spaced over the middle of the frame (from 0.2 to 0.8 of its width and height,
the spacing that reproduces issue 21's 46 truth crossings on TUD-Campus), and an n x n grid.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edge_agent.rules.geometry import DirectedLine, Polygon

FootPath = list[tuple[int, float, float]]  # (frame, x, y) normalized, in frame order


@dataclass(frozen=True, slots=True)
class TruthCrossing:
    line: str
    direction: str  # "in" | "out"
    frame: int  # the frame of the first foot point on the new side
    object_id: int


def auto_lines(count: int) -> dict[str, dict]:
    """`count` line configs (camera `lines:` entries): count/2 vertical (in = leftward), count/2 horizontal
    (in = upward), evenly spaced from 0.2 to 0.8 (one line: at 0.5); band and min_frames are the defaults."""
    if count < 2 or count % 2:
        raise ValueError(f"auto lines need an even count of at least 2, found {count}")
    half = count // 2
    lines = {}
    for k in range(half):
        at = round(0.2 + 0.6 * k / (half - 1), 4) if half > 1 else 0.5
        lines[f"v{at:.3f}"] = {"points": [[at, 0.0], [at, 1.0]], "in_side": [0.0, 0.5]}
        lines[f"h{at:.3f}"] = {"points": [[0.0, at], [1.0, at]], "in_side": [0.5, 0.0]}
    return lines


def grid_zones(cells: int) -> dict[str, dict]:
    """An n x n grid of zone configs over the whole frame, named `r{row}c{column}`."""
    if not 1 <= cells <= 10:
        raise ValueError(f"auto zones need a grid of 1 to 10 cells a side, found {cells}")
    zones = {}
    for row in range(cells):
        for col in range(cells):
            x1, y1, x2, y2 = (round(v / cells, 4) for v in (col, row, col + 1, row + 1))
            zones[f"r{row}c{col}"] = {"points": [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]}
    return zones


def read_foot_paths(gt: str | Path, width: int, height: int) -> dict[int, FootPath]:
    """id -> its annotated foot points, normalized by the frame size; rows with conf 0 (ignore) are dropped."""
    paths: dict[int, FootPath] = defaultdict(list)
    for number, text in enumerate(Path(gt).read_text().splitlines(), start=1):
        fields = text.strip().split(",")
        if not text.strip():
            continue
        try:
            frame, object_id, left, top, box_w, box_h = (float(v) for v in fields[:6])
            ignored = len(fields) >= 7 and float(fields[6]) == 0
        except ValueError:
            raise ValueError(f"{gt}:{number}: expected frame,id,left,top,width,height,...; found {text!r}") from None
        if not ignored:  # clamped into the picture, as the detector's boxes are
            x, y = _clamp((left + box_w / 2) / width), _clamp((top + box_h) / height)
            paths[int(object_id)].append((int(frame), x, y))
    return {object_id: sorted(path) for object_id, path in paths.items()}


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def truth_crossings(paths: Mapping[int, FootPath], lines: Mapping[str, DirectedLine]) -> list[TruthCrossing]:
    """Every crossing of every line in the annotations, in frame order."""
    found = []
    for name, line in lines.items():
        for object_id, path in paths.items():
            side = 0
            for frame, x, y in path:
                distance = line.signed_distance(x, y)
                now = 1 if distance > 0 else -1 if distance < 0 else 0
                if now == 0:
                    continue
                if side and now != side:
                    found.append(TruthCrossing(name, "in" if now > 0 else "out", frame, object_id))
                side = now
    return sorted(found, key=lambda c: (c.frame, c.line, c.object_id))


def truth_passages(paths: Mapping[int, FootPath], lines: Mapping[str, DirectedLine]) -> list[TruthCrossing]:
    """Net passages: per id and line, one crossing when the first and the last annotated side differ (at the
    frame of the last change). What a person did, without the back-and-forth of a foot point along the line."""
    found = []
    for crossing_list in _by_person_and_line(truth_crossings(paths, lines)).values():
        first, last = crossing_list[0], crossing_list[-1]
        if len(crossing_list) % 2 == 1 and first.direction == last.direction:
            found.append(last)
    return sorted(found, key=lambda c: (c.frame, c.line, c.object_id))


def _by_person_and_line(crossings: list[TruthCrossing]) -> dict[tuple[int, str], list[TruthCrossing]]:
    grouped: dict[tuple[int, str], list[TruthCrossing]] = defaultdict(list)
    for crossing in crossings:
        grouped[(crossing.object_id, crossing.line)].append(crossing)
    return grouped


def occupancy(feet_by_frame: Mapping[int, list[tuple[float, float]]], zones: Mapping[str, Polygon], frames):
    """{frame: {zone: foot points inside}} for each of `frames` (a frame without feet has all zones 0)."""
    return {
        frame: {name: sum(zone.contains(x, y) for x, y in feet_by_frame.get(frame, ())) for name, zone in zones.items()}
        for frame in frames
    }


def feet_by_frame(paths: Mapping[int, FootPath]) -> dict[int, list[tuple[float, float]]]:
    """frame -> the foot points annotated in it (the truth's side of `occupancy`)."""
    feet: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for path in paths.values():
        for frame, x, y in path:
            feet[frame].append((x, y))
    return dict(feet)
