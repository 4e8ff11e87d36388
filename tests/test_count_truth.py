"""Truth crossings and occupancy from a hand-made MOTChallenge gt.txt, and the count scores (eval-counts' maths)."""

from __future__ import annotations

import pytest

from edge_agent.cli.main import main
from edge_agent.replay import count_truth as truth
from edge_agent.replay.count_scoring import count_error, line_scores, match_crossings, occupancy_score
from edge_agent.rules.geometry import DirectedLine, Polygon

WIDTH, HEIGHT = 640, 480  # auto_lines(2): v0.500 at x = 320 px (in = leftward), h0.500 at y = 240 px (in = upward)


def row(frame: int, person: int, foot_x: float, foot_y: float, conf: int = 1) -> str:
    """A 20 x 40 px box whose bottom-centre is (foot_x, foot_y)."""
    return f"{frame},{person},{foot_x - 10},{foot_y - 40},20,40,{conf},-1,-1,-1"


GT = "\n".join(
    [
        # 1 walks right along y = 400: out over v0.500 between frames 2 and 3
        *(row(f, 1, x, 400) for f, x in ((1, 300), (2, 315), (3, 330), (4, 345))),
        # 2 walks left, stops exactly on the line (keeps its side) and goes on: one in, at frame 4
        *(row(f, 2, x, 100) for f, x in ((1, 350), (2, 330), (3, 320), (4, 300))),
        # 3 walks down across h0.500 (out), with a gap in its annotations (consecutive rows still count)
        *(row(f, 3, 100, y) for f, y in ((1, 200), (2, 230), (5, 260))),
        # 4 jitters across v0.500 and back: two crossings, as the annotations say
        *(row(f, 4, x, 300) for f, x in ((1, 318), (2, 322), (3, 318))),
        # 5 is an "ignore" row (conf 0) right of the line after being left of it: not a crossing
        row(1, 5, 200, 440),
        row(2, 5, 400, 440, conf=0),
    ]
)


@pytest.fixture
def paths(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text(GT + "\n")
    return truth.read_foot_paths(gt, WIDTH, HEIGHT)


def directed(lines: dict) -> dict[str, DirectedLine]:
    return {name: DirectedLine(name, c["points"][0], c["points"][1], c["in_side"]) for name, c in lines.items()}


def test_crossings_are_consecutive_foot_points_on_opposite_sides(paths):
    crossings = truth.truth_crossings(paths, directed(truth.auto_lines(2)))
    found = {(c.object_id, c.line, c.direction, c.frame) for c in crossings}
    assert found == {
        (1, "v0.500", "out", 3),
        (2, "v0.500", "in", 4),
        (3, "h0.500", "out", 5),
        (4, "v0.500", "out", 2),
        (4, "v0.500", "in", 3),
    }


def test_foot_points_are_the_bottom_centre_clamped_into_the_picture(tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("7,9,600,400,80,120,1,-1,-1,-1\n")  # box runs 40 px off the right and the bottom
    assert truth.read_foot_paths(gt, WIDTH, HEIGHT) == {9: [(7, 1.0, 1.0)]}
    gt.write_text("7,9,600,oops,80,120,1\n")
    with pytest.raises(ValueError, match=r"gt.txt:1: expected frame,id"):
        truth.read_foot_paths(gt, WIDTH, HEIGHT)


def test_auto_lines_sweep_the_middle_and_grid_zones_tile_the_frame():
    lines = truth.auto_lines(16)
    assert len(lines) == 16
    assert sorted(c["points"][0][0] for n, c in lines.items() if n.startswith("v"))[::7] == [0.2, 0.8]
    zones = {n: Polygon(n, z["points"]) for n, z in truth.grid_zones(3).items()}
    assert [n for n, z in zones.items() if z.contains(0.5, 0.9)] == ["r2c1"]
    with pytest.raises(ValueError, match="even count"):
        truth.auto_lines(3)


def test_occupancy_counts_annotated_feet_per_zone_and_frame(paths):
    zones = {n: Polygon(n, z["points"]) for n, z in truth.grid_zones(2).items()}
    occupancy = truth.occupancy(truth.feet_by_frame(paths), zones, [1, 2, 9])
    assert occupancy[1] == {"r0c0": 1, "r0c1": 1, "r1c0": 3, "r1c1": 0}  # 1, 4 and 5 bottom left
    assert occupancy[2] == {"r0c0": 1, "r0c1": 1, "r1c0": 1, "r1c1": 1}  # 5's ignored row is not counted
    assert occupancy[9] == {"r0c0": 0, "r0c1": 0, "r1c0": 0, "r1c1": 0}


def test_count_error_bias_and_precision():
    timed = [("a", "in", 1.0), ("a", "in", 5.0), ("a", "out", 2.0), ("b", "out", 3.0)]
    scores = line_scores(timed, {"a": {"in": 3, "out": 0}, "b": {"in": 0, "out": 1}})
    error, bias = count_error(scores)
    assert (error, bias) == (pytest.approx(2 / 4), pytest.approx(0 / 4))  # +1 in and -1 out on a cancel out
    agent = [("a", "in", 1.9), ("a", "in", 2.2), ("a", "in", 4.5), ("b", "out", 3.0), ("b", "in", 3.0)]
    match = match_crossings(agent, timed, window=1.0)
    # a/in at 1.0 takes 1.9 (the nearer); 2.2 is more than 1 s from 5.0; 4.5 takes 5.0; b/out matches; b/in has none
    assert (match.matched, match.agent, match.truth) == (3, 5, 4)
    assert match.precision == pytest.approx(0.6) and match.recall == pytest.approx(0.75)


def test_occupancy_mae_and_bias():
    truth_occ = {1: {"z": 2, "y": 0}, 2: {"z": 2, "y": 0}}
    agent_occ = {1: {"z": 1, "y": 0}, 2: {"z": 2, "y": 1}}
    score = occupancy_score(agent_occ, truth_occ, [1, 2])
    assert (score.mae, score.bias, score.mean_truth, score.samples) == (0.5, 0.0, 1.0, 4)
    assert score.relative_mae == 0.5


def test_eval_counts_names_what_is_wrong_in_its_inputs(tmp_path, capsys):
    clip, gt = tmp_path / "clip.mp4", tmp_path / "gt.txt"
    gt.write_text(GT)
    assert main(["eval-counts", str(clip), str(gt)]) == 66
    assert f"clip {clip} does not exist" in capsys.readouterr().err
    clip.write_bytes(b"not a video")
    assert main(["eval-counts", str(clip), str(gt), "--lines", "auto:x"]) == 64
    assert "expected auto:N with a whole number" in capsys.readouterr().err
    lines = tmp_path / "lines.yaml"
    lines.write_text("door:\n  points: [[0, 0.5], [1, 0.5]]\n  in_side: [0.5, 0.5]\n")
    assert main(["eval-counts", str(clip), str(gt), "--lines", str(lines)]) == 64
    assert "lines.yaml: line door: Value error, in_side must not lie on the line" in capsys.readouterr().err
    lines.write_text("- just a list\n")
    assert main(["eval-counts", str(clip), str(gt), "--lines", str(lines)]) == 64
    assert "expected a mapping of line name" in capsys.readouterr().err


def test_net_passages_drop_the_back_and_forth(paths):
    passages = truth.truth_passages(paths, directed(truth.auto_lines(2)))
    # 4 jittered out and back in over v0.500: no passage; 1, 2 and 3 each made one
    assert {(c.object_id, c.line, c.direction) for c in passages} == {
        (1, "v0.500", "out"),
        (2, "v0.500", "in"),
        (3, "h0.500", "out"),
    }
