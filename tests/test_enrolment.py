"""First-boot enrolment against a real mosquitto: mTLS listener (require_certificate, use_identity_as_username,
crlfile) and the bootstrap listener (password + the shipped ACL), with the platform's enrolment service."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from edge_agent.cli.main import main
from edge_agent.clock import SystemClock
from edge_agent.daemon.delivery import Delivery
from edge_agent.enrolment.first_boot import EnrolmentRefused, ensure_identity
from edge_agent.enrolment.renewal import Renewer
from edge_agent.platform.enrolment_desk import approve, revoke
from edge_agent.platform.enrolment_records import UnknownSerial
from tests.support.broker import Recorder
from tests.support.enrolment import start_site
from tests.support.wait import wait_for

LIFETIME = dt.timedelta(seconds=6)  # renewal (at half of it) happens within the test


@pytest.fixture
def site(tmp_path):
    site = start_site(tmp_path, LIFETIME)
    yield site
    site.stop()


def enrol_in_background(config, outcome: dict) -> threading.Thread:
    def run():
        try:
            outcome["result"] = ensure_identity(config, timeout=20)
        except Exception as exc:  # the test asserts on it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def enrol(site, name: str, serial: str, device_id: str):
    config, outcome = site.box_config(name, serial), {}
    thread = enrol_in_background(config, outcome)
    wait_for(lambda: site.records.request(serial), message=f"the platform recorded {serial}'s CSR")
    assert site.records.request(serial)["state"] == "pending"
    approve(site.records, site.ca, serial, device_id, "site-a", by="test-operator")
    thread.join(15)
    assert "error" not in outcome, outcome.get("error")
    return outcome["result"]


def test_enrol_deliver_renew_under_load_then_revoke(site):
    config, identity = enrol(site, "box1", "SN-0001", "box-1")
    assert (identity.device_id, identity.site) == ("box-1", "site-a")
    assert config.mqtt.username is None and config.mqtt.tls.cert_file == config.mqtt.tls.key_file
    assert site.records.request("SN-0001")["decided_by"] == "test-operator"
    recorder = Recorder(site.mtls_port, "edge/site-a/box-1/alerts/#", tls=site.platform_tls, client_id="rec").start()
    delivery = Delivery.build(config, "box-1", SystemClock())
    delivery.start(lambda *args: None)
    renewer = Renewer(config, identity, lambda renewed: delivery.replace_publisher(config.mqtt, lambda *a: None))
    sent, producing = [], threading.Event()

    def produce():
        while not producing.wait(0.02):
            alert = delivery.factory.make("intrusion", "major", ("camera", "cam1"), details={"count": len(sent)})
            delivery.outbox.emit(alert)
            sent.append(alert.event_id)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    renewer.start()
    try:
        wait_for(lambda: renewer.renewals >= 2, timeout=20, message="two renewals")
        producing.set()
        producer.join(5)
        wait_for(lambda: set(sent) <= set(recorder.event_ids()), timeout=15, message="every alert delivered")
        received = recorder.event_ids()
        assert len(set(received)) == len(sent)  # 0 lost; any extra copy carries an id that was sent
        assert set(received) == set(sent)
        print(
            f"renewals={renewer.renewals} sent={len(sent)} received={len(received)} "
            f"duplicates={len(received) - len(set(received))}"
        )
        assert renewer.identity.not_after > identity.not_after and renewer.last_error is None
        # the publisher runs on the renewed certificate: with the first one revoked, the box still delivers
        site.ca.write_crl(site.crl_file, [int(site.records.issued_serials("box-1")[0])])
        site.broker.restart()
        after = delivery.factory.make("intrusion", "major", ("camera", "cam1"))
        delivery.outbox.emit(after)
        wait_for(lambda: after.event_id in recorder.event_ids(), timeout=15, message="delivered on the renewed cert")
        # revoke: every certificate the box ever had goes on the CRL; the broker reads it at start
        revoke(site.records, site.ca, "box-1", site.crl_file)
        site.broker.restart()
        delivery.outbox.emit(delivery.factory.make("intrusion", "major", ("camera", "cam1")))
        wait_for(lambda: "certificate rejected" in (delivery.publisher.last_error or ""), timeout=10, message="refused")
        assert sum(delivery.outbox.stats().pending.values()) >= 1  # the outbox keeps the alert
    finally:
        renewer.stop()
        producing.set()
        delivery.stop(5)
        recorder.stop()


def test_second_box_with_the_first_serial_is_refused(site):
    enrol(site, "box1", "SN-0001", "box-1")
    config, outcome = site.box_config("box2", "SN-0001"), {}
    enrol_in_background(config, outcome).join(15)
    assert isinstance(outcome.get("error"), EnrolmentRefused)
    assert "already has a request (approved) with another key" in str(outcome["error"])
    assert site.records.request("SN-0001")["device_id"] == "box-1"  # the first box keeps its identity


def test_bad_input_gets_clear_refusals(site, capsys):
    from edge_agent.enrolment.exchange import ExchangeError

    config, outcome = site.box_config("expired", "SN-0009", password="last-years-password"), {}
    enrol_in_background(config, outcome).join(15)
    assert isinstance(outcome.get("error"), ExchangeError) and "Not authorized" in str(outcome["error"])
    with pytest.raises(UnknownSerial, match="SN-NOBODY"):
        approve(site.records, site.ca, "SN-NOBODY", "box-9", "site-a", by="test-operator")
    # the operator's command says the same, with exit status 2, and signs nothing
    ca = ["--ca-cert", str(site.ca_file), "--ca-key", str(site.ca_file.with_suffix(".key"))]
    book = ["--db", str(site.workdir / "enrolment.db")]
    status = main(
        ["platform", "enroll", "approve", "SN-NOBODY", "--device-id", "box-9", "--site", "site-a", *book, *ca]
    )
    assert status == 2 and "no pending enrolment request" in capsys.readouterr().err
    assert site.records.issued_serials("box-9") == []


def test_the_bootstrap_account_sends_only_its_own_csr_and_refusals_are_recorded(site):
    """Malformed CSR, a CSR for another key than named, a CSR not signed by its key, another serial's topic, a
    device's alert topic."""
    import json
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from edge_agent.enrolment.device_keys import key_fingerprint, make_csr, new_key
    from edge_agent.enrolment.exchange import mqtt_client

    watcher = Recorder(site.mtls_port, "edge/#", tls=site.platform_tls, client_id="watch").start()
    client = mqtt_client(
        "SN-BAD1", ssl.create_default_context(cafile=str(site.ca_file)), "bootstrap", "site-wide-install-day"
    )
    client.connect("127.0.0.1", site.bootstrap_port)
    client.loop_start()
    try:
        key, other = new_key(), new_key()
        csr = make_csr(key, "SN-BAD1").decode()
        der = bytearray(x509.load_pem_x509_csr(csr.encode()).public_bytes(serialization.Encoding.DER))
        der[-1] ^= 0x01  # the signature's last byte: still a CSR, no longer signed by its key
        forged = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
        sends = [
            ("edge/site-a/box-1/alerts/intrusion", '{"event_id": "forged"}'),  # ACL: not its topic
            ("edge/enrol/SN-OTHER/request", json.dumps({"serial": "SN-OTHER", "csr": csr, "fingerprint": "x"})),
            ("edge/enrol/SN-BAD1/request", json.dumps({"serial": "SN-BAD1", "csr": "garbage", "fingerprint": "x"})),
            (
                "edge/enrol/SN-BAD1/request",
                json.dumps({"serial": "SN-BAD1", "csr": csr, "fingerprint": key_fingerprint(other.public_key())}),
            ),
            (
                "edge/enrol/SN-BAD1/request",
                json.dumps({"serial": "SN-BAD1", "csr": forged, "fingerprint": key_fingerprint(key.public_key())}),
            ),
        ]
        for topic, payload in sends:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
        wait_for(lambda: len(site.records.refusals()) == 3, message="three refusals recorded")
    finally:
        client.disconnect()
        client.loop_stop()
        watcher.stop()
    reasons = [reason for _, _, reason in site.records.refusals()]
    assert reasons[0].startswith("malformed CSR")
    assert "not the key" in reasons[1]
    assert "not signed by the key it carries" in reasons[2]
    assert site.records.request("SN-OTHER") is None and site.records.request("SN-BAD1") is None
    assert not [topic for topic, *_ in watcher.snapshot() if "/alerts/" in topic or "SN-OTHER" in topic]


