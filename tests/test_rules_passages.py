"""Passages, not frames: fragments of one walk stitched, one alert per passage, passages decided when they vanish.

Scripted tracks as the tracker reports them (foot point history, first seen), through the real RuleEngine at 5
detector runs a second. The line `door` is y = 0.5, in = upward (toward y = 0.2), band 0.01, min_frames 2.
"""

from __future__ import annotations

from collections import deque

from edge_agent.events import Box, Track
from edge_agent.rules.stitching import FragmentStitcher
from tests.test_rules import Scene


def counting(**extra) -> dict:
    return {"name": "count", "type": "line_crossing", "line": "door", "alert_direction": "both", **extra}


class Walker:
    """One track id walking: each `at` is one detector run in which the tracker reported it there."""

    def __init__(self, scene: Scene, track_id: int, h: float = 0.3):
        self.scene, self.h = scene, h
        self.track = Track(track_id, "person", Box(0, 0, 0, 0), 0.9, scene.now, scene.now, foot_points=deque(maxlen=32))

    def at(self, x: float, y: float, *others: Track) -> Walker:
        track = self.track
        track.box = Box(x - 0.05, y - self.h, x + 0.05, y)
        track.foot_points.append((self.scene.now, x, y))
        track.last_seen = self.scene.now
        self.scene.step(track, *others)
        return self

    def path(self, x: float, ys) -> Walker:
        for y in ys:
            self.at(x, y)
        return self


def counts(scene: Scene) -> dict[str, int]:
    return scene.engine.line_counts()["cam"]["door"]


def test_a_track_that_breaks_at_the_line_is_one_passage():
    scene = Scene(counting())
    Walker(scene, 1).path(0.5, [0.8, 0.7, 0.6, 0.55])  # 0.42/s up; lost just before the line (behind someone)
    scene.step(seconds=0.4)
    Walker(scene, 2).path(0.5, [0.35, 0.3, 0.25, 0.2])  # found again past it 0.6 s later, as a new id
    assert counts(scene) == {"in": 1, "out": 0}
    assert scene.engine.camera("cam").stitcher.stitched == 1
    assert [(c.track_id, c.direction) for c in scene.crossings] == [(2, "in")]
    assert len(scene.alerts("instant")) == 1


def test_a_new_track_elsewhere_is_not_stitched():
    scene = Scene(counting())
    Walker(scene, 1).path(0.2, [0.8, 0.7, 0.6, 0.55])
    scene.step(seconds=0.4)
    Walker(scene, 2).path(0.8, [0.45, 0.4, 0.3, 0.2])  # someone else, across the picture: first seen past the line
    assert counts(scene) == {"in": 0, "out": 0}


def test_a_fragment_moving_the_other_way_is_not_stitched():
    scene = Scene(counting())
    Walker(scene, 1).path(0.5, [0.8, 0.7, 0.6, 0.55])  # walking up at 0.5/s
    scene.step(seconds=0.4)
    Walker(scene, 2).path(0.5, [0.8, 0.85, 0.9])  # starts where 1 came from, not where it was going
    assert counts(scene) == {"in": 0, "out": 0}


def test_one_alert_per_passage_even_when_the_track_breaks():
    scene = Scene(counting(cooldown=30))
    Walker(scene, 1).path(0.5, [0.8, 0.7, 0.6, 0.45, 0.4])  # in, at 0.5/s
    scene.step(seconds=0.2)
    Walker(scene, 2).path(0.5, [0.2, 0.3, 0.45, 0.6, 0.7])  # the same walk goes on and turns back out
    assert counts(scene) == {"in": 1, "out": 1}  # both count ...
    assert [a.details.direction for a in scene.alerts("instant")] == ["in"]  # ... the passage alerts once


def test_a_track_found_again_after_its_passage_went_on_does_not_count_twice():
    scene = Scene(counting())
    first = Walker(scene, 1).path(0.5, [0.8, 0.7, 0.6, 0.45, 0.4])  # in
    scene.step(seconds=0.2)
    second = Walker(scene, 2).path(0.5, [0.2, 0.15])  # continues the passage
    for y in (0.6, 0.62, 0.6, 0.62):  # the tracker's id 1 comes back on someone standing below the line
        second.track.foot_points.append((scene.now, 0.5, 0.15))
        first.at(0.45, y, second.track)
    assert counts(scene) == {"in": 1, "out": 0}  # not a crossing per frame between 1 and 2
    assert scene.engine.camera("cam").stitcher.stitched == 1


def test_someone_seen_once_past_the_line_then_gone_counts_when_the_passage_vanishes():
    scene = Scene(counting())
    Walker(scene, 1).path(0.5, [0.8, 0.7, 0.6, 0.45])  # one run past the line (min_frames 2), then out of sight
    assert counts(scene) == {"in": 0, "out": 0}
    scene.step(seconds=3.4)  # unseen for longer than the stitching window: what it did is settled
    assert counts(scene) == {"in": 1, "out": 0}
    assert len(scene.alerts("instant")) == 1


def test_the_end_of_a_clip_settles_pending_passages_and_a_camera_stop_does_not():
    for reason, expected in (("source_ended", {"in": 1, "out": 0}), ("camera_stopped", {"in": 0, "out": 0})):
        scene = Scene(counting())
        Walker(scene, 1).path(0.5, [0.8, 0.7, 0.6, 0.45])
        scene.engine.finish("cam", reason)
        assert counts(scene) == expected, reason


def test_a_glitch_at_the_end_of_a_walk_back_on_the_first_side_is_not_a_crossing():
    scene = Scene(counting())
    Walker(scene, 1).path(0.5, [0.8, 0.7, 0.6, 0.45, 0.6, 0.65])  # one box glitch across, then back
    scene.step(seconds=3.4)
    scene.engine.finish("cam", "source_ended")
    assert counts(scene) == {"in": 0, "out": 0}


def test_the_stitcher_hands_a_passage_over_once():
    stitcher = FragmentStitcher(window=2.5)
    scene = Scene()
    a = Walker(scene, 1)
    for t, y in enumerate((0.8, 0.7, 0.6)):
        a.track.foot_points.append((t * 0.2, 0.5, y))
        a.track.box = Box(0.45, y - 0.3, 0.55, y)
        first = stitcher.passages([a.track], t * 0.2)[1]
    b, c = (Walker(scene, n) for n in (2, 3))
    for walker in (b, c):
        walker.track.foot_points.append((1.0, 0.5, 0.35))  # 1 walked up at 0.5/s: at 0.3 by now
        walker.track.box = Box(0.45, 0.05, 0.55, 0.35)
    assert stitcher.passages([b.track], 1.0)[2] == first  # where 1 was heading
    assert stitcher.passages([c.track], 1.2)[3] != first  # the passage is taken
    assert stitcher.stitched == 1
