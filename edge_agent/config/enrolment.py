from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from edge_agent.config.base import SecretFile, Section
from edge_agent.config.policy import PATH, PLACE, REMOTE_FIELD, local


class EnrolmentConfig(Section):
    """First-boot enrolment (docs/install.md): with no identity yet, the box asks the platform for a certificate
    over the site-wide bootstrap account, then talks mTLS with its own (mqtt.host/port, mqtt.tls)."""

    enabled: bool = Field(
        default=False,
        json_schema_extra=local("enrolment replaces the broker identity the file sets"),
        description="Enrol on first start and renew the certificate; device.id, device.site and the mqtt "
        "credentials then come from the box's certificate.",
    )
    bootstrap_host: str = Field(
        default="127.0.0.1", json_schema_extra=PLACE, description="Broker host of the bootstrap listener."
    )
    bootstrap_port: int = Field(
        default=8884, ge=1, le=65535, json_schema_extra=PLACE, description="Port of the bootstrap listener (TLS)."
    )
    bootstrap_username: str = Field(
        default="bootstrap",
        json_schema_extra=local("the site-wide bootstrap account"),
        description="The site-wide bootstrap account (its ACL allows only the enrolment topics).",
    )
    bootstrap_password_file: SecretFile | None = Field(
        default=None, json_schema_extra=PATH, description="File holding the bootstrap account's password."
    )
    ca_file: Path | None = Field(
        default=None,
        json_schema_extra=PATH,
        description="The site CA that signs device certificates (checked before a certificate is used).",
    )
    serial_file: Path | None = Field(
        default=None,
        json_schema_extra=PATH,
        description="Read the hardware serial from this file. Default: the device tree, then /etc/machine-id.",
    )
    renew_at: float = Field(
        default=2 / 3,
        ge=0.5,
        le=0.9,
        json_schema_extra=REMOTE_FIELD,
        description="Renew the certificate at this fraction of its lifetime.",
    )
    retry_interval: float = Field(
        default=30.0,
        ge=0.5,
        le=3600,
        json_schema_extra=REMOTE_FIELD,
        description="Seconds between enrolment or renewal requests while unanswered.",
    )

    @model_validator(mode="after")
    def _complete(self) -> EnrolmentConfig:
        if self.enabled and (self.bootstrap_password_file is None or self.ca_file is None):
            raise ValueError("enabled needs bootstrap_password_file and ca_file")
        return self
