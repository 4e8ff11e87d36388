"""End-to-end replay of the shared clips through the real chain: motion gate, YOLOX-Nano, tracker, rules.

Expected numbers come from watching the clips, not from running the pipeline:

entrance-one-by-one.mp4 (768x432, 10 fps, 1394 frames). I extracted every 10th frame into
contact sheets with frame numbers burned in, then every 2nd frame around each arrival and
departure, and looked at them. Six people visit the table one at a time. Each appears at the
bottom edge (feet below the picture, coming up from the bottom left), walks up to stand just in
front of the table, and leaves by walking to the right and out through the right edge; nobody
leaves downwards and nobody comes in from the right. First and last frame each person is
visible (frame / 10 = clip seconds):

    visitor  appears  leaves      visitor  appears  leaves
    1 (grey cardigan)   60   196   4 (black t-shirt)   746   866
    2 (black hoodie)   228   446   5 (grey cardigan)   926  1198
    3 (long hair)      502   698   6 (grey shirt)     1236  1358

configs/replay-entrance.yaml has two directed lines on the floor, inward = toward the table:
`floor`, just above the bottom edge across the lower left two thirds (everyone walks in over
it, nobody walks out over it): in 6, out 0; and `exit`, a vertical line right of the table
(everyone walks out over it, nobody in): in 0, out 6. Its intrusion zone `table` covers the
floor around the table where each visitor stands: 6 visits, so 6 start and 6 end alerts.

hall-crowd-meva-g330.mp4 (480x360, 30 fps, ~4x time-compressed, 75 s of clip time). From
contact sheets of every 60th frame (2 s of clip time) and full frames with a grid: at the start
a crowd of about ten stands and walks on the floor in front of the seating; it disperses to
the seats at the back between about 12 and 18 s; from 20 s to 40 s the floor is empty apart
from a single walker now and then. A few people cross the floor again around 42-47 s and
70-75 s (four or five at most, briefly), which this test leaves to the rule either way.
"""

from __future__ import annotations

import json
from datetime import datetime
from io import StringIO

import cv2
import pytest

from edge_agent.cli.main import main
from edge_agent.clock import FakeClock
from edge_agent.config import load_config
from edge_agent.events import Alert, JsonLinesSink
from edge_agent.replay import ReplayOptions, replay_clip
from tests.support.assets import ROOT, footage

pytestmark = [pytest.mark.assets, pytest.mark.slow]

T0 = 1_767_225_600.0
FPS = 10.0
VISITS = [(60, 196), (228, 446), (502, 698), (746, 866), (926, 1198), (1236, 1358)]  # frames, by eye
VISIT_WINDOWS = [(start / FPS, end / FPS) for start, end in VISITS]


@pytest.fixture(scope="module")
def environ(replay_environ):
    return replay_environ


def clip_seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() - T0


def visit_of(seconds: float, slack: float = 0.5) -> int | None:
    for index, (start, end) in enumerate(VISIT_WINDOWS):
        if start - slack <= seconds <= end + slack:
            return index
    return None


