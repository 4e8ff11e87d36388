"""The tracker on scripted detection sequences: ids, confirmation, occlusion, low scores, crossings."""

from __future__ import annotations

from edge_agent.config.tracking import TrackerConfig
from edge_agent.events import Box, Detection, FrameDetections
from edge_agent.rules.geometry import DirectedLine, LineCounter
from edge_agent.tracking import Tracker


def det(x: float, y: float, score: float = 0.9, cls: str = "person", w: float = 0.1, h: float = 0.3) -> Detection:
    """A detection whose box centre is at (x, y)."""
    return Detection(cls, score, Box(x - w / 2, y - h / 2, x + w / 2, y + h / 2))


class Feed:
    def __init__(self, tracker: Tracker, fps: float = 5.0):
        self.tracker = tracker
        self.t = 50.0
        self.seq = 0
        self.dt = 1.0 / fps

    def __call__(self, *detections: Detection, gap: float | None = None):
        self.seq += 1
        self.t += self.dt if gap is None else gap
        return self.tracker.update(FrameDetections("cam", self.seq, 1e9 + self.t, self.t, detections))


def test_new_track_is_confirmed_after_min_hits_and_keeps_its_id():
    feed = Feed(Tracker(TrackerConfig(min_hits=2)))
    assert feed(det(0.2, 0.5)) == []
    tracks = feed(det(0.22, 0.5))
    assert [t.track_id for t in tracks] == [1]
    for i in range(20):
        tracks = feed(det(0.24 + 0.02 * i, 0.5))
        assert [t.track_id for t in tracks] == [1]
    track = tracks[0]
    assert track.hits == 22 and track.missed == 0
    assert len(track.foot_points) == 22
    _, fx, fy = track.foot_points[-1]
    assert (fx, fy) == (track.box.foot[0], track.box.foot[1])


def test_single_frame_noise_never_becomes_a_track():
    feed = Feed(Tracker(TrackerConfig(min_hits=2)))
    for i in range(10):
        assert feed(det(0.1 * i, 0.5) if i % 2 == 0 else det(0.1 * i, 0.1)) == []
    assert not feed.tracker.has_live_tracks


def test_two_people_crossing_paths_keep_their_ids():
    feed = Feed(Tracker())
    ids_by_side = {}
    for i in range(30):
        a = det(0.2 + 0.02 * i, 0.5)  # walks right
        b = det(0.8 - 0.02 * i, 0.55)  # walks left, slightly lower
        tracks = feed(a, b)
        if i == 3:
            ids_by_side = {round(t.box.center[0], 2) < 0.5: t.track_id for t in tracks}
    final = {round(t.box.center[0], 2) > 0.5: t.track_id for t in tracks}
    assert ids_by_side == final  # the one that started left is now on the right


def test_track_survives_occlusion_with_constant_velocity_prediction():
    feed = Feed(Tracker(TrackerConfig(max_lost=2.0)))
    for i in range(10):
        tracks = feed(det(0.1 + 0.03 * i, 0.5))
    track_id = tracks[0].track_id
    for _ in range(5):  # 1 s behind a pillar; it keeps walking
        assert feed() == []
    assert feed.tracker.has_live_tracks
    tracks = feed(det(0.1 + 0.03 * 15, 0.5))
    assert [t.track_id for t in tracks] == [track_id]
    assert tracks[0].missed == 0


def test_track_is_dropped_after_max_lost_seconds():
    feed = Feed(Tracker(TrackerConfig(max_lost=1.0)))
    for _ in range(5):
        feed(det(0.5, 0.5))
    feed(gap=1.5)
    assert not feed.tracker.has_live_tracks
    feed(det(0.5, 0.5))
    tracks = feed(det(0.5, 0.5))
    assert [t.track_id for t in tracks] == [2]  # a new object, a new id


def test_low_score_detections_keep_a_track_but_never_start_one():
    feed = Feed(Tracker(TrackerConfig(high_score=0.5, low_score=0.1, max_lost=0.5)))
    for i in range(5):
        tracks = feed(det(0.3 + 0.01 * i, 0.5))
    for i in range(15):  # half hidden for 3 s: low scores only, longer than max_lost
        tracks = feed(det(0.35 + 0.01 * i, 0.5, score=0.2), det(0.8, 0.2, score=0.2))
        assert [t.track_id for t in tracks] == [1]
    assert tracks[0].score == 0.9  # the score is the last confident one
    assert len(feed.tracker.live_tracks()) == 1


