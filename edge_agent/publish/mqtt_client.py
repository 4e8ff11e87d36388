"""Building the paho client from config (protocol, TLS, credentials, Last Will)."""

from __future__ import annotations

import logging
import ssl

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.config.base import read_secret
from edge_agent.config.mqtt import MqttConfig, TlsConfig
from edge_agent.logs import redact

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0


def is_v5(config: MqttConfig) -> bool:
    return config.protocol == "v5"


def build_client(config: MqttConfig, client_id: str, will_topic: str, will_payload: str) -> paho.Client:
    """A paho client whose network loop the caller drives (no paho thread, no paho reconnects)."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5 if is_v5(config) else paho.MQTTv311,
        clean_session=None if is_v5(config) else True,
    )
    client.connect_timeout = CONNECT_TIMEOUT_S
    client.suppress_exceptions = True  # a callback bug is logged, never tears the session down
    _apply_credentials(client, config)
    if config.tls.enabled:
        client.tls_set_context(tls_context(config.tls))
        client.tls_insecure_set(config.tls.insecure)
    will_properties = None
    if is_v5(config) and config.will_delay > 0:
        will_properties = Properties(PacketTypes.WILLMESSAGE)
        will_properties.WillDelayInterval = config.will_delay
    client.will_set(will_topic, will_payload, qos=1, retain=True, properties=will_properties)
    return client


def connect_properties(config: MqttConfig) -> Properties | None:
    """MQTT v5: a session that outlives the connection by the will delay.

    The broker sends a delayed Will when the session ends; with a session
    expiry of 0 it would end (and send "offline") at once, defeating the delay.
    """
    if not is_v5(config):
        return None
    properties = Properties(PacketTypes.CONNECT)
    if config.will_delay > 0:
        properties.SessionExpiryInterval = config.will_delay
    return properties


def connect(client: paho.Client, config: MqttConfig) -> None:
    """Open the socket (TLS handshake included) and send CONNECT; raises on failure."""
    if is_v5(config):
        # clean_start=False: a reconnect within the will delay resumes the
        # session, so the broker drops the pending Will (no offline flap).
        client.connect(
            config.host, config.port, config.keepalive, clean_start=False, properties=connect_properties(config)
        )
    else:
        client.connect(config.host, config.port, config.keepalive)


def _apply_credentials(client: paho.Client, config: MqttConfig) -> None:
    password = read_secret(config.password_file, config.password)
    secret = password.get_secret_value() if password is not None else None
    if secret:
        redact(secret)
    if config.username is not None:
        client.username_pw_set(config.username, secret)
    elif secret:
        raise ValueError("mqtt.password is set but mqtt.username is not")


def tls_context(tls: TlsConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca_file) if tls.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.cert_file is not None:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    if tls.insecure:
        warn_insecure()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def warn_insecure() -> None:
    log.warning(
        "!!! mqtt.tls.insecure is set: the broker certificate is NOT verified; anyone on the path can read"
        " and forge this device's traffic. Never use this in production. !!!"
    )
