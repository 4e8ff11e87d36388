"""`edge-agent demo`: fetch the model and the demo clip, run the pipeline, print the alerts.

What `make demo` runs. The pipeline is replay's (the same chain `run` uses) over the
Intel IoT devkit sample clip; alerts print as JSON lines and go through the outbox, and
when a broker answers at the config's address they are published there too.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

from edge_agent import __version__
from edge_agent.assets import MirrorCopy, PinnedAsset, check_file, fetch_asset
from edge_agent.cli.common import CliExit
from edge_agent.config import ConfigError, load_config
from edge_agent.events import JsonLinesSink, TeeSink


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
    parser.add_argument("--assets", default=None, help="offline mirror directory (default: $EDGE_AGENT_ASSETS)")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop after this much clip time")
    parser.set_defaults(handler=run)


def say(message: str) -> None:
    print(f"[demo] {message}", file=sys.stderr, flush=True)


def run(args) -> int:
    mirror = args.assets or os.environ.get("EDGE_AGENT_ASSETS") or None
    state, cache = Path(args.state), Path(args.cache)
    try:
        model_dir = ensure_model(state / "models", mirror)
        clip = ensure_clip(cache, mirror)
    except (OSError, RuntimeError, ValueError) as exc:
        say(f"cannot obtain the demo assets: {exc}")
        say("offline? set EDGE_AGENT_ASSETS to a mirror directory (see docs/install.md)")
        raise CliExit(os.EX_UNAVAILABLE) from None
    environ = {**os.environ, "EDGE_AGENT_DEMO_CLIP": str(clip), "EDGE_AGENT_DEMO_STATE": str(state),
               "EDGE_AGENT_DEMO_MODELS": str(model_dir)}
    try:
        config = load_config(args.config, environ=environ)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        raise CliExit(78) from None
    return run_pipeline(config, clip, args.max_seconds)


def ensure_model(models_dir: Path, mirror: str | None) -> Path:
    from edge_agent.vision.models import ensure_model

    where = f"mirror {mirror}" if mirror else "its upstream URL"
    path, fetched = ensure_model(DEMO_MODEL, models_dir, mirror_dir=Path(mirror) if mirror else None)
    say(f"model {DEMO_MODEL}: {path} ({'fetched from ' + where if fetched else 'installed, sha256 verified'})")
    return models_dir


def ensure_clip(cache: Path, mirror: str | None) -> Path:
    target = cache / DEMO_CLIP.name
    if target.exists():
        check_file(target, DEMO_CLIP.sha256, "demo clip")
        say(f"clip: {target} (sha256 verified)")
        return target
    say(f"clip: fetching from {'mirror ' + mirror if mirror else DEMO_CLIP.url}")
    return fetch_asset(DEMO_CLIP, target, Path(mirror) if mirror else None).path


def run_pipeline(config, clip: Path, max_seconds: float | None) -> int:
    from edge_agent.cli.replay import replay_clip
    from edge_agent.identity import device_id_for
    from edge_agent.publish import Publisher, Topics
    from edge_agent.store import Outbox

    device_id = device_id_for(config)
    outbox = Outbox.for_config(config, device_id)
    publisher = None
    if broker_answers(config.mqtt.host, config.mqtt.port):
        topics = Topics(config.mqtt.topic_prefix, config.device.site, device_id)
        publisher = Publisher(config.mqtt, outbox, topics, device_id, __version__)
        publisher.start()
        say(f"broker at {config.mqtt.host}:{config.mqtt.port}: publishing under {topics.base}/")
    else:
        say(f"no broker at {config.mqtt.host}:{config.mqtt.port}: alerts stay in {config.outbox_path}")
    say(f"running the pipeline over {clip} (Sample video by Intel IoT Devkit, CC BY 4.0)")
    try:
        result = replay_clip(config, clip, sink=TeeSink(JsonLinesSink(sys.stdout), outbox), max_seconds=max_seconds)
        print(result.report(), file=sys.stderr)
        if publisher is not None:
            delivered = wait_for_drain(outbox, timeout=15.0)
            say("all alerts delivered to the broker" if delivered else "broker slow: undelivered alerts stay queued")
    finally:
        if publisher is not None:
            publisher.stop()
        outbox.close()
    say(f"{len(result.alerts)} alerts")
    return 0


def broker_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_for_drain(outbox, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if outbox.stats().undelivered == 0:
            return True
        time.sleep(0.1)
    return False
