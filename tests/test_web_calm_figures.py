"""The overview's calm figures: a motion-gated camera at rest reads "idle (no motion)", not "0 fps" (views.py)."""

from __future__ import annotations

import pytest

from edge_agent.web.views import motion_idle

RESTING = {"online": True, "capture_fps": 10.0, "processed_fps": 0.0, "live_tracks": 0}


@pytest.mark.parametrize(
    "change, interval, idle",
    [
        ({}, 10.0, True),  # frames arrive, nothing moves, nobody tracked
        ({"processed_fps": 0.1}, 10.0, True),  # only the periodic full check (one per 10 s)
        ({"processed_fps": 0.5}, 10.0, False),  # motion: the detector runs
        ({"processed_fps": 0.5}, 2.0, True),  # a full check every 2 s is 0.5 fps at rest
        ({"live_tracks": 2}, 10.0, False),  # someone is tracked: 0 fps would be a fault, shown as a number
        ({"online": False}, 10.0, False),  # an offline camera is offline, not idle
        ({"capture_fps": 0.0}, 10.0, False),  # no frames: not idle either
        ({}, None, False),  # not motion-gated: 0 fps is 0 fps
    ],
)
def test_idle_is_a_gated_camera_at_rest(change, interval, idle):
    assert motion_idle({**RESTING, **change}, interval) is idle


def test_missing_figures_are_not_idle():
    assert motion_idle({}, 10.0) is False
