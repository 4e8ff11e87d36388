"""`edge-agent eval-counts` on the shared TUD-Campus sequence (71 frames, 25 fps) at 5 detector runs a second.

The maths is tested on a hand-made gt.txt in test_count_truth.py; this runs the real chain. Issue 21's sweep of
16 lines gives 46 truth crossings on TUD-Campus; before passages were counted (9d37277) the agent's counts were
0.312 off the net passages at 5/s, now 0.094 (bench/README.md): the test holds them under 0.2.
"""

from __future__ import annotations

import re

import pytest

from edge_agent.cli.main import main
from tests.support.assets import footage

pytestmark = [pytest.mark.assets]


def test_eval_counts_scores_the_sweep_against_the_truth(replay_environ, monkeypatch, capsys):
    for name, value in replay_environ.items():
        monkeypatch.setenv(name, value)
    sequence = footage("mot15/TUD-Campus")
    assert (
        main(["eval-counts", str(sequence / "TUD-Campus.mp4"), str(sequence / "gt" / "gt.txt"), "--detect-fps", "5"])
        == 0
    )
    out = capsys.readouterr().out
    print(out)
    assert "aggregate over 16 lines, 46 truth crossings, detect_fps 5," in out
    net_error = float(re.search(r"against net passages .*: count error ([0-9.]+)", out).group(1))
    assert net_error < 0.2
    precision = float(re.search(r"crossings: precision ([0-9.]+)", out).group(1))
    assert precision >= 0.8
    assert re.search(r"occupancy over \d+ zone-frames: MAE", out)
