"""Replay: a clip through the same camera chain the daemon runs, on the clip's own clock.

    from edge_agent.replay import ReplayOptions, replay_clip
    result = replay_clip(config, "clip.mp4", ReplayOptions(sink=JsonLinesSink()))   # alerts as they fire
    print(result.report())                                                          # per-rule and per-line counts

`edge-agent replay` and `edge-agent demo` are thin layers over this package.
"""

from edge_agent.replay.clip import ReplayOptions, ReplayResult, choose_camera, clip_length_s, replay_clip
from edge_agent.replay.clip_clock import ClipClock
from edge_agent.replay.demo import DemoResult, run_demo
from edge_agent.replay.doors import DoorScript, load_door_events

__all__ = [
    "ClipClock",
    "DemoResult",
    "DoorScript",
    "ReplayOptions",
    "ReplayResult",
    "choose_camera",
    "clip_length_s",
    "load_door_events",
    "replay_clip",
    "run_demo",
]
