"""The technician's page (edge_agent/web): off by default, loopback unless told, TLS and a login off loopback."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from edge_agent.config.base import SecretFile, Section
from edge_agent.config.policy import LISTENER, PATH


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: treat it as reachable from the LAN


HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)


def host_name(value: str) -> str:
    """A Host header's name part as compared: lower case, no trailing dot, IPv6 without brackets, canonical IPs."""
    name = value.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name


class WebTlsConfig(Section):
    """Certificate and key for HTTPS; `edge-agent web cert` makes a self-signed pair and prints its fingerprint."""

    cert_file: Path | None = Field(
        default=None, json_schema_extra=PATH, description="PEM certificate (chain) the page is served with."
    )
    key_file: SecretFile | None = Field(
        default=None, json_schema_extra=PATH, description="PEM private key of cert_file (keep it 0600)."
    )

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None and self.key_file is not None


class WebConfig(Section):
    """The technician's page: live view, zone and line editing, apply with automatic revert. Off by default."""

    enabled: bool = Field(default=False, description="Serve the technician's page.")
    bind: str = Field(
        default="127.0.0.1",
        json_schema_extra=LISTENER,
        description="Listen address. Loopback (reach it through an SSH tunnel) unless you mean otherwise; any other "
        "address requires tls.",
    )
    port: int = Field(
        default=8443, ge=0, le=65535, description="Listen port (0 picks a free one; the log line says which)."
    )
    user: str = Field(
        default="technician",
        pattern=r"^[A-Za-z0-9_.-]{1,32}$",
        description="The one local account's name (shown in the audit log).",
    )
    password_file: Path | None = Field(
        default=None,
        json_schema_extra=PATH,
        description="The account's scrypt password hash, written by `edge-agent web passwd`; default "
        "STATE_DIR/web/password. Without it nobody can log in.",
    )
    audit_file: Path | None = Field(
        default=None,
        json_schema_extra=PATH,
        description="JSON-lines audit log of logins and every config change (who, when, the diff); default "
        "STATE_DIR/web/audit.jsonl.",
    )
    tls: WebTlsConfig = Field(default_factory=WebTlsConfig)
    live_view: bool = Field(
        default=True,
        description="Serve the camera's live image to a logged-in browser (never stored, never published). false "
        "disables the image endpoint entirely.",
    )
    live_fps: float = Field(
        default=2.0, gt=0, le=5, description="Most live images per second one browser session gets."
    )
    session_idle_timeout: float = Field(
        default=1800.0, ge=60, le=86400, description="Seconds of inactivity after which a login expires."
    )
    login_max_failures: int = Field(
        default=5, ge=1, le=100, description="Failed logins from one address allowed per login_window."
    )
    login_window: float = Field(
        default=300.0, ge=1, le=86400, description="Seconds over which failed logins are counted and refused."
    )
    session_max_age: float = Field(
        default=43200.0,
        ge=60,
        le=7 * 86400,
        description="Seconds after which a login expires however active it is (12 h: one working day). A new "
        "password (`edge-agent web passwd`) ends every login at once.",
    )
    request_timeout: float = Field(
        default=10.0,
        ge=1,
        le=300,
        description="Seconds a client has to send a request's head, and again its body, and to take each part of "
        "the answer; a slower connection is closed (408 when the body is late). Bounds slow-sending clients.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="More names (or addresses) the page may be reached by, as the browser's address bar shows "
        "them, e.g. edge-box.local. Loopback names and addresses and `bind` are always allowed; a request for any "
        "other Host is refused (against DNS rebinding).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto "
        "are believed. Empty (the default): forwarded headers are ignored, and the login limit and audit log use "
        "the connection's own address. Never list 127.0.0.1 when technicians come through an SSH tunnel.",
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str]) -> list[str]:
        names = []
        for host in hosts:
            name = host_name(host)
            if not HOST_NAME.match(name) and not _is_ip(name):
                raise ValueError(f"{host!r} is not a host name or IP address (no port, no scheme, no wildcard)")
            names.append(name)
        return names

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, proxies: list[str]) -> list[str]:
        networks = []
        for proxy in proxies:
            try:
                networks.append(str(ipaddress.ip_network(proxy.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)") from None
        return networks

    @model_validator(mode="after")
    def _lan_needs_tls(self) -> WebConfig:
        if (self.tls.cert_file is None) != (self.tls.key_file is None):
            raise ValueError("tls needs both cert_file and key_file")
        if self.enabled and not is_loopback(self.bind) and not self.tls.enabled:
            raise ValueError(
                f"bind {self.bind!r} is not loopback: set tls.cert_file and tls.key_file "
                "(`edge-agent web cert` makes a self-signed pair), or bind 127.0.0.1 and use an SSH tunnel"
            )
        return self

    def page_hosts(self) -> frozenset[str]:
        """Every Host name the page answers to: loopback, the bind address (unless a wildcard) and allowed_hosts."""
        names = {"localhost", host_name(self.bind), *self.allowed_hosts}
        return frozenset(names - {"0.0.0.0", "::"})

    def password_path(self, state_dir: Path) -> Path:
        return self.password_file or Path(state_dir) / "web" / "password"

    def audit_path(self, state_dir: Path) -> Path:
        return self.audit_file or Path(state_dir) / "web" / "audit.jsonl"


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
