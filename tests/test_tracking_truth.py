"""Tracks and line counts against MOTChallenge ground truth (TUD-Stadtmitte, 179 frames at 25 fps).

configs/replay-tud-stadtmitte.yaml puts a vertical line at x = 0.75 (in = leftward). The truth
is derived here from gt/gt.txt independently of the agent's geometry: each annotated person's
foot point (bottom centre) is followed frame by frame and a crossing counted when it moves from
one side of the line's margin band to the other. That gives in 4 (ids 6, 7, 8, 9) and out 2 (ids 2, 4).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from edge_agent.cli.main import main
from edge_agent.clock import FakeClock
from edge_agent.config import load_config
from edge_agent.replay import ReplayOptions, replay_clip
from tests.support.assets import ROOT, footage

pytestmark = [pytest.mark.assets, pytest.mark.slow]

T0 = 1_767_225_600.0
WIDTH, HEIGHT, FRAMES = 640, 480, 179
LINE_X, MARGIN = 0.75, 0.01
# A 7-second sequence in which six people cross: one ID switch at the line or a foot point
# jittering across the band adds or loses one crossing; two in one direction means the
# tracker (or the counting) is broken, not unlucky.
TOLERANCE = 1


def sequence_dir() -> Path:
    return footage("mot15/TUD-Stadtmitte")


def truth_counts(gt_path: Path) -> dict[str, int]:
    paths: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for line in gt_path.read_text().splitlines():
        frame, person, left, _top, width, _height = (float(v) for v in line.split(",")[:6])
        paths[int(person)].append((int(frame), (left + width / 2) / WIDTH))
    counts = {"in": 0, "out": 0}
    for path in paths.values():
        side = None
        for _, x in sorted(path):
            now = "left" if x < LINE_X - MARGIN else "right" if x > LINE_X + MARGIN else None
            if now is None or now == side:
                continue
            if side is not None:
                counts["in" if now == "left" else "out"] += 1
            side = now
    return counts


@pytest.fixture(scope="module")
def replayed(replay_environ, tmp_path_factory):
    out = tmp_path_factory.mktemp("tud")
    config = load_config(ROOT / "configs" / "replay-tud-stadtmitte.yaml", environ=replay_environ)
    result = replay_clip(
        config,
        sequence_dir() / "TUD-Stadtmitte.mp4",
        ReplayOptions(clock=FakeClock(wall=T0), tracks_out=out / "tracks.txt", detections_out=out / "detections.txt"),
    )
    return result, out / "tracks.txt", out / "detections.txt"


def test_the_truth_is_what_the_annotations_say():
    assert truth_counts(sequence_dir() / "gt" / "gt.txt") == {"in": 4, "out": 2}


def test_replay_counts_the_line_within_one_of_the_truth(replayed):
    result, _, _ = replayed
    truth = truth_counts(sequence_dir() / "gt" / "gt.txt")
    counted = result.line_counts["middle"]
    print(f"TUD-Stadtmitte line x=0.75: truth {truth}, replay {counted}")
    for direction in ("in", "out"):
        assert abs(counted[direction] - truth[direction]) <= TOLERANCE, (direction, counted, truth)


def test_exports_are_motchallenge_rows_in_source_frames_and_pixels(replayed):
    _, tracks, detections = replayed
    for path, ids_are_tracks in ((tracks, True), (detections, False)):
        rows = [line.split(",") for line in path.read_text().splitlines()]
        assert rows, path
        assert all(len(row) == 10 and row[7:] == ["-1", "-1", "-1"] for row in rows)
        frames = {int(row[0]) for row in rows}
        assert min(frames) >= 1 and max(frames) == FRAMES  # every source frame, 1-based
        assert all((int(row[1]) > 0) == ids_are_tracks for row in rows)
        assert max(float(row[2]) + float(row[4]) for row in rows) > 0.5 * WIDTH  # pixels, not [0, 1]
        assert max(float(row[5]) for row in rows) > 0.2 * HEIGHT


def test_eval_tracks_scores_the_export_against_the_truth(replayed, capsys):
    _, tracks, _ = replayed
    gt = sequence_dir() / "gt" / "gt.txt"
    assert main(["eval-tracks", str(gt), str(gt)]) == 0
    perfect = capsys.readouterr().out
    assert "MOTA 1.000" in perfect and "IDF1 1.000" in perfect and "ID switches 0" in perfect
    assert "HOTA 1.000" in perfect or "HOTA n/a" in perfect  # HOTA needs the eval extra's trackeval

    assert main(["eval-tracks", str(tracks), str(gt)]) == 0
    scored = capsys.readouterr().out
    print(scored)
    fields = scored.split()
    mota, idf1 = float(fields[fields.index("MOTA") + 1]), float(fields[fields.index("IDF1") + 1])
    assert 0.6 < mota < 1.0 and 0.6 < idf1 < 1.0  # a real tracker on real detections: good, not perfect


def test_replay_command_writes_the_exports(replay_environ, monkeypatch, tmp_path, capsys):
    for name, value in replay_environ.items():
        monkeypatch.setenv(name, value)
    tracks = tmp_path / "t.txt"
    args = ["replay", str(sequence_dir() / "TUD-Stadtmitte.mp4"), "--max-seconds", "1"]
    args += ["--config", str(ROOT / "configs" / "replay-tud-stadtmitte.yaml"), "--tracks-out", str(tracks)]
    assert main(args) == 0
    frames = {int(line.split(",")[0]) for line in tracks.read_text().splitlines()}
    assert max(frames) in (25, 26)  # one second of a 25 fps clip, numbered from 1
