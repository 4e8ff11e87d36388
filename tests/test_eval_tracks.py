"""`edge-agent eval-tracks` on small hand-made MOTChallenge files (the real sequence: test_tracking_truth.py)."""

from __future__ import annotations

import sys

import pytest

from edge_agent.cli.main import main

GT = (
    "1,1,10,10,20,40,1,-1,-1,-1\n1,2,100,10,20,40,1,-1,-1,-1\n2,1,12,10,20,40,1,-1,-1,-1\n2,2,102,10,20,40,1,-1,-1,-1\n"
)


def test_scores_a_track_file_against_ground_truth(tmp_path, capsys):
    gt, tracks = tmp_path / "gt.txt", tmp_path / "tracks.txt"
    gt.write_text(GT)
    # frame 1 right; frame 2: person 2 is reported under person 1's id and person 1 is missed
    tracks.write_text("1,7,10,10,20,40,0.9,-1,-1,-1\n1,8,100,10,20,40,0.9,-1,-1,-1\n2,7,102,10,20,40,0.9,-1,-1,-1\n")
    assert main(["eval-tracks", str(tracks), str(gt)]) == 0
    out = capsys.readouterr().out
    assert "precision 1.000" in out and "recall 0.750" in out and "ID switches 1" in out
    assert "MOTA 0.500" in out  # 1 miss + 1 switch over 4 objects


def test_hota_comes_from_trackeval_when_it_is_installed(tmp_path, capsys):
    # trackeval is the `eval` extra, not the CI venv's: it drags in the GUI build of OpenCV
    # (libGL) beside the headless one the box runs. The no-trackeval path is tested below.
    pytest.importorskip("trackeval", reason="the eval extra (pip install '.[eval]') is not installed")
    gt, tracks = tmp_path / "gt.txt", tmp_path / "tracks.txt"
    gt.write_text(GT)
    tracks.write_text("1,7,10,10,20,40,0.9,-1,-1,-1\n1,8,100,10,20,40,0.9,-1,-1,-1\n2,7,102,10,20,40,0.9,-1,-1,-1\n")
    assert main(["eval-tracks", str(tracks), str(gt)]) == 0
    hota = float(capsys.readouterr().out.split("HOTA ")[1].split()[0])
    assert 0.5 < hota < 1.0  # a quarter of the boxes lost or switched, the rest exact


def test_without_trackeval_there_is_no_hota_but_the_rest_is_scored(tmp_path, capsys, monkeypatch):
    gt = tmp_path / "gt.txt"
    gt.write_text(GT)
    monkeypatch.setitem(sys.modules, "trackeval.metrics", None)
    monkeypatch.setitem(sys.modules, "trackeval", None)
    assert main(["eval-tracks", str(gt), str(gt)]) == 0
    out = capsys.readouterr().out
    assert "MOTA 1.000" in out and "HOTA n/a (pip install trackeval)" in out


def test_says_how_to_install_the_library_when_it_is_missing(tmp_path, capsys, monkeypatch):
    gt = tmp_path / "gt.txt"
    gt.write_text(GT)
    monkeypatch.setitem(sys.modules, "motmetrics", None)  # import fails as if not installed
    assert main(["eval-tracks", str(gt), str(gt)]) == 69
    assert "pip install 'edge-agent[eval]'" in capsys.readouterr().err


def test_missing_files_are_named(tmp_path, capsys):
    assert main(["eval-tracks", str(tmp_path / "t.txt"), str(tmp_path / "gt.txt")]) == 66
    assert "t.txt does not exist" in capsys.readouterr().err
