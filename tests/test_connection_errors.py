"""The broker connection and an HTTP action say the same failure in the same words (edge_agent/connection_errors.py).

Both are read by the same person (the publisher's `last_error` in the status message and telemetry, an
action record's `error`), so a refused port or an untrusted certificate must not read two ways. Each
failure here is a real one: a closed port, a TLS server whose certificate another CA signed.
"""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from edge_agent.config.mqtt import MqttConfig, TlsConfig
from tests.support.broker import free_port, issue_cert, make_ca
from tests.support.wait import wait_for
from tests.test_actions_http import fields, kind
from tests.test_publisher import FAST_RETRY, make_publisher


@pytest.fixture
def publisher_error(outbox):
    """Start a publisher with `config` and return its first connect error."""
    started = []

    def first_error(config: MqttConfig) -> str:
        publisher = make_publisher(outbox, config)
        started.append(publisher)
        publisher.start()
        wait_for(lambda: publisher.last_error, message="a connect error")
        return publisher.last_error

    yield first_error
    for publisher in started:
        publisher.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    return {
        "ca": make_ca(directory, "trusted-ca"),
        "rogue_server": issue_cert(directory, make_ca(directory, "rogue-ca"), "rogue", server=True),
    }


@pytest.fixture
def rogue_tls_server(pki):
    """A TLS listener presenting a certificate the trusted CA did not sign; returns its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, pki["rogue_server"]))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            try:
                context.wrap_socket(connection, server_side=True).close()
            except (OSError, ssl.SSLError):
                connection.close()  # the client refused our certificate: what this server is for

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def test_a_refused_port_reads_the_same_from_the_broker_connection_and_an_http_action(publisher_error):
    port = free_port()
    from_broker = publisher_error(MqttConfig(host="127.0.0.1", port=port, reconnect=FAST_RETRY))
    from_action = kind(f"http://127.0.0.1:{port}/hook").run(fields(), timeout=2).error
    assert from_broker == from_action == f"connection refused by 127.0.0.1:{port} (down, or the wrong port)"


def test_an_untrusted_certificate_reads_the_same_from_both(publisher_error, rogue_tls_server, pki):
    ca = pki["ca"][0]
    tls = TlsConfig(enabled=True, ca_file=ca)
    from_broker = publisher_error(MqttConfig(host="127.0.0.1", port=rogue_tls_server, reconnect=FAST_RETRY, tls=tls))
    from_action = kind(f"https://127.0.0.1:{rogue_tls_server}/hook", ca_file=str(ca)).run(fields(), timeout=5).error
    assert from_broker == from_action
    assert from_action.startswith(f"TLS certificate verify failed for 127.0.0.1:{rogue_tls_server}: ")
    assert from_action.endswith("(no plaintext fallback)")