def test_overlapping_objects_of_different_classes_keep_separate_ids():
    feed = Feed(Tracker())
    mappings = []
    for _ in range(6):  # a person standing over a bicycle: nearly the same box
        tracks = feed(det(0.5, 0.5), det(0.5, 0.52, cls="bicycle", w=0.12, h=0.26))
        mappings.append({t.class_name: t.track_id for t in tracks})
    assert len(set(mappings[-1].values())) == 2
    assert all(m == mappings[-1] for m in mappings[1:])


def test_skipped_frames_still_associate_a_moving_object():
    feed = Feed(Tracker(TrackerConfig(max_lost=3.0)))
    for i in range(6):
        tracks = feed(det(0.1 + 0.04 * i, 0.5, w=0.08))
    # the motion gate or a slow detector skipped 1 s; the object moved 0.2 (more than its width)
    tracks = feed(det(0.1 + 0.04 * 5 + 0.2, 0.5, w=0.08), gap=1.0)
    assert [t.track_id for t in tracks] == [1]


def test_a_long_stream_of_people_leaves_bounded_state_behind():
    """Thousands of tracks come and go (a day at a door): the per-track memories do not grow with them."""
    tracker = Tracker(TrackerConfig(min_hits=2, max_lost=1.0))
    counter = LineCounter(DirectedLine("door", (0.0, 0.55), (1.0, 0.55), in_side=(0.5, 0.9)), ["person"])
    feed = Feed(tracker)
    biggest_tracker = biggest_counter = crossings = 0
    people, frames_each, arrive_every = 2000, 10, 5
    for frame in range(people * arrive_every + frames_each):
        walking = [
            k
            for k in range(max(0, frame // arrive_every - 2), min(people, frame // arrive_every + 1))
            if 0 <= frame - k * arrive_every < 10
        ]
        # Two lanes, so the person before is never mistaken for the next one; each walks across the line.
        tracks = feed(*(det(0.3 if k % 2 else 0.7, 0.3 + 0.05 * (frame - k * arrive_every)) for k in walking))
        crossings += len(counter.update(tracks, feed.t))
        biggest_tracker = max(biggest_tracker, len(tracker._states))
        biggest_counter = max(biggest_counter, len(counter._memory))
    assert crossings == people  # every person was followed and counted once
    assert tracker._next_id == people + 1
    assert biggest_tracker <= 2 + 3  # the two walking plus those lost for less than max_lost
    assert biggest_counter <= 64  # pruned once it reaches 64 (forget_after 60 s)


def test_a_doubtful_box_extends_a_track_but_does_not_start_one():
    feed = Feed(Tracker(TrackerConfig(high_score=0.5, start_score=0.6)))
    for i in range(5):  # scored 0.55: matched first-stage if a track were there, but none may start from it
        assert feed(det(0.2 + 0.01 * i, 0.5, score=0.55)) == []
    assert not feed.tracker.has_live_tracks
    feed(det(0.5, 0.5, score=0.9))
    for i in range(5):
        tracks = feed(det(0.5 + 0.01 * i, 0.5, score=0.55))
        assert [t.track_id for t in tracks] == [1]


def test_coasting_is_never_reported_and_low_scores_do_not_bridge_a_gap():
    feed = Feed(Tracker(TrackerConfig(low_score=0.1, max_lost=2.0)))
    for i in range(5):
        tracks = feed(det(0.3 + 0.01 * i, 0.5))
    assert [t.track_id for t in tracks] == [1]
    assert feed() == []  # missed one run: alive (has_live_tracks) but not reported where it is predicted
    assert feed.tracker.has_live_tracks
    for _ in range(3):  # a low-score box where it was: not enough to claim the person is back
        assert feed(det(0.35, 0.5, score=0.3)) == []
    tracks = feed(det(0.35, 0.5, score=0.8))
    assert [t.track_id for t in tracks] == [1]
    assert feed(det(0.35, 0.5, score=0.3))[0].track_id == 1  # once seen again, a low score extends it
