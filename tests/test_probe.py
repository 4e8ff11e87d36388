"""`edge-agent probe`: a frame from the configured camera, saved with its zones and lines drawn."""

from __future__ import annotations

import cv2
import pytest

from edge_agent.cli.main import main
from edge_agent.rules.annotate import LINE_COLOUR, ZONE_COLOUR
from tests.support.assets import ROOT, assets_dir, footage

pytestmark = pytest.mark.assets


@pytest.fixture
def entrance_config(monkeypatch):
    footage("entrance-one-by-one.mp4")
    monkeypatch.setenv("EDGE_AGENT_ASSETS", str(assets_dir()))
    return str(ROOT / "configs" / "replay-entrance.yaml")


def test_probe_saves_the_frame_with_geometry_and_prints_the_stream(entrance_config, tmp_path, capsys):
    out = tmp_path / "shots" / "entrance.png"
    assert main(["probe", "entrance", "--config", entrance_config, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "resolution: 768x432" in printed
    assert "fps: 10.0 reported" in printed
    assert "zones: table; lines: floor, exit" in printed
    picture = cv2.imread(str(out))
    assert picture.shape == (432, 768, 3)
    # The table zone's left edge runs down x = 0.42 and the exit line down x = 0.72.
    assert tuple(picture[300, round(0.42 * 767)]) == ZONE_COLOUR
    assert tuple(picture[360, round(0.72 * 767)]) == LINE_COLOUR
    original = cv2.VideoCapture(str(footage("entrance-one-by-one.mp4")))
    ok, first = original.read()
    original.release()
    assert ok and abs(int(first[100, 100, 1]) - int(picture[100, 100, 1])) < 12  # the real frame underneath


def test_probe_errors_name_the_problem(entrance_config, tmp_path, capsys):
    assert main(["probe", "lobby", "--config", entrance_config]) == 64
    assert "camera 'lobby' is not in" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    text = (ROOT / "configs" / "replay-entrance.yaml").read_text()
    broken.write_text(text.replace("footage/entrance-one-by-one.mp4", "footage/no-such-clip.mp4"))
    assert main(["probe", "entrance", "--config", str(broken), "--timeout", "2"]) == 69
    err = capsys.readouterr().err
    assert "no-such-clip.mp4" in err
