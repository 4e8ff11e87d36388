"""Evidence on request (docs/evidence.md): per rule what is kept (a snapshot, a clip) and how people are hidden,
and for the box how long it is kept, how much disk it may use and how often the platform may fetch it."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from edge_agent.config.base import Section
from edge_agent.config.policy import LOCAL_VALUES, MARK, REMOTE, WHY

PRIVACY_NONE = "none"


class ClipConfig(Section):
    remote_change: ClassVar[str] = REMOTE

    before: float = Field(default=5.0, ge=0, le=30, description="Seconds of video kept from before the alert's start.")
    after: float = Field(default=5.0, ge=0, le=30, description="Seconds of video kept from after the alert's start.")


class RuleEvidence(Section):
    """What a rule keeps on the box when it starts an alert; nothing leaves the box until `get-evidence` asks."""

    remote_change: ClassVar[str] = REMOTE

    snapshot: bool = Field(default=False, description="Keep one JPEG of the frame that started the alert.")
    clip: ClipConfig | None = Field(
        default=None,
        description="Keep a clip around the start (MJPEG in AVI, evidence.clip_width px at evidence.clip_fps); the "
        "camera then keeps a ring buffer of recent frames, pixelated and JPEG-compressed in memory.",
    )
    privacy: Literal["pixelate_people", "faces", "none"] = Field(
        default="pixelate_people",
        json_schema_extra={
            MARK: REMOTE,
            LOCAL_VALUES: [PRIVACY_NONE],
            WHY: "evidence with people left visible: only the installer may choose it, in the file on the device",
        },
        description="pixelate_people: every person box mosaicked (blocks of at least 1/8 of the box height); faces: "
        "faces blurred by the face detector where one is installed, else people pixelated; none: the picture as "
        "seen (only in the config file on the device, and never fetched remotely).",
    )

    @property
    def wanted(self) -> bool:
        return self.snapshot or self.clip is not None


class EvidenceConfig(Section):
    """Where evidence is kept and for how long: `evidence/` beside the outbox, named by the alert's event_id."""

    keep_days: float = Field(default=7.0, gt=0, le=365, description="Evidence older than this is deleted.")
    max_mb: int = Field(default=512, ge=1, description="Evidence files use at most this much disk; oldest go first.")
    min_free_mb: int = Field(
        default=400,
        ge=0,
        description="Below this free disk space no evidence is written (a health alert says so), so the outbox, "
        "whose own floor is outbox.min_free_disk_mb, never starves; keep it above that floor.",
    )
    clip_width: int = Field(default=640, ge=160, le=1920, description="Width clip frames are scaled down to (px).")
    clip_fps: float = Field(
        default=2.0,
        gt=0,
        le=10,
        description="Frames a second kept in a camera's ring buffer (at most its detect rate).",
    )
    jpeg_quality: int = Field(default=80, ge=30, le=95, description="JPEG quality of snapshots and clip frames.")
    fetches_per_minute: int = Field(
        default=10, ge=1, le=600, description="get-evidence requests served per minute; more are refused."
    )
    chunk_kb: int = Field(default=128, ge=16, le=1024, description="Size of one published chunk of a clip (KiB).")