def test_run_enrols_on_first_boot_then_runs_as_its_certificate(site, tmp_path):
    """`edge-agent run` with no identity: asks, waits for the operator, then publishes as box-7 over mTLS."""
    from tests.support.daemon import Daemon, base_config

    box = site.box_config("box7", "SN-0007").model_dump(mode="json", exclude_defaults=True)
    config = base_config(tmp_path / "state7", site.mtls_port, mqtt=box["mqtt"], enrolment=box["enrolment"])
    config["device"] = {"site": "unenrolled", "state_dir": str(tmp_path / "state7")}
    recorder = Recorder(site.mtls_port, "edge/site-a/box-7/status", tls=site.platform_tls, client_id="rec7").start()
    daemon = Daemon(tmp_path / "agent7", config).start()
    try:
        wait_for(lambda: site.records.request("SN-0007"), timeout=30, message="the box's CSR")
        approve(site.records, site.ca, "SN-0007", "box-7", "site-a", by="test-operator")
        wait_for(lambda: any(b'"online"' in p for _, p, *_ in recorder.snapshot()), timeout=30, message="online")
        assert "enrolled as box-7 at site site-a" in daemon.log()
        assert "site-wide-install-day" not in daemon.log()
    finally:
        daemon.stop()
        recorder.stop()
