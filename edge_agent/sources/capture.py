"""Opening an OpenCV capture for a camera config: RTSP/HTTP (FFmpeg), USB (V4L2) or a file."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import cv2

from edge_agent.config.cameras import CameraConfig

# OpenCV's FFmpeg backend reads its options from this process-wide variable when a capture is
# opened, so per-camera options (RTSP transport) are set under a lock just around the open.
_FFMPEG_OPTIONS_VAR = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_OPEN_LOCK = threading.Lock()
LIVE_KINDS = ("rtsp", "http", "usb")


class CaptureOpenError(RuntimeError):
    pass


def source_kind(camera: CameraConfig) -> str:
    if camera.kind != "auto":
        return camera.kind
    url = camera.url.strip()
    lowered = url.lower()
    if lowered.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    if lowered.startswith(("http://", "https://")):
        return "http"
    if re.fullmatch(r"\d+", url) or re.fullmatch(r"/dev/video\d+", url):
        return "usb"
    return "file"


def open_capture(camera: CameraConfig, timeout_s: float) -> cv2.VideoCapture:
    """An opened capture, or CaptureOpenError naming the camera and the url."""
    kind = source_kind(camera)
    timeout_ms = int(max(timeout_s, 0.5) * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
    if kind == "usb":
        index = int(camera.url) if camera.url.isdigit() else int(camera.url.removeprefix("/dev/video"))
        capture = cv2.VideoCapture(index, cv2.CAP_V4L2)
    elif kind == "file":
        if not Path(camera.url).is_file():
            raise CaptureOpenError(f"camera {camera.id!r}: file {camera.url} does not exist")
        capture = cv2.VideoCapture(camera.url, cv2.CAP_FFMPEG)
    else:
        options = f"rtsp_transport;{camera.rtsp_transport}" if kind == "rtsp" else ""
        with _OPEN_LOCK:
            previous = os.environ.get(_FFMPEG_OPTIONS_VAR)
            os.environ[_FFMPEG_OPTIONS_VAR] = options
            try:
                capture = cv2.VideoCapture(camera.url, cv2.CAP_FFMPEG, params)
            finally:
                if previous is None:
                    os.environ.pop(_FFMPEG_OPTIONS_VAR, None)
                else:
                    os.environ[_FFMPEG_OPTIONS_VAR] = previous
    if not capture.isOpened():
        capture.release()
        raise CaptureOpenError(f"camera {camera.id!r}: cannot open {kind} source {redact(camera.url)}")
    return capture


def redact(url: str) -> str:
    """Drop credentials from a stream URL before it is logged."""
    return re.sub(r"//[^/@]*@", "//***@", url)


def clip_position_s(capture: cv2.VideoCapture, index: int, fps: float) -> float:
    """Timestamp of the last grabbed frame on the clip's own timeline."""
    msec = capture.get(cv2.CAP_PROP_POS_MSEC)
    if msec and msec > 0 or index == 0:
        return max(0.0, msec / 1000.0)
    return index / fps if fps > 0 else 0.0
