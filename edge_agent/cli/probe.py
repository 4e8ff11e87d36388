"""`edge-agent probe CAMERA --config FILE [--out PNG]`: grab a frame, draw the zones and lines, report the stream.

For a technician placing zones: the saved picture shows every zone and line of
the camera (arrows point to each line's in side), and the printout gives the
resolution and frame rate (reported by the stream, and measured for live ones).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_agent.cli.common import load_config_or_exit
from edge_agent.config.cameras import CameraConfig
from edge_agent.rules.annotate import draw_geometry


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "probe", help="grab a frame from a camera, save it with zones and lines drawn, print resolution and fps"
    )
    parser.add_argument("camera", help="camera id from the config")
    parser.add_argument("--config", required=True, help="config YAML")
    parser.add_argument("--out", help="PNG to write (default: probe-CAMERA.png)")
    parser.add_argument(
        "--measure",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="seconds of frames to read from a live stream to measure its fps (default 2)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the stream to open and deliver a frame"
    )
    parser.set_defaults(handler=run)


@dataclass
class ProbeResult:
    image: np.ndarray
    width: int
    height: int
    reported_fps: float
    measured_fps: float | None
    kind: str


def probe_camera(camera: CameraConfig, timeout: float = 10.0, measure_s: float = 2.0) -> ProbeResult:
    """One frame and the stream's figures; CaptureOpenError / TimeoutError when it delivers nothing."""
    from edge_agent.sources.capture import LIVE_KINDS, open_capture, source_kind

    kind = source_kind(camera)
    capture = open_capture(camera, timeout)
    try:
        image = _first_frame(capture, timeout, camera.id)
        reported = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        measured = _measure_fps(capture, measure_s) if kind in LIVE_KINDS and measure_s > 0 else None
    finally:
        capture.release()
    height, width = image.shape[:2]
    return ProbeResult(image, width, height, reported, measured, kind)


def _first_frame(capture: cv2.VideoCapture, timeout: float, camera_id: str) -> np.ndarray:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok, image = capture.read()
        if ok and image is not None:
            return image
    raise TimeoutError(f"camera {camera_id!r} opened but delivered no frame within {timeout:g} s")


def _measure_fps(capture: cv2.VideoCapture, seconds: float) -> float | None:
    started = time.monotonic()
    frames = 0
    while time.monotonic() - started < seconds:
        if not capture.grab():
            break
        frames += 1
    elapsed = time.monotonic() - started
    return frames / elapsed if frames and elapsed > 0 else None


def run(args) -> int:
    from edge_agent.sources.capture import CaptureOpenError, redact

    config = load_config_or_exit(args.config)
    try:
        camera = config.camera(args.camera)
    except KeyError:
        print(
            f"error: camera {args.camera!r} is not in {args.config} (known: {[c.id for c in config.cameras]})",
            file=sys.stderr,
        )
        return os.EX_USAGE
    try:
        result = probe_camera(camera, args.timeout, args.measure)
    except (CaptureOpenError, TimeoutError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return os.EX_UNAVAILABLE
    out = Path(args.out or f"probe-{camera.id}.png")
    picture = draw_geometry(result.image.copy(), camera)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), picture):
        print(f"error: cannot write {out} (use a .png or .jpg name in a writable directory)", file=sys.stderr)
        return os.EX_CANTCREAT
    measured = f", {result.measured_fps:.1f} measured over {args.measure:g} s" if result.measured_fps else ""
    print(f"camera {camera.id}: {redact(camera.url)} ({result.kind})")
    print(f"resolution: {result.width}x{result.height}")
    print(f"fps: {result.reported_fps:.1f} reported{measured}; detect_fps {camera.detect_fps:g}")
    print(f"zones: {', '.join(camera.zones) or '-'}; lines: {', '.join(camera.lines) or '-'}")
    print(f"saved: {out}")
    return 0