def test_entrance_replay_counts_people_in_and_out_and_each_visit_once(environ, tmp_path):
    config = load_config(ROOT / "configs" / "replay-entrance.yaml", environ=environ)
    printed = StringIO()
    annotated = tmp_path / "entrance.mp4"
    result = replay_clip(
        config,
        footage("entrance-one-by-one.mp4"),
        ReplayOptions(sink=JsonLinesSink(printed), annotate=annotated, clock=FakeClock(wall=T0)),
    )

    assert result.line_counts == {"floor": {"in": 6, "out": 0}, "exit": {"in": 0, "out": 6}}

    entering = [a for a in result.alerts if a.rule == "entering"]
    leaving = [a for a in result.alerts if a.rule == "leaving"]
    assert [visit_of(clip_seconds(a.started_at)) for a in entering] == [0, 1, 2, 3, 4, 5]
    assert [visit_of(clip_seconds(a.started_at)) for a in leaving] == [0, 1, 2, 3, 4, 5]
    for alert, (start, _end) in zip(entering, VISIT_WINDOWS):
        assert alert.details.direction == "in" and clip_seconds(alert.started_at) <= start + 4.0
    for alert, (_start, end) in zip(leaving, VISIT_WINDOWS):
        assert alert.details.direction == "out" and clip_seconds(alert.started_at) >= end - 3.0

    visits = [a for a in result.alerts if a.rule == "table-visit"]
    starts = [a for a in visits if a.phase == "start"]
    ends = {a.related_event_id: a for a in visits if a.phase == "end"}
    assert len(starts) == 6 and len(ends) == 6  # once per visit, not per frame
    assert [visit_of(clip_seconds(a.started_at)) for a in starts] == [0, 1, 2, 3, 4, 5]
    for start in starts:
        end = ends[start.event_id]
        assert visit_of(clip_seconds(end.ended_at)) == visit_of(clip_seconds(start.started_at))
        assert end.details.duration_s >= 5.0 and end.details.peak_count == 1
        assert start.details.zone == "table" and start.details.objects

    lines = printed.getvalue().splitlines()  # the sink saw exactly the alerts, as valid JSON
    assert [Alert.model_validate_json(line).event_id for line in lines] == [a.event_id for a in result.alerts]
    assert "image" not in printed.getvalue()

    video = cv2.VideoCapture(str(annotated))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == result.chain.frames
    assert (int(video.get(cv2.CAP_PROP_FRAME_WIDTH)), int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (768, 432)
    video.release()


def test_hall_crowd_fires_when_the_floor_fills_and_ends_when_it_empties(environ):
    config = load_config(ROOT / "configs" / "replay-hall.yaml", environ=environ)
    result = replay_clip(config, footage("hall-crowd-meva-g330.mp4"), ReplayOptions(clock=FakeClock(wall=T0)))

    crowd = [a for a in result.alerts if a.rule == "hall-crowd"]
    starts = [a for a in crowd if a.phase == "start"]
    ends = {a.related_event_id: a for a in crowd if a.phase == "end"}
    assert starts, "the crowd at the start of the clip was not reported"
    first = starts[0]
    assert clip_seconds(first.started_at) <= 5.0
    assert first.details.count >= 5
    first_end = ends[first.event_id]
    assert 12.0 <= clip_seconds(first_end.ended_at) <= 25.0  # dispersed between ~12 and ~18 s
    assert first_end.details.peak_count >= 6 and first_end.details.extra is None  # ended by itself
    for start in starts:  # every episode ends, and none is open while the floor is empty
        end = ends[start.event_id]
        opened, closed = clip_seconds(start.started_at), clip_seconds(end.ended_at)
        assert closed <= 25.0 or opened >= 40.0


def test_replay_command_prints_json_lines_and_a_report(environ, monkeypatch, capsys):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    code = main(
        [
            "replay",
            str(footage("entrance-one-by-one.mp4")),
            "--config",
            str(ROOT / "configs" / "replay-entrance.yaml"),
            "--report",
            "--max-seconds",
            "12",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    alerts = [json.loads(line) for line in out.splitlines()]
    assert [(a["rule"], a["phase"]) for a in alerts[:2]] == [("entering", "instant"), ("table-visit", "start")]
    assert alerts[-1]["phase"] == "end" and alerts[-1]["details"]["extra"] == {"reason": "source_ended"}
    assert "line floor: in 1 out 0" in err and "table-visit" in err


def test_replay_command_names_what_is_wrong(environ, monkeypatch, capsys, tmp_path):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    config = str(ROOT / "configs" / "replay-entrance.yaml")
    assert main(["replay", str(tmp_path / "missing.mp4"), "--config", config]) == 66
    assert "missing.mp4 does not exist" in capsys.readouterr().err
    assert main(["replay", str(footage("entrance-one-by-one.mp4")), "--config", config, "--camera", "lobby"]) == 64
    assert "camera 'lobby' is not in the config" in capsys.readouterr().err
