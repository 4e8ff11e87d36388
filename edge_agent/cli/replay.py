"""`edge-agent replay CLIP --config FILE`: the whole video pipeline over a clip, as fast as it can.

Alerts are printed as JSON lines on stdout; `--report` prints per-rule and per-line counts
on stderr (so stdout stays JSON lines); `--annotate OUT.mp4` writes the clip with zones,
lines, tracks and alerts drawn; `--door-events EVENTS.jsonl` adds scripted door events
(see edge_agent/replay/doors.py); `--tracks-out` / `--detections-out FILE` write MOTChallenge
text for `edge-agent eval-tracks`. Configured actions are never run: for each alert that matches one, a line on
stderr says what the runner would do (would run, cooldown, rate limited, off schedule), and `--report` lists
them again with counts per action. When stderr is a terminal a one-line progress counter
runs there. The work is `edge_agent.replay.replay_clip`; this module parses and prints.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from edge_agent.cli.common import CliExit, load_config_or_exit
from edge_agent.cli.progress import ProgressLine
from edge_agent.events import JsonLinesSink


def register(subparsers) -> None:
    parser = subparsers.add_parser("replay", help="run the video pipeline over a clip and print alerts as JSON lines")
    parser.add_argument("clip", help="video file to replay (stands in for the camera's url)")
    parser.add_argument("--config", required=True, help="config YAML with the camera, its zones/lines and rules")
    parser.add_argument("--camera", help="camera id whose zones and rules apply (default: the only enabled camera)")
    parser.add_argument(
        "--annotate", metavar="OUT.mp4", help="write the clip with zones, lines, tracks and alerts drawn"
    )
    parser.add_argument("--report", action="store_true", help="print per-rule and per-line counts on stderr at the end")
    parser.add_argument("--max-seconds", type=float, help="stop after this much clip time")
    parser.add_argument(
        "--door-events",
        metavar="EVENTS.jsonl",
        help="door events to feed at clip times: one generic JSON door event per line plus at_clip_s",
    )
    parser.add_argument(
        "--tracks-out",
        metavar="FILE",
        help="write the reported tracks as MOTChallenge text (source frame numbers, pixels)",
    )
    parser.add_argument("--detections-out", metavar="FILE", help="write the raw detections as MOTChallenge text")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from edge_agent.replay import ReplayOptions, replay_clip  # loads OpenCV: not for every command

    config = load_config_or_exit(args.config)
    for what, path in (("clip", args.clip), ("door events file", args.door_events)):
        if path is not None and not Path(path).is_file():
            print(f"error: {what} {path} does not exist", file=sys.stderr)
            raise CliExit(os.EX_NOINPUT)
    progress = ProgressLine.if_terminal(sys.stderr, "replay")
    try:
        options = ReplayOptions(
            camera_id=args.camera,
            sink=JsonLinesSink(sys.stdout),
            annotate=args.annotate,
            max_seconds=args.max_seconds,
            door_events=args.door_events,
            on_progress=progress.update if progress else None,
            tracks_out=args.tracks_out,
            detections_out=args.detections_out,
            on_actions=_show_actions(progress),
        )
        result = replay_clip(config, args.clip, options)
    except ValueError as exc:  # unknown camera, undecodable clip, a bad door events line
        print(f"error: {exc}", file=sys.stderr)
        return os.EX_USAGE
    except (OSError, RuntimeError) as exc:  # model missing or changed, cannot write the video
        print(f"error: {exc}", file=sys.stderr)
        return os.EX_SOFTWARE
    finally:
        if progress:
            progress.close()
    if args.report:
        print(result.report(), file=sys.stderr)
    return os.EX_OK


def _show_actions(progress: ProgressLine | None):
    from edge_agent.actions.triggers import decisions_text

    def show(alert, decisions) -> None:
        if progress:
            progress.clear()
        print(f"actions: {decisions_text(alert, decisions)}", file=sys.stderr, flush=True)

    return show
