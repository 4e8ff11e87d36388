"""Access-control feeds: one model per adapter type (OSDP bus, HTTP push, line stream), told apart by `type`.

The doors and the door rules these feeds serve are configured in access.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from edge_agent.config.base import Name, SecretFile, Section
from edge_agent.config.policy import LISTENER, PATH, PLACE


class OsdpReaderConfig(Section):
    address: int = Field(ge=0, le=126, description="OSDP address of the reader (PD).")
    door: Name = Field(description="Door id the reader belongs to.")
    reader: Name | None = Field(default=None, description="Reader id in events. Default: {adapter}-{address}.")
    direction: Literal["in", "out"] | None = Field(
        default=None, description="Direction a grant at this reader lets people go."
    )
    scbk_file: SecretFile | None = Field(
        default=None,
        json_schema_extra=PATH,
        description="File with the 16-byte secure channel base key (hex). Without it the channel is not secure.",
    )
    card_read_as: Literal["credential.read", "access.granted"] = Field(
        default="credential.read",
        description="What a card read means: the panel still decides (credential.read), or this reader's door opens "
        "on every read it reports (access.granted).",
    )
    door_contact_input: int | None = Field(
        default=None,
        ge=0,
        le=31,
        description="PD input whose status reports the door contact (1 = open), for door.opened/door.closed.",
    )


class OsdpAdapterConfig(Section):
    type: Literal["osdp"]
    id: Name = Field(description="Adapter id.")
    device: str = Field(json_schema_extra=PATH, description="Serial device, e.g. /dev/ttyUSB0 (RS-485).")
    baud: int = Field(default=9600, description="Baud rate.")
    readers: list[OsdpReaderConfig] = Field(min_length=1, description="Readers on this bus.")
    require_secure_channel: bool = Field(
        default=True,
        description="Refuse a reader without an SCBK file (plain-text OSDP carries card numbers in clear).",
    )

    @model_validator(mode="after")
    def _readers_distinct_and_secure(self) -> OsdpAdapterConfig:
        addresses = [reader.address for reader in self.readers]
        if len(set(addresses)) != len(addresses):
            raise ValueError(f"OSDP addresses on one bus must differ (found {addresses})")
        if self.require_secure_channel:
            plain = [reader.address for reader in self.readers if reader.scbk_file is None]
            if plain:
                raise ValueError(
                    f"readers at addresses {plain} have no scbk_file; set one or require_secure_channel: false"
                )
        return self


class HttpAuthConfig(Section):
    hmac_secret_file: SecretFile | None = Field(
        json_schema_extra=PATH,
        default=None,
        description="Shared secret for the X-Signature HMAC header over timestamp + body.",
    )
    bearer_token_file: SecretFile | None = Field(
        default=None, json_schema_extra=PATH, description="Bearer token expected in Authorization."
    )
    replay_window: float = Field(
        default=300.0, gt=0, description="Seconds a signed request's timestamp may differ from ours."
    )
    replay_cache_size: int = Field(
        default=10000, ge=16, description="Signatures remembered within the replay window to refuse a replayed request."
    )
    allow_unauthenticated: bool = Field(
        default=False, description="Accept unsigned requests (only behind a trusted proxy on loopback)."
    )


class HttpPushAdapterConfig(Section):
    type: Literal["http_push"]
    id: Name = Field(description="Adapter id.")
    bind: str = Field(
        default="127.0.0.1", json_schema_extra=LISTENER, description="Listen address; loopback unless configured."
    )
    port: int = Field(default=8089, ge=0, le=65535, description="Listen port (0 picks a free one).")
    format: Literal["generic", "hikvision"] = Field(
        default="generic", description="Payload format the controller posts."
    )
    auth: HttpAuthConfig = Field(default_factory=HttpAuthConfig)
    max_body_bytes: int = Field(default=64 * 1024, ge=256, description="Requests larger than this are refused (413).")
    max_connections: int = Field(
        default=32,
        ge=1,
        le=1024,
        description="Complete requests handled at once (a thread each, only once the whole request has arrived); a "
        "complete request beyond that is answered 503 busy and closed, so a flood cannot exhaust threads.",
    )
    max_open_connections: int = Field(
        default=128,
        ge=1,
        le=4096,
        description="Connections open at once, all read by the receiver's one loop without a thread each (each "
        "buffers at most its head and max_body_bytes). When full, the connection that has waited longest without "
        "sending a complete request is closed with 503 (counted `evicted`) to make room, so slow or idle clients "
        "cannot lock a controller out.",
    )
    request_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds a client has from connecting to sending its whole request (head and body): a total "
        "deadline, not a per-read one, so dripping bytes does not extend it. Past it the request is answered 408 and "
        "closed (counted `timeout`).",
    )
    default_door: Name | None = Field(default=None, description="Door for events that name none.")
    path: str = Field(
        default="/events",
        json_schema_extra=LISTENER,
        pattern=r"^/[\x21-\x7e]*$",
        description="URL path the controller posts to.",
    )
    hikvision_doors: dict[int, Name] = Field(
        default_factory=dict, description="Hikvision doorNo -> door id; unmapped numbers use default_door."
    )
    reader_directions: dict[int, Literal["in", "out"]] = Field(
        default_factory=dict, description="Controller reader number -> direction a grant there lets people go."
    )

    @model_validator(mode="after")
    def _authenticated(self) -> HttpPushAdapterConfig:
        auth = self.auth
        if auth.hmac_secret_file is None and auth.bearer_token_file is None and not auth.allow_unauthenticated:
            raise ValueError(
                "set auth.hmac_secret_file or auth.bearer_token_file (or auth.allow_unauthenticated: true)"
            )
        return self


class LineStreamAdapterConfig(Section):
    type: Literal["line_stream"]
    id: Name = Field(description="Adapter id.")
    tcp_host: str | None = Field(
        default=None, json_schema_extra=PLACE, description="Connect to this host for a TCP line stream."
    )
    tcp_port: int | None = Field(default=None, ge=1, le=65535, description="TCP port.")
    serial_device: str | None = Field(
        default=None, json_schema_extra=PATH, description="Or read lines from this serial device."
    )
    baud: int = Field(default=9600, description="Serial baud rate.")
    max_line_bytes: int = Field(default=4096, ge=64, description="Longer lines are rejected.")
    default_door: Name | None = Field(default=None, description="Door for events that name none.")
    reconnect_min_delay: float = Field(
        default=0.5, gt=0, description="First wait (s) before reconnecting; doubles per failure."
    )
    reconnect_max_delay: float = Field(default=30.0, gt=0, description="Longest wait (s) between reconnect attempts.")
    idle_timeout: float = Field(
        default=0.0, ge=0, description="Reconnect when nothing arrives for this many seconds (0 = never)."
    )

    @model_validator(mode="after")
    def _one_transport(self) -> LineStreamAdapterConfig:
        tcp = self.tcp_host is not None or self.tcp_port is not None
        if tcp and (self.tcp_host is None or self.tcp_port is None):
            raise ValueError("a TCP line stream needs both tcp_host and tcp_port")
        if tcp == (self.serial_device is not None):
            raise ValueError("set either tcp_host/tcp_port or serial_device, not both or neither")
        if self.reconnect_max_delay < self.reconnect_min_delay:
            raise ValueError("reconnect_max_delay must be at least reconnect_min_delay")
        return self


AdapterConfig = Annotated[
    OsdpAdapterConfig | HttpPushAdapterConfig | LineStreamAdapterConfig,
    Field(discriminator="type"),
]
