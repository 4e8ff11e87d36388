"""Polygons, directed lines and arming schedules, including edges and config errors."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from edge_agent.config.geometry import LineConfig
from edge_agent.config.schedule import TimeRange
from edge_agent.rules.geometry import IN, OUT, UNKNOWN, DirectedLine, Polygon
from edge_agent.rules.schedule import ArmingSchedule


def test_polygon_contains_concave_shape():
    # An L shape: the notch at the top right is outside.
    shape = Polygon("l", [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.1, 0.9]])
    assert shape.contains(0.3, 0.3)
    assert shape.contains(0.7, 0.7)
    assert not shape.contains(0.7, 0.3)
    assert not shape.contains(0.05, 0.5)
    assert not shape.contains(0.95, 0.95)


@given(st.floats(0, 1), st.floats(0, 1))
def test_rectangle_polygon_matches_bounds(x, y):
    rect = Polygon("r", [[0.2, 0.3], [0.7, 0.3], [0.7, 0.8], [0.2, 0.8]])
    strictly_inside = 0.2 < x < 0.7 and 0.3 < y < 0.8
    strictly_outside = x < 0.2 or x > 0.7 or y < 0.3 or y > 0.8
    if strictly_inside:
        assert rect.contains(x, y)
    if strictly_outside:
        assert not rect.contains(x, y)


def test_directed_line_sides_follow_in_side_and_margin():
    line = DirectedLine("door", (0.0, 0.5), (1.0, 0.5), in_side=(0.5, 0.9), margin=0.02)
    assert line.side(0.5, 0.8) == IN
    assert line.side(0.5, 0.2) == OUT
    assert line.side(0.5, 0.515) == UNKNOWN
    assert line.side(0.5, 0.485) == UNKNOWN
    flipped = DirectedLine("door", (1.0, 0.5), (0.0, 0.5), in_side=(0.5, 0.9))
    assert flipped.side(0.5, 0.8) == IN  # direction of the points does not matter, in_side does


def test_passes_through_respects_the_segment_ends():
    line = DirectedLine("gate", (0.4, 0.5), (0.6, 0.5), in_side=(0.5, 0.1), margin=0.01)
    assert line.passes_through((0.5, 0.7), (0.5, 0.3))
    assert line.passes_through((0.605, 0.7), (0.605, 0.3))  # within the margin of the end
    assert not line.passes_through((0.7, 0.7), (0.7, 0.3))
    assert not line.passes_through((0.5, 0.7), (0.5, 0.6))  # does not reach it


def test_line_config_rejects_in_side_on_the_line():
    with pytest.raises(ValidationError, match="in_side must not lie on the line"):
        LineConfig(points=[[0.0, 0.5], [1.0, 0.5]], in_side=[0.3, 0.5])


def _at(text: str, zone: str = "Europe/Berlin") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_schedule_window_past_midnight_belongs_to_its_start_day():
    schedule = ArmingSchedule([TimeRange(days=["fri"], start="22:00", end="06:00")], "Europe/Berlin")
    assert not schedule.armed(_at("2026-01-09T21:59"))  # Friday
    assert schedule.armed(_at("2026-01-09T22:00"))
    assert schedule.armed(_at("2026-01-10T05:59"))  # Saturday morning
    assert not schedule.armed(_at("2026-01-10T06:00"))
    assert not schedule.armed(_at("2026-01-10T22:30"))  # Saturday night is not in the days
    assert not schedule.armed(_at("2026-01-09T05:00"))  # Friday morning belongs to Thursday


def test_schedule_end_of_day_and_site_time_zone():
    schedule = ArmingSchedule([TimeRange(days=["sun"], start="18:00", end="24:00")], "Asia/Singapore")
    assert schedule.armed(_at("2026-01-11T23:59", "Asia/Singapore"))
    assert not schedule.armed(_at("2026-01-12T00:00", "Asia/Singapore"))
    # 10:30 UTC on Sunday is 18:30 in Singapore
    assert schedule.armed(_at("2026-01-11T10:30", "UTC"))
    assert ArmingSchedule([], "UTC").armed(0.0)


def test_schedule_across_daylight_saving_change():
    # Europe/Berlin springs forward on 2026-03-29 at 02:00 -> 03:00.
    schedule = ArmingSchedule([TimeRange(start="01:00", end="04:00")], "Europe/Berlin")
    assert schedule.armed(_at("2026-03-29T03:30"))
    assert not schedule.armed(_at("2026-03-29T04:00"))


def test_time_range_rejects_empty_and_bad_windows():
    with pytest.raises(ValidationError, match="window would be empty"):
        TimeRange(start="08:00", end="08:00")
    with pytest.raises(ValidationError, match="begins at 00:00"):
        TimeRange(start="24:00", end="06:00")
    with pytest.raises(ValidationError, match="HH:MM"):
        TimeRange(start="8:00", end="09:00")
