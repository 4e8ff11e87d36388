from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from edge_agent.config.base import SecretFile, Section
from edge_agent.config.policy import BROKER_FIELD, PATH, REMOTE, REMOTE_FIELD, local


class TlsConfig(Section):
    """TLS to the broker. Verification is always on unless `insecure` is set."""

    enabled: bool = Field(default=False, description="Use TLS.")
    ca_file: Path | None = Field(
        default=None,
        json_schema_extra=PATH,
        description="CA bundle that signed the broker certificate. Default: the system store.",
    )
    cert_file: Path | None = Field(
        default=None, json_schema_extra=PATH, description="Client certificate (PEM) for mutual TLS."
    )
    key_file: SecretFile | None = Field(
        default=None, json_schema_extra=PATH, description="Client private key (PEM) for mutual TLS."
    )
    insecure: bool = Field(
        default=False,
        description="Skip broker certificate verification. Never in production; logs a warning at every connect.",
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self


class ReconnectConfig(Section):
    remote_change: ClassVar[str] = REMOTE

    min_delay: float = Field(default=1.0, gt=0, description="First back-off delay in seconds.")
    max_delay: float = Field(
        default=120.0, gt=0, description="Longest back-off delay in seconds (full jitter below it)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ReconnectConfig:
        if self.max_delay < self.min_delay:
            raise ValueError("max_delay must be >= min_delay")
        return self


class MqttConfig(Section):
    """The platform broker. Alerts go out at QoS 1 from the outbox."""

    host: str = Field(default="127.0.0.1", json_schema_extra=BROKER_FIELD, description="Broker host name or address.")
    port: int = Field(
        default=1883, ge=1, le=65535, json_schema_extra=BROKER_FIELD, description="Broker port (8883 is usual for TLS)."
    )
    protocol: Literal["v5", "v311"] = Field(default="v5", description="MQTT protocol version.")
    topic_prefix: str = Field(
        default="edge", pattern=r"^[^#+\s]+$", description="First topic level: {prefix}/{site}/{device_id}/..."
    )
    keepalive: int = Field(
        default=30, json_schema_extra=REMOTE_FIELD, ge=5, le=3600, description="Keepalive in seconds."
    )
    username: str | None = Field(
        default=None, json_schema_extra=BROKER_FIELD, description="Username, if the broker wants one."
    )
    password: SecretStr | None = Field(
        default=None, json_schema_extra=BROKER_FIELD, description="Password; prefer password_file or ${ENV}."
    )
    password_file: SecretFile | None = Field(
        default=None, json_schema_extra=PATH, description="File holding the password."
    )
    remote_brokers: list[str] = Field(
        default_factory=list,
        json_schema_extra=local("which brokers the platform may move the box to"),
        description="Brokers (`host` or `host:port`) a remote set-config may move the box to, with their username "
        "and inline password; empty = where the broker is and its credentials are set only in this file.",
    )
    tls: TlsConfig = Field(default_factory=TlsConfig)
    reconnect: ReconnectConfig = Field(default_factory=ReconnectConfig)
    max_inflight: int = Field(
        default=20,
        json_schema_extra=REMOTE_FIELD,
        ge=1,
        le=1000,
        description="Messages handed to the MQTT client before their PUBACK.",
    )
    retry_unrouted: bool = Field(
        default=True,
        json_schema_extra=REMOTE_FIELD,
        description="MQTT v5: treat a PUBACK 'No matching subscribers' for an alarm or event as not delivered and "
        "send it again after a back-off (telemetry is never retried). Nobody received such a message: e.g. a broker "
        "that does not keep shared subscriptions across its restart (mosquitto) answers so until the platform's "
        "consumers have subscribed again. Such messages wait in the outbox (bounded by its expiry and size; telemetry "
        "`system.mqtt.first_unrouted_at` says since when nobody has received them). Off: the broker's answer is "
        "taken as delivered.",
    )
    will_delay: int = Field(
        default=10,
        json_schema_extra=REMOTE_FIELD,
        ge=0,
        le=3600,
        description="MQTT v5 Will Delay Interval in seconds, so a quick reconnect raises no offline flap.",
    )

    @model_validator(mode="after")
    def _one_password_source(self) -> MqttConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        return self
