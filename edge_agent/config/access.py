"""Access-control feeds, doors and door rules."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, SecretStr

from edge_agent.config.base import SecretFile, Section
from edge_agent.config.schedule import TimeRange
from edge_agent.events.alert import Severity

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class OsdpReaderConfig(Section):
    address: int = Field(ge=0, le=126, description="OSDP address of the reader (PD).")
    door: str = Field(description="Door id the reader belongs to.")
    reader: str | None = Field(default=None, description="Reader id in events. Default: {adapter}-{address}.")
    direction: Literal["in", "out"] | None = Field(default=None, description="Direction a grant at this reader lets people go.")
    scbk_file: SecretFile | None = Field(default=None, description="File with the 16-byte secure channel base key (hex). Without it the channel is not secure.")


class OsdpAdapterConfig(Section):
    type: Literal["osdp"]
    id: str = Field(pattern=_ID, description="Adapter id.")
    device: str = Field(description="Serial device, e.g. /dev/ttyUSB0 (RS-485).")
    baud: int = Field(default=9600, description="Baud rate.")
    readers: list[OsdpReaderConfig] = Field(min_length=1, description="Readers on this bus.")


class HttpAuthConfig(Section):
    hmac_secret_file: SecretFile | None = Field(default=None, description="Shared secret for the X-Signature HMAC header over timestamp + body.")
    bearer_token_file: SecretFile | None = Field(default=None, description="Bearer token expected in Authorization.")
    replay_window: float = Field(default=300.0, gt=0, description="Seconds a signed request's timestamp may differ from ours.")


class HttpPushAdapterConfig(Section):
    type: Literal["http_push"]
    id: str = Field(pattern=_ID, description="Adapter id.")
    bind: str = Field(default="127.0.0.1", description="Listen address; loopback unless configured.")
    port: int = Field(default=8089, ge=0, le=65535, description="Listen port (0 picks a free one).")
    format: Literal["generic", "hikvision"] = Field(default="generic", description="Payload format the controller posts.")
    auth: HttpAuthConfig = Field(default_factory=HttpAuthConfig)
    max_body_bytes: int = Field(default=64 * 1024, ge=256, description="Requests larger than this are refused (413).")
    default_door: str | None = Field(default=None, description="Door for events that name none.")


class LineStreamAdapterConfig(Section):
    type: Literal["line_stream"]
    id: str = Field(pattern=_ID, description="Adapter id.")
    tcp_host: str | None = Field(default=None, description="Connect to this host for a TCP line stream.")
    tcp_port: int | None = Field(default=None, ge=1, le=65535, description="TCP port.")
    serial_device: str | None = Field(default=None, description="Or read lines from this serial device.")
    baud: int = Field(default=9600, description="Serial baud rate.")
    max_line_bytes: int = Field(default=4096, ge=64, description="Longer lines are rejected.")


AdapterConfig = Annotated[
    Union[OsdpAdapterConfig, HttpPushAdapterConfig, LineStreamAdapterConfig],
    Field(discriminator="type"),
]


class CameraLineRef(Section):
    camera: str = Field(description="Camera id.")
    line: str = Field(description="Line name on that camera; inward crossings are people entering.")


class DoorConfig(Section):
    id: str = Field(pattern=_ID, description="Door id used in events and alerts.")
    name: str | None = Field(default=None, description="Human name.")
    camera_line: CameraLineRef | None = Field(default=None, description="Camera line at this door, for tailgating.")
    held_open_after: float = Field(default=30.0, gt=0, description="Seconds open before door.held_open.")
    allowed: list[TimeRange] = Field(default_factory=list, description="When access is allowed; a grant outside raises access.off_schedule. Empty = always.")
    clock_offset: float = Field(default=0.0, description="Seconds to add to the controller's clock to get ours.")


class DenialBurstConfig(Section):
    count: int = Field(default=3, ge=2, description="Denials at one reader…")
    window: float = Field(default=60.0, gt=0, description="…within this many seconds raise an alert.")
    severity: Severity = Field(default=Severity.major)


class TailgatingConfig(Section):
    enabled: bool = Field(default=True, description="Join door grants with camera crossings.")
    window: float = Field(default=8.0, gt=0, description="Seconds after a grant in which its crossing counts.")
    severity: Severity = Field(default=Severity.major)


class WelfareWatch(Section):
    name: str = Field(pattern=_ID, description="Name of the watch, carried in alerts.")
    credential_tokens: list[str] = Field(default_factory=list, description="Tokens to watch (from enrolment).")
    card_numbers: list[SecretStr] = Field(default_factory=list, description="Card numbers, hashed to tokens at load time, never stored.")
    doors: list[str] = Field(default_factory=list, description="Or watch any event at these doors.")
    max_silence_hours: float = Field(gt=0, description="Alert when nothing is seen for this long.")
    quiet_hours: list[TimeRange] = Field(default_factory=list, description="Windows in which silence does not count (night).")
    severity: Severity = Field(default=Severity.major)


class AccessConfig(Section):
    site_key_file: SecretFile | None = Field(default=None, description="Site key for credential tokens (HMAC-SHA256). Required when any adapter is configured.")
    adapters: list[AdapterConfig] = Field(default_factory=list, description="Door controller and reader feeds.")
    doors: list[DoorConfig] = Field(default_factory=list, description="Doors.")
    denials: DenialBurstConfig = Field(default_factory=DenialBurstConfig)
    tailgating: TailgatingConfig = Field(default_factory=TailgatingConfig)
    welfare: list[WelfareWatch] = Field(default_factory=list, description="Welfare checks.")
