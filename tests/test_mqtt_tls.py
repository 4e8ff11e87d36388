"""TLS to the broker with a test CA made here: mutual TLS works, a foreign broker certificate is refused."""

from __future__ import annotations

import logging

import pytest

from edge_agent.config.mqtt import MqttConfig, TlsConfig
from edge_agent.events import AlertFactory
from tests.support.broker import Mosquitto, Recorder, free_port, issue_cert, make_ca, tls_listener
from tests.support.wait import wait_for
from tests.test_publisher import DEVICE, FAST_RETRY, SITE, make_publisher


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca(directory, "test-ca")
    rogue = make_ca(directory, "rogue-ca")
    return {
        "ca": ca,
        "server": issue_cert(directory, ca, "broker", server=True),
        "client": issue_cert(directory, ca, DEVICE, server=False),
        "recorder": issue_cert(directory, ca, "recorder", server=False),
        "rogue_server": issue_cert(directory, rogue, "rogue-broker", server=True),
    }


@pytest.fixture
def stoppers():
    started = []
    yield started.append
    for thing in reversed(started):
        thing.stop()


def tls_config(port: int, pki, **tls) -> MqttConfig:
    options = {
        "enabled": True,
        "ca_file": pki["ca"][0],
        "cert_file": pki["client"][0],
        "key_file": pki["client"][1],
        **tls,
    }
    return MqttConfig(port=port, reconnect=FAST_RETRY, tls=TlsConfig(**options))


def start_broker(tmp_path, server_cert, pki, require_certificate=True) -> Mosquitto:
    port = free_port()
    config = tls_listener(port, pki["ca"][0], server_cert[0], server_cert[1], require_certificate)
    return Mosquitto(tmp_path / "broker", port=port, extra_config=config).start()


def connected_clients(broker: Mosquitto) -> str:
    return "\n".join(line for line in broker.log_path.read_text().splitlines() if "New client connected" in line)


def test_mutual_tls_delivers(tmp_path, pki, outbox, stoppers):
    broker = start_broker(tmp_path, pki["server"], pki)
    stoppers(broker)
    tls = {"ca_certs": str(pki["ca"][0]), "certfile": str(pki["recorder"][0]), "keyfile": str(pki["recorder"][1])}
    recorder = Recorder(broker.port, "edge/#", tls=tls).start()
    stoppers(recorder)
    publisher = make_publisher(outbox, tls_config(broker.port, pki))
    publisher.start()
    stoppers(publisher)
    alert = AlertFactory(DEVICE, SITE).make("door.forced", "critical", ("door", "d1"))
    outbox.emit(alert)
    wait_for(lambda: recorder.event_ids() == [alert.event_id], message="alert over mutual TLS")
    assert publisher.connected and publisher.last_error is None
    assert f"as {DEVICE}" in connected_clients(broker)


def test_broker_requires_a_client_certificate(tmp_path, pki, outbox, stoppers):
    broker = start_broker(tmp_path, pki["server"], pki)
    stoppers(broker)
    publisher = make_publisher(outbox, tls_config(broker.port, pki, cert_file=None, key_file=None))
    publisher.start()
    stoppers(publisher)
    outbox.emit(AlertFactory(DEVICE, SITE).make("intrusion", "major", ("camera", "c1")))
    wait_for(lambda: publisher.stats().connect_attempts >= 2 and publisher.last_error, message="refusal")
    assert "client certificate" in publisher.last_error, publisher.last_error
    assert publisher.stats().connects == 0 and f"as {DEVICE}" not in connected_clients(broker)
    assert outbox.stats().by_state["pending"] == 1


def test_broker_certificate_from_another_ca_is_refused(tmp_path, pki, outbox, stoppers):
    broker = start_broker(tmp_path, pki["rogue_server"], pki)
    stoppers(broker)
    publisher = make_publisher(outbox, tls_config(broker.port, pki))
    publisher.start()
    stoppers(publisher)
    outbox.emit(AlertFactory(DEVICE, SITE).make("intrusion", "major", ("camera", "c1")))
    wait_for(lambda: publisher.stats().connect_attempts >= 2 and publisher.last_error, message="refusal")
    assert "certificate verify failed" in publisher.last_error
    assert "no plaintext fallback" in publisher.last_error
    assert publisher.stats().connects == 0 and connected_clients(broker) == ""
    assert outbox.stats().by_state["pending"] == 1


def test_tls_client_never_falls_back_to_plaintext(mosquitto, pki, outbox, stoppers):
    publisher = make_publisher(outbox, tls_config(mosquitto.port, pki))  # plain listener
    publisher.start()
    stoppers(publisher)
    wait_for(lambda: publisher.stats().connect_attempts >= 2 and publisher.last_error, message="TLS failure")
    assert "TLS" in publisher.last_error and publisher.stats().connects == 0
    assert connected_clients(mosquitto) == ""  # no CONNECT ever reached the broker in the clear


def test_insecure_flag_connects_to_an_unverified_broker_with_a_loud_warning(tmp_path, pki, outbox, stoppers, caplog):
    broker = start_broker(tmp_path, pki["rogue_server"], pki)
    stoppers(broker)
    caplog.set_level(logging.WARNING)
    publisher = make_publisher(outbox, tls_config(broker.port, pki, insecure=True))
    publisher.start()
    stoppers(publisher)
    wait_for(lambda: publisher.connected, message="insecure connection")
    assert any("NOT verified" in record.getMessage() and record.levelno == logging.WARNING for record in caplog.records)
