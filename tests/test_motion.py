"""Motion gate: fewer detector calls on the entrance clip without losing any person."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.config.cameras import MotionConfig
from edge_agent.config.detector import DetectorConfig
from edge_agent.events.vision_types import Frame
from edge_agent.sources.clip_frames import iter_file_frames
from edge_agent.vision.detector import Detector
from edge_agent.vision.manifest import load_manifest
from edge_agent.vision.motion import MotionGate, changed_regions
from tests.support.assets import footage, model_path

DETECT_FPS = 2.0
TRACK_ALIVE_S = 1.0  # stands in for the tracker: a person seen within this long is a live track
WINDOW_S = 1.0


def frame_at(t: float, image: np.ndarray, seq: int = 0) -> Frame:
    return Frame("cam", seq, 1_767_225_600.0 + t, 100.0 + t, image)


@pytest.mark.assets
@pytest.mark.slow
def test_gate_cuts_detector_calls_but_keeps_every_person_on_entrance_clip():
    detector = Detector(model_path(), load_manifest("yolox_nano"), DetectorConfig(classes=["person"]))
    frames = list(iter_file_frames(footage("entrance-one-by-one.mp4"), DETECT_FPS))
    # The detector is deterministic per image, so the gated run reuses the ungated results
    # for the frames it lets through instead of running the model twice.
    ungated = [any(d.class_name == "person" for d in detector.detect(f.image)) for f in frames]
    gate = MotionGate(MotionConfig())
    gated_person_times, last_person = [], None
    for frame, has_person in zip(frames, ungated):
        live_tracks = last_person is not None and frame.monotonic - last_person <= TRACK_ALIVE_S
        if gate.should_detect(frame, live_tracks) and has_person:
            gated_person_times.append(frame.monotonic)
            last_person = frame.monotonic
    counters = gate.counters
    assert counters.frames == len(frames) and sum(ungated) > 100
    assert counters.detector_calls + counters.skipped == len(frames)
    assert counters.detector_calls <= 0.9 * len(frames), counters
    missed = [
        round(f.monotonic - frames[0].monotonic, 1)
        for f, has_person in zip(frames, ungated)
        if has_person and not any(abs(f.monotonic - t) <= WINDOW_S for t in gated_person_times)
    ]
    assert missed == []


def test_still_scene_is_checked_periodically_and_motion_wakes_the_gate():
    gate = MotionGate(MotionConfig(full_check_interval=5.0))
    scene = np.full((90, 160, 3), 80, np.uint8)
    decisions = [gate.should_detect(frame_at(t * 0.5, scene, i), False) for i, t in enumerate(range(21))]
    # first frame, then every 5 s of frame time while nothing moves
    assert [i * 0.5 for i, run in enumerate(decisions) if run] == [0.0, 5.0, 10.0]
    moved = scene.copy()
    moved[30:70, 60:100] = 200
    assert gate.should_detect(frame_at(10.5, moved, 21), False)
    assert gate.counters.detect_motion == 1 and gate.counters.detect_periodic == 2
    assert gate.should_detect(frame_at(11.0, scene, 22), True)  # live tracks keep it running
    assert gate.counters.detect_tracks + gate.counters.detect_motion >= 2


def test_motion_under_a_mask_is_ignored():
    mask = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]
    gate = MotionGate(MotionConfig(masks=[mask], full_check_interval=100))
    scene = np.full((180, 320, 3), 60, np.uint8)
    assert gate.should_detect(frame_at(0, scene), False)  # first frame
    blink = scene.copy()
    blink[10:80, 10:140] = 250  # a clock face flashing top-left, inside the mask
    assert not gate.should_detect(frame_at(0.5, blink, 1), False)
    walker = scene.copy()
    walker[100:170, 200:240] = 250  # outside the mask
    assert gate.should_detect(frame_at(1.0, walker, 2), False)
    assert gate.counters.skipped == 1


def test_the_regions_the_page_draws_box_what_moved_and_leave_out_the_masked_blink():
    mask = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]
    gate = MotionGate(MotionConfig(masks=[mask], full_check_interval=100))
    scene = np.full((180, 320, 3), 60, np.uint8)
    gate.should_detect(frame_at(0, scene), False)
    assert changed_regions(gate.last_changed) == []  # the first frame only sets the background
    moved = scene.copy()
    moved[10:80, 10:140] = 250  # under the mask
    moved[100:170, 200:240] = 250  # a walker, bottom right
    moved[20:40, 250:300] = 250  # something smaller, top right
    gate.should_detect(frame_at(0.5, moved, 1), False)
    regions = changed_regions(gate.last_changed)
    assert len(regions) == 2  # the masked blink is not among them
    walker, small = regions  # largest first
    assert walker == pytest.approx([200 / 320, 100 / 180, 240 / 320, 170 / 180], abs=0.03)
    assert small == pytest.approx([250 / 320, 20 / 180, 300 / 320, 40 / 180], abs=0.03)


def test_disabled_gate_always_detects():
    gate = MotionGate(MotionConfig(enabled=False))
    scene = np.zeros((90, 160, 3), np.uint8)
    assert all(gate.should_detect(frame_at(t, scene, t), False) for t in range(5))
    assert gate.counters.detector_calls == 5
