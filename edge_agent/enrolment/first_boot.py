"""First start with no identity: key, CSR, the bootstrap account, the platform's certificate.

The box's identity (device id, site) is the certificate's subject, so after enrolment the config's
device section and mqtt credentials are replaced by it (`with_identity`) and the bootstrap account is
never used again: renewal goes over the box's own certificate (enrolment/renewal.py).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from pathlib import Path

from edge_agent.config import AgentConfig
from edge_agent.config.base import read_secret
from edge_agent.enrolment import enrol_wire
from edge_agent.enrolment.device_keys import (
    Identity,
    check_issued,
    key_fingerprint,
    make_csr,
    new_key,
    read_identity,
    write_identity,
)
from edge_agent.enrolment.exchange import ExchangeError, exchange, mqtt_client
from edge_agent.enrolment.hardware_serial import SERIAL_FILES, read_serial
from edge_agent.logs import redact

log = logging.getLogger(__name__)


class EnrolmentRefused(RuntimeError):
    """The platform rejected or refused this box; retrying would not help until an operator acts."""


def identity_path(config: AgentConfig) -> Path:
    return config.device.state_dir / "identity" / "device.pem"


def box_serial(config: AgentConfig) -> str:
    return read_serial((config.enrolment.serial_file,) if config.enrolment.serial_file else SERIAL_FILES)


def with_identity(config: AgentConfig, identity: Identity, path: Path) -> AgentConfig:
    """The config as the enrolled box runs it: its id and site from the certificate, mTLS with it, no password."""
    tls = config.mqtt.tls.model_copy(update={"enabled": True, "cert_file": path, "key_file": path})
    mqtt = config.mqtt.model_copy(update={"tls": tls, "username": None, "password": None, "password_file": None})
    device = config.device.model_copy(update={"id": identity.device_id, "site": identity.site})
    return config.model_copy(update={"device": device, "mqtt": mqtt})


def server_context(config: AgentConfig, cert_path: Path | None = None) -> ssl.SSLContext:
    """TLS to the broker, verified against mqtt.tls.ca_file; with the box's own certificate when given."""
    ca = config.mqtt.tls.ca_file
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca) if ca else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_path is not None:
        context.load_cert_chain(str(cert_path), str(cert_path))
    return context


def ensure_identity(config: AgentConfig, stopping: threading.Event | None = None, timeout: float = float("inf")):
    """(config with identity, identity): the stored one, else enrol now (blocks until approved, refused or stopped)."""
    path = identity_path(config)
    stored = read_identity(path)
    if stored is None:
        enrol(config, path, stopping, timeout)
        stored = read_identity(path)
    identity = stored[2]
    return with_identity(config, identity, path), identity


def enrol(config: AgentConfig, path: Path, stopping: threading.Event | None, timeout: float) -> Identity:
    settings = config.enrolment
    serial = box_serial(config)
    key = new_key()
    fingerprint = key_fingerprint(key.public_key())
    log.info(
        "enrolment: no identity yet; asking the platform for a certificate as serial %s (key %s)", serial, fingerprint
    )
    password = read_secret(settings.bootstrap_password_file).get_secret_value()
    redact(password)
    prefix = config.mqtt.topic_prefix
    request = (
        enrol_wire.request_topic(prefix, serial),
        enrol_wire.request_payload(serial, make_csr(key, serial), fingerprint),
    )
    issued: dict = {}

    def accept(answer: dict) -> bool:
        if answer.get("fingerprint") != fingerprint:
            return False  # an answer to another key: an earlier attempt of ours, or another box using our serial
        if answer["status"] != enrol_wire.APPROVED:
            return True
        try:
            issued["cert"], issued["identity"] = check_issued(
                answer.get("certificate", "").encode(), key, settings.ca_file
            )
        except ValueError as exc:  # e.g. a retained answer for an earlier key of this box: wait for ours
            log.warning("enrolment: ignored a certificate: %s", exc)
            return False
        return True

    deadline = time.monotonic() + timeout
    client = mqtt_client(serial, server_context(config), settings.bootstrap_username, password)
    answer = exchange(
        client,
        settings.bootstrap_host,
        settings.bootstrap_port,
        request,
        enrol_wire.reply_topic(prefix, serial),
        retry=settings.retry_interval,
        deadline=deadline,
        accept=accept,
        stopping=stopping,
    )
    if answer["status"] != enrol_wire.APPROVED:
        raise EnrolmentRefused(f"the platform {answer['status']} serial {serial}: {answer.get('reason', '')}")
    write_identity(path, key, issued["cert"])
    identity = issued["identity"]
    log.info(
        "enrolment: enrolled as %s at site %s, certificate valid until %s",
        identity.device_id,
        identity.site,
        identity.not_after.isoformat(),
    )
    return identity


def enrolled(config: AgentConfig) -> AgentConfig:
    """`config` with the stored identity applied (every parse of the file, a reload's too); as is before enrolment."""
    if not config.enrolment.enabled:
        return config
    path = identity_path(config)
    stored = read_identity(path)
    return config if stored is None else with_identity(config, stored[2], path)


def enrol_at_start(config: AgentConfig, stopping: threading.Event | None = None):
    """`run`'s first step on an enrolling box: (config, identity), asking again while the broker cannot be reached
    or the operator has not decided; None when the platform refused this box (the log says why)."""
    while True:
        try:
            return ensure_identity(config, stopping)
        except EnrolmentRefused as exc:
            log.error("enrolment: %s; this box will not run until an operator approves it", exc)
            return None
        except ExchangeError as exc:
            if stopping is not None and stopping.is_set():
                return None
            log.warning("enrolment: %s; asking again in %gs", exc, config.enrolment.retry_interval)
            time.sleep(config.enrolment.retry_interval)


__all__ = ["EnrolmentRefused", "ExchangeError", "ensure_identity", "identity_path", "with_identity"]
