"""The technician's page (edge_agent/web): off by default, loopback unless told, TLS and a login off loopback."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, model_validator

from edge_agent.config.base import SecretFile, Section
from edge_agent.config.policy import LISTENER, PATH


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: treat it as reachable from the LAN


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

    def password_path(self, state_dir: Path) -> Path:
        return self.password_file or Path(state_dir) / "web" / "password"

    def audit_path(self, state_dir: Path) -> Path:
        return self.audit_file or Path(state_dir) / "web" / "audit.jsonl"
