"""The evidence messages (docs/evidence.md): a clip kept, a piece of evidence sent on request, and its record."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.events.alert import SCHEMA_VERSION

SHA256 = "^[0-9a-f]{64}$"


class EvidenceKept(BaseModel):
    """A clip is complete only `clip.after` seconds past its alert's start, so its record follows the alert."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(default=SCHEMA_VERSION, description="Contract version, MAJOR.MINOR.")
    event_id: str = Field(description="UUIDv7 of this message.")
    alert_event_id: str = Field(description="The alert the clip belongs to (its file is named by this id).")
    device_id: str = Field(description="Device that keeps the clip.")
    site: str = Field(description="Site of the device.")
    kind: Literal["clip"] = Field(description="What was kept.")
    sha256: str = Field(pattern=SHA256, description="SHA-256 of the file, hex.")
    bytes: int = Field(ge=0, description="Size of the file.")
    captured_at: str = Field(description="RFC 3339 UTC time of the clip's first frame.")
    frames: int = Field(ge=0, description="Frames in the clip.")
    duration_s: float = Field(ge=0, description="Seconds from the first frame to the last.")
    created_at: str = Field(description="RFC 3339 UTC time of this message.")


class EvidencePart(BaseModel):
    """One message on `{base}/evidence/{event_id}`: a snapshot whole (`count` 1) or one chunk of a clip, in order."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(default=SCHEMA_VERSION, description="Contract version, MAJOR.MINOR.")
    event_id: str = Field(description="The alert whose evidence this is.")
    request_id: str | None = Field(description="The get-evidence request that asked for it.")
    kind: Literal["snapshot", "clip"] = Field(description="snapshot (image/jpeg) or clip (video/x-msvideo, MJPEG).")
    index: int = Field(ge=0, description="Position of this part, from 0.")
    count: int = Field(ge=1, description="Parts in all.")
    sha256: str = Field(pattern=SHA256, description="SHA-256 of this part's bytes.")
    file_sha256: str = Field(pattern=SHA256, description="SHA-256 of the whole file: the alert's evidence.sha256.")
    file_bytes: int = Field(ge=0, description="Size of the whole file.")
    data: str = Field(description="This part's bytes, base64.")


class EvidenceSent(BaseModel):
    """The audit record of one fetch: who asked, when, for what, and what was sent (or why it was refused)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(default=SCHEMA_VERSION, description="Contract version, MAJOR.MINOR.")
    event_id: str = Field(description="UUIDv7 of this record.")
    device_id: str = Field(description="Device that holds the evidence.")
    site: str = Field(description="Site of the device.")
    alert_event_id: str = Field(max_length=64, description="The alert whose evidence was asked for.")
    kind: Literal["snapshot", "clip"] | None = Field(description="What was sent; null when refused.")
    outcome: Literal["sent", "refused"] = Field(description="sent, or refused (see reason).")
    reason: str | None = Field(default=None, description="Why it was refused.")
    requested_by: str | None = Field(
        description="Who asked, as the request named them (`args.requested_by`), or the technician's login."
    )
    via: Literal["get-evidence", "web"] = Field(description="The remote command, or the technician's page (local).")
    request_id: str | None = Field(description="The command's request_id.")
    requested_at: str = Field(description="RFC 3339 UTC time the request was handled.")
    bytes: int = Field(ge=0, description="Bytes of evidence sent (0 when refused).")
    sha256: str | None = Field(default=None, description="SHA-256 of what was sent.")
    parts: int = Field(ge=0, description="Messages it was sent in.")
