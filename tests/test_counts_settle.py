"""The `counts` message across reloads and stops, inside and outside the 5 s settle window, end to end.

A real agent (subprocess), a real private mosquitto and a real subscriber. The camera is a still picture of three
people played as a looping clip, so once the tracker has them every sample is exactly 3: a fully watched 10 s interval
must say samples 10, peak 3, mean 3, complete true, whatever reload or clean stop happened in or after it.

The settle window: an interval's message is stored REPORT_DELAY (5 s) after its end. "Inside" means the reload or
stop takes effect after the interval ended and before its message was stored; "outside" means mid-interval.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import pytest

from edge_agent.clock import parse_utc
from edge_agent.store.counts_ledger import REPORT_DELAY
from edge_agent.vision.models import fetch_model
from tests.support.assets import WHOLE_PICTURE, assets_dir, footage, model_path
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.wait import wait_for

INTERVAL = 10  # the smallest counts.interval: messages every 10 s, on the 10 s
PEOPLE = 3  # in ThreePersons.jpg

pytestmark = [pytest.mark.assets, pytest.mark.slow]  # about 70 s: seven 10 s intervals, three agent starts


def still_clip(path: Path, fps: int = 4, seconds: int = 30) -> Path:
    """The three-people picture as an MJPG clip: every frame decodes to the same image, so detections are identical."""
    image = cv2.imread(str(footage("ThreePersons.jpg")))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (image.shape[1], image.shape[0]))
    for _ in range(fps * seconds):
        writer.write(image)
    writer.release()
    return path


@pytest.fixture
def agent_config(tmp_path, mosquitto):
    model_path()  # fails in CI, skips elsewhere, when the shared model is missing
    fetch_model("yolox_nano", tmp_path / "models", mirror_dir=assets_dir())
    camera = {"id": "still", "url": str(still_clip(tmp_path / "still.avi")), "kind": "file", "loop": True}
    camera.update(realtime=True, detect_fps=4, zones={"room": {"points": WHOLE_PICTURE}})

    def config(telemetry_interval: int = 30) -> dict:  # a different telemetry interval: a reload that counts alike
        return base_config(
            tmp_path / "state",
            mosquitto.port,
            detector={"models_dir": str(tmp_path / "models"), "threads": 1},
            cameras=[camera],
            rules=[
                {"name": "three", "type": "crowd", "camera": "still", "zone": "room", "min_count": PEOPLE, "hold": 0}
            ],
            counts={"interval": INTERVAL, "sample_every": 1},
            telemetry={"interval": telemetry_interval},
        )

    return config


def phase() -> float:
    """Seconds into the current counts interval (the agent runs on this machine's clock)."""
    return time.time() % INTERVAL


def wait_for_phase(low: float, high: float) -> float:
    """Wait until `low` <= phase < `high`; returns the start of the interval it is in."""
    wait_for(lambda: low <= phase() < high, timeout=INTERVAL + 1, interval=0.01, message=f"phase in [{low}, {high})")
    return time.time() // INTERVAL * INTERVAL


def sees_the_three(watcher: Watcher, before: int = 0) -> float:
    """Wait for a crowd start beyond the first `before` (the agent's tracker has the three in the room from now on);
    returns the start of the first interval after it (every sample of which is 3)."""
    starts = lambda: [a for a in watcher.payloads("alerts/crowd") if a["phase"] == "start"]  # noqa: E731
    wait_for(lambda: len(starts()) > before, timeout=60, message="the agent to see the three people")
    begins = (time.time() // INTERVAL + 1) * INTERVAL
    wait_for(lambda: time.time() >= begins, timeout=INTERVAL + 1, interval=0.05, message="the next interval")
    return begins


def at_phase(low: float, high: float, act, effect_by: float, tries: int = 3) -> float:
    """Run `act` at a phase in [low, high) such that it has taken effect `effect_by` s after that interval's start,
    trying again in a later interval when the machine was too slow for that. Returns the interval's start."""
    for _ in range(tries):
        start = wait_for_phase(low, high)
        act()
        if time.time() < start + effect_by:
            return start
    raise AssertionError(f"{tries} tries at phase {low} took effect later than {effect_by} s into the interval")


def message_for(watcher: Watcher, start: float, timeout: float = 3 * INTERVAL) -> dict:
    """The counts message of the interval starting at `start` (UTC seconds)."""

    def found():
        return next((m for m in watcher.payloads("counts") if parse_utc(m["interval_start"]) == start), None)

    return wait_for(found, timeout=timeout, message=f"the counts message of the interval from {start}")


def figures(message: dict) -> tuple:
    (room,) = message["zones"]
    return room["samples"], room["peak"], room["mean"], message["complete"]


FULL = (INTERVAL, PEOPLE, float(PEOPLE), True)  # a fully watched interval of three people


def test_reloads_and_stops_inside_and_outside_the_settle_window(tmp_path, mosquitto, agent_config):
    """One agent's life, an interval per case, from the first interval the agent watched with the three in sight:
    I1: reloaded mid-interval, and again in its settle window, which falls in I2 → both whole;
    I2: stopped in its settle window (early in I3), restarted → whole, reported by the next process;
    I3: down for part of it → incomplete; I4: stopped mid-interval, restarted → incomplete, both runs' samples."""
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", agent_config()).start()
    try:
        sees_the_three(watcher)
        telemetry = iter(range(31, 60))  # each reload a new text that counts alike

        def reload():
            daemon.reload_file(agent_config(telemetry_interval=next(telemetry)), watcher)

        i1 = at_phase(5.5, 7.0, reload, effect_by=INTERVAL)  # mid-interval
        settled = at_phase(0.2, 1.0, reload, effect_by=REPORT_DELAY) - INTERVAL  # in the settle window of i1
        assert figures(message_for(watcher, i1)) == FULL  # the bug: samples 3 (those after the first reload)
        assert figures(message_for(watcher, settled)) == FULL  # the bug: samples 0, peak 0, complete false
        i3 = wait_for_phase(0.2, 1.0)
        assert daemon.stop() == 0
        assert time.time() < i3 + REPORT_DELAY, "the agent stopped after the report: no test"
        assert [m for m in watcher.payloads("counts") if parse_utc(m["interval_start"]) == i3 - INTERVAL] == []
        daemon = Daemon(tmp_path / "agent", agent_config()).start()
        assert figures(message_for(watcher, i3 - INTERVAL)) == FULL  # the bug: complete false
        samples, peak, _, complete = figures(message_for(watcher, i3))
        assert (peak, complete) == (PEOPLE, False) and 0 < samples < INTERVAL
        sees_the_three(watcher, before=1)  # the crowd episode ended at the restart (agent_restarted), a new one began
        i4 = wait_for_phase(5.5, 7.0)
        assert daemon.stop() == 0
        daemon = Daemon(tmp_path / "agent", agent_config()).start()
        samples, peak, _, complete = figures(message_for(watcher, i4))
        assert (peak, complete) == (PEOPLE, False) and 6 <= samples < INTERVAL  # slots 0-5 kept from before the stop
    finally:
        code = daemon.stop()
        watcher.close()
    assert code == 0
