"""Line crossing on scripted tracks: direction, standing on the line, jitter, lost and found, listeners."""

from __future__ import annotations

from edge_agent.events import Box, LineCrossing, Track
from tests.test_rules import Scene, person


def counting(**extra) -> dict:
    return {"name": "count", "type": "line_crossing", "line": "door", "alert_direction": "in", "cooldown": 0, **extra}


def walk(scene: Scene, track_id: int, ys, x: float = 0.5, cls: str = "person", frames: int = 2) -> None:
    """Feet at each y for `frames` detector runs (the line's min_frames is 2 by default)."""
    for y in ys:
        for _ in range(frames):
            scene.step(person(track_id, x, y, cls=cls))


def test_walking_in_and_out_counts_each_once_and_alerts_on_the_chosen_direction():
    scene = Scene(counting())  # line y=0.5, in side above (toward y=0.2)
    walk(scene, 1, [0.9, 0.8, 0.7, 0.6, 0.55, 0.45, 0.4, 0.3])
    walk(scene, 2, [0.2, 0.3, 0.4, 0.6, 0.7])
    assert scene.engine.line_counts() == {"cam": {"door": {"in": 1, "out": 1}}}
    instant = scene.alerts("instant")
    assert len(instant) == 1
    assert instant[0].type == "line_crossing"
    assert instant[0].details.direction == "in" and instant[0].details.line == "door"
    assert instant[0].details.track_ids == [1]
    assert [(c.track_id, c.direction) for c in scene.crossings] == [(1, "in"), (2, "out")]
    assert all(isinstance(c, LineCrossing) and c.camera_id == "cam" and c.line == "door" for c in scene.crossings)


# a band of 0.02 (the default is 0.01, bench/bench_counts.py): the jitter below is inside it
BAND_002 = {"points": [[0.0, 0.5], [1.0, 0.5]], "in_side": [0.5, 0.2], "margin": 0.02}


def test_standing_on_the_line_and_jitter_inside_the_band_do_not_count():
    scene = Scene(counting(), line=BAND_002)
    walk(scene, 1, [0.8, 0.7])
    walk(scene, 1, [0.5, 0.515, 0.49, 0.505, 0.485, 0.51] * 20)  # ±0.015 around the line (margin 0.02)
    assert scene.engine.line_counts()["cam"]["door"] == {"in": 0, "out": 0}
    walk(scene, 1, [0.4, 0.3])  # finally steps through
    assert scene.engine.line_counts()["cam"]["door"] == {"in": 1, "out": 0}


def test_jitter_across_the_band_after_crossing_counts_only_real_reversals():
    scene = Scene(counting(alert_direction="both"), line=BAND_002)
    walk(scene, 1, [0.7, 0.45, 0.51, 0.49, 0.515, 0.47, 0.3])  # in, then wobbles inside the band
    assert scene.engine.line_counts()["cam"]["door"] == {"in": 1, "out": 0}
    walk(scene, 1, [0.6, 0.4])  # a real step back out and in again
    assert scene.engine.line_counts()["cam"]["door"] == {"in": 2, "out": 1}
    assert len(scene.alerts("instant")) == 3


def test_track_lost_and_found_keeps_its_side():
    scene = Scene(counting())
    walk(scene, 1, [0.8, 0.7])
    scene.step(seconds=1.5)  # occluded, tracker kept the id
    walk(scene, 1, [0.3, 0.2])
    assert scene.engine.line_counts()["cam"]["door"] == {"in": 1, "out": 0}


def test_passing_beside_the_segment_is_not_a_crossing():
    line = {"points": [[0.4, 0.5], [0.6, 0.5]], "in_side": [0.5, 0.2]}
    scene = Scene(counting(), line=line)
    walk(scene, 1, [0.8, 0.6, 0.4, 0.2], x=0.9)  # beside the end of the line
    walk(scene, 2, [0.8, 0.6, 0.4, 0.2], x=0.5)  # through it
    assert scene.engine.line_counts()["cam"]["door"] == {"in": 1, "out": 0}


def test_counters_count_line_classes_and_rules_filter_their_own():
    line = {"points": [[0.0, 0.5], [1.0, 0.5]], "in_side": [0.5, 0.2], "classes": ["person"]}
    scene = Scene(counting(classes=["bicycle"]), line=line)
    walk(scene, 1, [0.8, 0.2], cls="bicycle")
    walk(scene, 2, [0.8, 0.2])
    assert scene.engine.line_counts()["cam"]["door"] == {"in": 1, "out": 0}  # only the person counted
    assert [c.track_id for c in scene.crossings] == [2]
    assert [a.details.track_ids for a in scene.alerts("instant")] == [[1]]  # the rule alerts on the bicycle


def test_per_track_cooldown_and_schedule():
    scene = Scene(counting(alert_direction="both", cooldown=30))
    walk(scene, 1, [0.8, 0.2, 0.8, 0.2])
    assert len(scene.alerts("instant")) == 1
    assert scene.engine.line_counts()["cam"]["door"] == {"in": 2, "out": 1}
    assert scene.engine.rule_counts()["count"]["suppressed"] == 2


def test_a_failing_listener_does_not_stop_counting():
    scene = Scene(counting())

    def broken(crossing):
        raise RuntimeError("subscriber bug")

    scene.engine.add_crossing_listener(broken)
    walk(scene, 1, [0.8, 0.2])
    walk(scene, 2, [0.8, 0.2])
    assert scene.engine.line_counts()["cam"]["door"]["in"] == 2
    assert scene.engine.listener_errors == 2
    assert len(scene.crossings) == 2


def test_a_one_frame_glitch_across_the_line_is_not_a_crossing():
    scene = Scene(counting(alert_direction="both"))
    walk(scene, 1, [0.3], frames=3)
    walk(scene, 1, [0.7], frames=1)  # one box reaching down past the line (a long stride)
    walk(scene, 1, [0.3], frames=3)
    assert scene.engine.line_counts()["cam"]["door"] == {"in": 0, "out": 0}
    walk(scene, 1, [0.7], frames=2)
    assert scene.engine.line_counts()["cam"]["door"] == {"in": 0, "out": 1}


def test_a_track_first_seen_past_the_line_counts_from_its_history():
    """The tracker confirms a track a frame or two after it appears; its foot history still shows the crossing."""
    scene = Scene(counting())
    track = Track(5, "person", Box(0.45, 0.0, 0.55, 0.3), 0.9, 0.0, 0.0)
    track.foot_points.extend([(0.0, 0.5, 0.8), (0.2, 0.5, 0.7), (0.4, 0.5, 0.35), (0.6, 0.5, 0.3)])
    scene.step(track)
    assert scene.engine.line_counts()["cam"]["door"] == {"in": 1, "out": 0}
    assert scene.alerts("instant")[0].details.track_ids == [5]
