"""`edge-agent demo`: fetch the model and the demo clip, run the pipeline, print the alerts.

What `make demo` runs. The pipeline is replay's (the same chain `run` uses) over the
Intel IoT devkit sample clip (`edge_agent.replay.run_demo`); alerts print one readable line
each (`--json`: the JSON payloads instead), go through the outbox, and when a broker answers
at the config's address they are published there too.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from edge_agent.assets import MIRROR_HINT, MirrorCopy, PinnedAsset, check_file, fetch_asset, find_mirror
from edge_agent.cli.common import CliExit
from edge_agent.cli.progress import ProgressLine
from edge_agent.clock import FakeClock, parse_utc
from edge_agent.config import ConfigError, load_config
from edge_agent.events import JsonLinesSink

_CLIP_SHA256 = "a5964aa259099a482a8b360ffc2c57b5a30f84d5919236a4dad01f8e929ac07c"
DEMO_CLIP = PinnedAsset(
    name="one-by-one-person-detection.mp4",
    url="https://github.com/intel-iot-devkit/sample-videos/raw/master/one-by-one-person-detection.mp4",
    sha256=_CLIP_SHA256,
    size=3_291_918,
    # ../shared names the same file (same digest) after what it shows
    mirrors=(MirrorCopy("footage/entrance-one-by-one.mp4", _CLIP_SHA256, 3_291_918),),
)
DEMO_MODEL = "yolox_nano"


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="fetch the model and a sample clip, run the pipeline, print alerts")
    parser.add_argument("--config", default="configs/demo.yaml", help="demo config (default: configs/demo.yaml)")
    parser.add_argument("--cache", default="var/assets", help="where the clip is kept")
    parser.add_argument("--state", default="var/state", help="state directory (outbox, models)")
    parser.add_argument(
        "--assets",
        default=None,
        help="offline mirror directory (default: $EDGE_AGENT_ASSETS, "
        "else ../shared beside the source checkout, else download)",
    )
    parser.add_argument("--max-seconds", type=float, default=None, help="stop after this much clip time")
    parser.add_argument("--json", action="store_true", help="print alerts as JSON lines (the MQTT payloads) instead")
    parser.set_defaults(handler=run)


def say(message: str) -> None:
    print(f"[demo] {message}", file=sys.stderr, flush=True)


def run(args) -> int:
    mirror = find_mirror(args.assets)
    say(f"assets from {'mirror ' + str(mirror.path) if mirror.path else 'their upstream URLs'} ({mirror.reason})")
    state, cache = Path(args.state), Path(args.cache)
    try:
        model_dir = ensure_model(state / "models", mirror.path)
        clip = ensure_clip(cache, mirror.path)
    except (OSError, RuntimeError, ValueError) as exc:
        say(f"cannot obtain the demo assets: {exc}")
        say(MIRROR_HINT)
        raise CliExit(os.EX_UNAVAILABLE) from None
    environ = {
        **os.environ,
        "EDGE_AGENT_DEMO_CLIP": str(clip),
        "EDGE_AGENT_DEMO_STATE": str(state),
        "EDGE_AGENT_DEMO_MODELS": str(model_dir),
    }
    try:
        config = load_config(args.config, environ=environ)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        raise CliExit(78) from None
    return run_pipeline(config, clip, args.max_seconds, as_json=args.json)


def ensure_model(models_dir: Path, mirror: Path | None) -> Path:
    from edge_agent.vision.models import ensure_model

    where = f"mirror {mirror}" if mirror else "its upstream URL"
    path, fetched = ensure_model(DEMO_MODEL, models_dir, mirror_dir=mirror)
    say(f"model {DEMO_MODEL}: {path} ({'fetched from ' + where if fetched else 'installed, sha256 verified'})")
    return models_dir


def ensure_clip(cache: Path, mirror: Path | None) -> Path:
    target = cache / DEMO_CLIP.name
    if target.exists():
        check_file(target, DEMO_CLIP.sha256, "demo clip")
        say(f"clip: {target} (sha256 verified)")
        return target
    say(f"clip: fetching from {'mirror ' + str(mirror) if mirror else DEMO_CLIP.url}")
    return fetch_asset(DEMO_CLIP, target, mirror).path


def run_pipeline(config, clip: Path, max_seconds: float | None, as_json: bool = False) -> int:
    from edge_agent.replay import run_demo  # loads OpenCV and onnxruntime: only for this command

    say(f"running the pipeline over {clip} (Sample video by Intel IoT Devkit, CC BY 4.0)")
    started_at = time.time()
    printer = JsonLinesSink(sys.stdout) if as_json else AlertLines(sys.stdout, started_at)
    progress = ProgressLine.if_terminal(sys.stderr, "[demo] replay")
    try:
        result = run_demo(
            config,
            clip,
            printer,
            max_seconds=max_seconds,
            say=say,
            clock=FakeClock(wall=started_at),
            on_progress=progress.update if progress else None,
        )
    finally:
        if progress:
            progress.close()
    print(result.replay.report(), file=sys.stderr)
    if result.broker is not None:
        say(
            "all alerts delivered to the broker"
            if result.delivered_all
            else "broker slow: undelivered alerts stay queued"
        )
    say(f"{len(result.replay.alerts)} alerts; stored in {result.outbox_path}")
    return os.EX_OK


class AlertLines:
    """An alert as a person reads it: time on the clip, type, phase, rule, message."""

    def __init__(self, stream, started_at: float):
        self.stream = stream
        self.started_at = started_at  # wall time the replay's clip clock started from

    def emit(self, alert) -> None:
        moment = (alert.ended_at or alert.started_at) if alert.phase == "end" else alert.started_at
        at = parse_utc(moment) - self.started_at
        what = alert.details.message or _describe(alert)
        self.stream.write(f"{at:7.1f} s  {alert.type:<14} {alert.phase:<8} {alert.rule or '-':<16} {what}\n")
        self.stream.flush()


def _describe(alert) -> str:
    details = alert.details
    facts = [
        f"{name} {value}"
        for name, value in (
            ("zone", details.zone),
            ("line", details.line),
            ("direction", details.direction),
            ("count", details.count),
            ("door", details.door),
        )
        if value is not None
    ]
    return ", ".join(facts) or alert.source.kind + " " + alert.source.id
