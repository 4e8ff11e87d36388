from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from edge_agent.config.base import Name, Section
from edge_agent.config.geometry import LineConfig, Point, ZoneConfig
from edge_agent.config.policy import REMOTE, local
from edge_agent.config.tracking import TrackerConfig


class MotionConfig(Section):
    remote_change: ClassVar[str] = REMOTE

    enabled: bool = Field(default=True, description="Run the detector only on motion or live tracks.")
    threshold: int = Field(
        default=25, ge=1, le=255, description="Pixel difference from the background that counts as change."
    )
    min_area: float = Field(
        default=0.002,
        ge=0,
        le=1,
        description="Fraction of the (low-resolution) frame that must change to count as motion.",
    )
    full_check_interval: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between detector runs even without motion, so still objects stay known.",
    )
    masks: list[list[Point]] = Field(
        default_factory=list, description="Polygons (normalized) where motion is ignored, e.g. a clock or a tree."
    )


class TamperConfig(Section):
    remote_change: ClassVar[str] = REMOTE

    enabled: bool = Field(default=True, description="Raise tamper when the view is covered, blurred or moved.")
    baseline_seconds: float = Field(
        default=30.0, gt=0, description="Seconds of footage that form the running baseline."
    )
    hold_seconds: float = Field(default=3.0, ge=0, description="How long a change must persist before tamper fires.")
    covered_contrast_ratio: float = Field(
        default=0.3, gt=0, lt=1, description="Covered when contrast falls below this fraction of the baseline's."
    )
    covered_brightness_ratio: float = Field(
        default=0.25, gt=0, lt=1, description="Covered when brightness falls below this fraction of the baseline's."
    )
    blurred_sharpness_ratio: float = Field(
        default=0.2,
        gt=0,
        lt=1,
        description="Blurred when sharpness (variance of the Laplacian) falls below this fraction of the baseline's.",
    )
    moved_similarity: float = Field(
        default=0.6,
        gt=-1,
        lt=1,
        description="Moved when the edge layout's correlation with the reference view (best within 1/32 of the frame) "
        "falls below this. On the shared footage people passing kept it at 0.70 or above; a quarter-frame shift, a "
        "flip, a half-frame pan or a 1.3x zoom of the entrance brought it to 0.50 or below.",
    )
    reference_refresh_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Seconds of an unchanged view after which the reference view that `moved` compares against is "
        "re-taken from the running baseline (follows slow lighting changes; a moved view is never adopted).",
    )


class CameraHealthConfig(Section):
    remote_change: ClassVar[str] = REMOTE

    offline_grace: float = Field(default=15.0, ge=0, description="Seconds without frames before camera.offline fires.")
    stall_timeout: float = Field(
        default=10.0, gt=0, description="Seconds without a new frame before the source reconnects."
    )
    frozen_frames: int = Field(default=50, ge=2, description="Identical consecutive frames that count as a stall.")
    reconnect_min_delay: float = Field(default=1.0, gt=0, description="First reconnect delay in seconds.")
    reconnect_max_delay: float = Field(
        default=60.0, gt=0, description="Longest reconnect delay in seconds (full jitter)."
    )
    tamper: TamperConfig = Field(default_factory=TamperConfig)


class CameraConfig(Section):
    """One camera: where to read it, how often to detect, and its named zones and lines."""

    remote_change: ClassVar[str] = REMOTE

    id: Name = Field(description="Camera id used in alerts and topics.")
    url: str = Field(
        json_schema_extra=local("what the agent reads: a remote sender could name a file or a host of its choice"),
        description="rtsp://… or http://… stream, a file path, a USB index like 0, or /dev/videoN.",
    )
    kind: Literal["auto", "rtsp", "http", "usb", "file"] = Field(
        default="auto",
        json_schema_extra=local("how the url is read"),
        description="Source kind; auto guesses from url.",
    )
    rtsp_transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTSP transport.")
    loop: bool = Field(default=False, description="Loop a file source (demos).")
    realtime: bool = Field(
        default=True, description="Play a file at its own frame rate; false reads as fast as possible (replay)."
    )
    detect_fps: float = Field(default=5.0, gt=0, le=60, description="Frames per second handed to detection.")
    enabled: bool = Field(default=True, description="Set false to keep a camera configured but not read.")
    motion: MotionConfig = Field(default_factory=MotionConfig)
    health: CameraHealthConfig = Field(default_factory=CameraHealthConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig, description="Tracker settings for this camera.")
    zones: dict[Name, ZoneConfig] = Field(default_factory=dict, description="Named polygon zones.")
    lines: dict[Name, LineConfig] = Field(default_factory=dict, description="Named directed lines.")
