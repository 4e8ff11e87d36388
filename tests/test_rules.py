"""Zone rules on scripted track sequences: dwell, flicker, lifecycle, cooldown, schedules, hysteresis."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter

from edge_agent.clock import FakeClock
from edge_agent.config.cameras import CameraConfig
from edge_agent.config.rules import VideoRuleConfig
from edge_agent.events import AlertFactory, Box, FrameDetections, ListSink, Track
from edge_agent.rules import RuleEngine

RULE = TypeAdapter(VideoRuleConfig)
ZONE = [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]
# Monday 2026-01-05 12:00 in Singapore
NOON_SGT = datetime(2026, 1, 5, 12, 0, tzinfo=ZoneInfo("Asia/Singapore")).timestamp()


def person(
    track_id: int, x: float, y: float, cls: str = "person", score: float = 0.9, w: float = 0.1, h: float = 0.3
) -> Track:
    """A track whose foot point is at (x, y)."""
    return Track(track_id, cls, Box(x - w / 2, y - h, x + w / 2, y), score, 0.0, 0.0)


class Scene:
    """One camera with a zone `z` and a line `door`, fed scripted tracks at a fixed frame rate."""

    def __init__(
        self,
        *rules: dict,
        timezone: str = "UTC",
        start_wall: float = 1_767_225_600.0,
        line: dict | None = None,
        fps: float = 5.0,
    ):
        camera = CameraConfig(
            id="cam",
            url="file.mp4",
            zones={"z": {"points": ZONE}},
            lines={"door": line or {"points": [[0.0, 0.5], [1.0, 0.5]], "in_side": [0.5, 0.2]}},
        )
        self.sink = ListSink()
        configs = [RULE.validate_python({"camera": "cam", **rule}) for rule in rules]
        factory = AlertFactory("dev", "site", FakeClock(wall=start_wall))
        self.engine = RuleEngine([camera], configs, factory, self.sink, timezone)
        self.crossings = []
        self.engine.add_crossing_listener(self.crossings.append)
        self.wall, self.now, self.seq, self.dt = start_wall, 100.0, 0, 1.0 / fps

    def step(self, *tracks: Track, seconds: float | None = None) -> None:
        """Feed frames with these tracks for `seconds` (default: one frame)."""
        frames = 1 if seconds is None else max(1, round(seconds / self.dt))
        for _ in range(frames):
            self.seq += 1
            frame = FrameDetections("cam", self.seq, self.wall, self.now, ())
            self.engine.process(frame, list(tracks))
            self.wall += self.dt
            self.now += self.dt

    def alerts(self, phase: str | None = None):
        return [a for a in self.sink.alerts if phase is None or a.phase == phase]


def intrusion(**extra) -> dict:
    return {"name": "intr", "type": "intrusion", "zone": "z", "min_dwell": 1.0, "cooldown": 0, **extra}


def test_intrusion_waits_for_min_dwell_then_fires_once_and_ends_with_duration():
    scene = Scene(intrusion(severity="major"))
    scene.step(person(1, 0.5, 0.5), seconds=0.8)
    assert scene.alerts() == []  # 0.8 s < min_dwell
    scene.step(person(1, 0.5, 0.5), seconds=5)
    starts = scene.alerts("start")
    assert len(starts) == 1
    start = starts[0]
    assert start.type == "intrusion" and start.rule == "intr" and start.severity.value == "major"
    assert start.details.zone == "z" and start.details.track_ids == [1] and start.details.count == 1
    assert start.details.objects[0].box == pytest.approx([0.45, 0.2, 0.55, 0.5])
    scene.step(seconds=3)  # empty zone for longer than clear_after (2 s)
    ends = scene.alerts("end")
    assert len(ends) == 1
    end = ends[0]
    assert end.related_event_id == start.event_id
    assert end.details.duration_s == pytest.approx(4.8, abs=0.25)  # from the start alert to the last frame inside
    assert end.details.peak_count == 1 and end.ended_at is not None
    assert scene.engine.rule_counts()["intr"] == {"start": 1, "end": 1, "instant": 0, "suppressed": 0}


def test_intrusion_ignores_flicker_shorter_than_min_dwell():
    scene = Scene(intrusion())
    for _ in range(10):  # in for 0.6 s, out for 3 s: never long enough
        scene.step(person(1, 0.5, 0.5), seconds=0.6)
        scene.step(person(1, 0.5, 0.95), seconds=3)
    assert scene.alerts() == []


def test_one_episode_survives_missed_detections_and_new_ids():
    scene = Scene(intrusion())
    scene.step(person(1, 0.5, 0.5), seconds=2)
    scene.step(seconds=1.0)  # detector missed the person for 1 s (< clear_after)
    scene.step(person(7, 0.5, 0.5), seconds=2)  # tracker gave a new id: still the same visit
    scene.step(seconds=3)
    assert len(scene.alerts("start")) == 1 and len(scene.alerts("end")) == 1
    assert scene.alerts("end")[0].details.track_ids == [1, 7]


def test_filters_class_score_area_and_zone():
    scene = Scene(intrusion(classes=["person"], min_score=0.5, min_area=0.02))
    scene.step(person(1, 0.5, 0.5, cls="dog"), seconds=3)
    scene.step(person(2, 0.5, 0.5, score=0.3), seconds=3)
    scene.step(person(3, 0.5, 0.5, w=0.05, h=0.2), seconds=3)  # area 0.01
    scene.step(person(4, 0.9, 0.5), seconds=3)  # outside the zone
    scene.step(person(5, 0.5, 0.9), seconds=3)  # head in the zone, feet below it
    assert scene.alerts() == []
    scene.step(person(6, 0.5, 0.5), seconds=3)
    assert len(scene.alerts("start")) == 1


def test_cooldown_suppresses_a_new_episode_then_allows_it():
    scene = Scene(intrusion(cooldown=10))
    scene.step(person(1, 0.5, 0.5), seconds=2)
    scene.step(seconds=3)  # ends
    scene.step(person(2, 0.5, 0.5), seconds=2)  # within 10 s of the end: suppressed
    assert len(scene.alerts("start")) == 1
    scene.step(seconds=3)
    scene.step(seconds=10)
    scene.step(person(3, 0.5, 0.5), seconds=2)
    assert len(scene.alerts("start")) == 2
    assert scene.engine.rule_counts()["intr"]["suppressed"] == 1


def test_disabled_rule_is_idle():
    scene = Scene(intrusion(enabled=False))
    scene.step(person(1, 0.5, 0.5), seconds=3)
    assert scene.alerts() == [] and scene.engine.rule_counts() == {}


@pytest.mark.parametrize(
    "start_offset_min, expect_alert",
    [(-1, False), (0, True), (59, True), (60, False)],
)
def test_schedule_boundaries_in_site_time_zone(start_offset_min, expect_alert):
    # Armed 22:00-23:00 site time on Mondays; NOON_SGT + 10 h is Monday 22:00 in Singapore (14:00 UTC).
    rule = intrusion(min_dwell=0, schedule=[{"days": ["mon"], "start": "22:00", "end": "23:00"}])
    wall = NOON_SGT + 10 * 3600 + start_offset_min * 60
    scene = Scene(rule, timezone="Asia/Singapore", start_wall=wall)
    scene.step(person(1, 0.5, 0.5), seconds=0.4)
    assert bool(scene.alerts("start")) is expect_alert


def test_disarming_ends_an_open_episode():
    rule = intrusion(min_dwell=0, severity="major", schedule=[{"days": ["mon"], "start": "12:00", "end": "12:01"}])
    scene = Scene(rule, timezone="Asia/Singapore", start_wall=NOON_SGT + 50)
    scene.step(person(1, 0.5, 0.5), seconds=20)
    assert len(scene.alerts("start")) == 1
    end = scene.alerts("end")[0]
    assert end.details.extra == {"reason": "disarmed"}
    assert end.ended_at.startswith("2026-01-05T04:01:00")
    assert (scene.alerts("start")[0].severity, end.severity) == ("major", "info")


@pytest.mark.parametrize("reason", ["camera_stopped", "source_ended"])
def test_an_end_the_agent_decides_is_info_as_documented(reason):
    """docs/mqtt-api.md: an end the agent decides (camera stopped, source ended) has severity info."""
    scene = Scene(intrusion(min_dwell=0, severity="major"))
    scene.step(person(1, 0.5, 0.5), seconds=2)
    scene.engine.finish(reason=reason)
    (start,), (end,) = scene.alerts("start"), scene.alerts("end")
    assert (start.severity, end.severity, end.details.extra, end.related_event_id) == (
        "major",
        "info",
        {"reason": reason},
        start.event_id,
    )


def test_loitering_fires_after_max_dwell_only():
    scene = Scene({"name": "loit", "type": "loitering", "zone": "z", "max_dwell": 30, "cooldown": 0})
    scene.step(person(1, 0.5, 0.5), seconds=25)
    scene.step(person(1, 0.95, 0.5), seconds=5)  # steps out: dwell restarts
    scene.step(person(1, 0.5, 0.5), seconds=25)
    assert scene.alerts() == []
    scene.step(person(1, 0.5, 0.5), seconds=10)
    start = scene.alerts("start")[0]
    assert start.details.extra["dwell_s"] >= 30
    scene.step(seconds=3)
    assert len(scene.alerts("end")) == 1


def crowd(**extra) -> dict:
    return {
        "name": "crowd",
        "type": "crowd",
        "zone": "z",
        "min_count": 3,
        "hold": 2,
        "clear_after": 2,
        "cooldown": 0,
        **extra,
    }


def people(n: int, base_id: int = 1) -> list[Track]:
    return [person(base_id + i, 0.3 + 0.05 * i, 0.5) for i in range(n)]


def test_crowd_needs_the_count_held_for_hold_seconds():
    scene = Scene(crowd())
    for _ in range(5):  # 3 people for 1.6 s, then 2 for longer than clear_after: never held long enough
        scene.step(*people(3), seconds=1.6)
        scene.step(*people(2), seconds=2.6)
    assert scene.alerts() == []
    scene.step(*people(4), seconds=3)
    start = scene.alerts("start")[0]
    assert start.details.count == 4 and start.details.extra == {"min_count": 3, "hold_s": 2.0}


def test_crowd_hold_survives_a_missed_detection():
    scene = Scene(crowd())
    scene.step(*people(3), seconds=1.2)
    scene.step(*people(2), seconds=0.4)  # one person missed for two frames
    assert scene.alerts() == []
    scene.step(*people(3), seconds=1.0)  # 2.6 s since the crowd formed
    assert len(scene.alerts("start")) == 1


def test_crowd_hysteresis_on_count_and_time():
    scene = Scene(crowd(end_below=2))
    scene.step(*people(5), seconds=3)
    scene.step(*people(2), seconds=10)  # below min_count but not below end_below: still crowded
    scene.step(*people(1), seconds=1)  # below for 1 s only
    scene.step(*people(6), seconds=1)
    assert scene.alerts("end") == []
    scene.step(*people(1), seconds=3)
    end = scene.alerts("end")[0]
    assert end.details.peak_count == 6
    assert len(scene.alerts("start")) == 1


def test_occupancy_above_capacity():
    scene = Scene({"name": "occ", "type": "occupancy", "zone": "z", "capacity": 2, "hold": 1, "cooldown": 0})
    scene.step(*people(2), seconds=5)
    assert scene.alerts() == []
    scene.step(*people(3), seconds=2)
    assert len(scene.alerts("start")) == 1
    scene.step(*people(2), seconds=3)
    assert len(scene.alerts("end")) == 1


def test_stationary_vehicle_fires_only_when_it_stands_still():
    rule = {
        "name": "fire-lane",
        "type": "stationary_vehicle",
        "zone": "z",
        "max_stationary": 60,
        "max_movement": 0.02,
        "cooldown": 0,
        "severity": "major",
    }
    scene = Scene(rule)
    for i in range(30):  # a car creeping through the zone: 0.5 normalized per 60 s
        scene.step(person(1, 0.25 + i * 0.017, 0.5, cls="vehicle", w=0.2, h=0.15), seconds=2)
    assert scene.alerts() == []
    for i in range(40):  # parked, its box jittering by a pixel or two
        scene.step(person(2, 0.5 + (i % 2) * 0.005, 0.6, cls="vehicle", w=0.2, h=0.15), seconds=2)
    start = scene.alerts("start")[0]
    assert start.details.object_class == "vehicle" and start.details.extra["stationary_s"] >= 60
    scene.step(person(2, 0.7, 0.6, cls="vehicle", w=0.2, h=0.15), seconds=3)  # drives off (moves)
    assert len(scene.alerts("end")) == 1


def test_ebike_in_lift_needs_consecutive_detections():
    rule = {"name": "lift", "type": "ebike_in_lift", "zone": "z", "min_consecutive": 3, "cooldown": 0}
    scene = Scene(rule)
    bike = person(1, 0.5, 0.6, cls="bicycle", w=0.2, h=0.2)
    for _ in range(4):  # two detections, then a miss
        scene.step(bike, seconds=0.4)
        scene.step()
    scene.step(person(2, 0.5, 0.6), seconds=5)  # a person is no e-bike
    assert scene.alerts() == []
    scene.step(bike, seconds=0.6)
    start = scene.alerts("start")[0]
    assert start.severity.value == "major" and start.details.object_class == "bicycle"


def test_finish_closes_open_episodes_at_the_last_frame():
    scene = Scene(intrusion(min_dwell=0, severity="major"))
    scene.step(person(1, 0.5, 0.5), seconds=2)
    scene.engine.finish()
    end = scene.alerts("end")[0]
    assert end.details.extra == {"reason": "source_ended"}
    assert end.details.duration_s == pytest.approx(1.8, abs=0.01)


def test_payload_has_no_image_and_serialises():
    scene = Scene(intrusion(min_dwell=0, severity="major"))
    scene.step(person(1, 0.5, 0.5), seconds=1)
    text = scene.alerts()[0].to_json()
    assert '"objects"' in text and "image" not in text and len(text) < 2000


def van(track_id: int, x: float = 0.5, jitter: float = 0.0) -> Track:
    return person(track_id, x + jitter, 0.6, cls="vehicle", w=0.2, h=0.15)


def stationary(**extra) -> dict:
    rule = {"name": "fire-lane", "type": "stationary_vehicle", "zone": "z", "max_stationary": 60, "cooldown": 0}
    return {**rule, **extra}


def test_stationary_vehicle_keeps_its_time_across_an_occlusion_that_breaks_the_track():
    scene = Scene(stationary())
    scene.step(van(1), seconds=40)
    scene.step(seconds=8)  # a lorry passes in front: no track at all, longer than the tracker's max_lost
    scene.step(van(2, jitter=0.01), seconds=10)  # the tracker starts a new id where the van stood
    assert scene.alerts() == []  # 58 s since the van stopped
    scene.step(van(2, jitter=0.01), seconds=3)  # on its own, track 2 has stood 13 s
    start = scene.alerts("start")[0]
    assert start.details.extra["stationary_s"] >= 60


def test_stationary_vehicle_hands_nothing_over_elsewhere_or_too_late_or_to_another_class():
    scene = Scene(stationary(handover_window=30))
    scene.step(van(1), seconds=50)
    scene.step(seconds=4)
    scene.step(van(2, x=0.3), seconds=20)  # a different van, somewhere else in the zone
    scene.step(person(3, 0.5, 0.6, cls="motorcycle", w=0.2, h=0.15), seconds=20)  # a motorbike where the van stood
    scene.step(van(4), seconds=20)  # the same place, but 44 s after the van vanished
    assert scene.alerts() == []


def loitering(**extra) -> dict:
    return {"name": "loit", "type": "loitering", "zone": "z", "max_dwell": 30, "cooldown": 0, **extra}


def test_loitering_keeps_the_dwell_of_someone_whose_track_broke_behind_a_pillar():
    scene = Scene(loitering())
    scene.step(person(1, 0.5, 0.5), seconds=20)
    scene.step(seconds=5)  # hidden: the track is dropped
    scene.step(person(7, 0.52, 0.5), seconds=4)  # the same person, a new id, a step to the side
    assert scene.alerts() == []
    scene.step(person(7, 0.52, 0.5), seconds=2)  # 31 s since they arrived; track 7 alone: 6 s
    start = scene.alerts("start")[0]
    assert start.details.extra["dwell_s"] >= 30 and start.details.track_ids == [7]


def test_loitering_hands_nothing_over_once_the_window_has_passed_or_to_someone_arriving_elsewhere():
    scene = Scene(loitering(handover_window=10))
    scene.step(person(1, 0.5, 0.5), seconds=20)
    scene.step(seconds=5)
    scene.step(person(2, 0.3, 0.7), seconds=20)  # someone else, elsewhere in the zone
    scene.step(seconds=6)
    scene.step(person(3, 0.5, 0.5), seconds=20)  # where person 1 stood, but 31 s after they vanished
    assert scene.alerts() == []
