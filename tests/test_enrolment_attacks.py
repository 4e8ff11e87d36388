"""Attacks on the platform's enrolment service by a holder of the site-wide bootstrap account, against a real
mosquitto (the shipped ACL) and the real service: whatever a request carries, the service keeps answering."""

from __future__ import annotations

import json
import ssl

import pytest

from edge_agent.enrolment.device_keys import key_fingerprint, make_csr, new_key
from edge_agent.enrolment.exchange import mqtt_client
from tests.support.enrolment import start_site
from tests.support.wait import wait_for

LIFETIME_S = 3600


@pytest.fixture
def site(tmp_path):
    import datetime as dt

    site = start_site(tmp_path, dt.timedelta(seconds=LIFETIME_S))
    yield site
    site.stop()


def bootstrap_client(site, serial: str):
    client = mqtt_client(
        serial, ssl.create_default_context(cafile=str(site.ca_file)), "bootstrap", "site-wide-install-day"
    )
    client.connect("127.0.0.1", site.bootstrap_port)
    client.loop_start()
    return client


def test_a_lone_surrogate_in_a_request_is_refused_and_the_service_keeps_going(site):
    """A1: `"fingerprint": "\\udc80"` beside a valid CSR: the refusal quoted it raw, SQLite could not store that text
    and the exception left paho's callback, ending the service's network thread: no box could enrol after it."""
    key = new_key()
    csr = make_csr(key, "SN-EVIL").decode()
    evil = json.dumps({"serial": "SN-EVIL", "csr": csr, "fingerprint": "\udc80"})  # JSON escapes it: valid UTF-8
    client = bootstrap_client(site, "SN-EVIL")
    try:
        first = new_key()  # a request the service answers: it is subscribed before the attack is sent
        live = json.dumps(
            {"serial": "SN-EVIL", "csr": make_csr(first, "SN-EVIL").decode(), "fingerprint": "not-its-key"}
        )
        wait_for(
            lambda: (
                client.publish("edge/enrol/SN-EVIL/request", live, qos=1).wait_for_publish(5) or site.records.refusals()
            ),
            timeout=20,
            message="the service answers",
        )
        before = len(site.records.refusals())
        client.publish("edge/enrol/SN-EVIL/request", evil, qos=1).wait_for_publish(5)
        wait_for(lambda: len(site.records.refusals()) > before, message="the surrogate request refused and recorded")
        good = json.dumps({"serial": "SN-EVIL", "csr": csr, "fingerprint": key_fingerprint(key.public_key())})
        client.publish("edge/enrol/SN-EVIL/request", good, qos=1).wait_for_publish(5)
        wait_for(lambda: site.records.request("SN-EVIL"), message="a good request after it still recorded")
    finally:
        client.disconnect()
        client.loop_stop()
    (_, _, reason) = site.records.refusals()[-1]
    assert "not the key" in reason and "\\udc80" in reason


def test_the_bootstrap_account_cannot_pass_for_a_device(site):
    """A2: the ACL's `pattern` lines hold for every account, so `bootstrap` may write `edge/<site>/bootstrap/…`
    as if it were a box named `bootstrap` (no box may be: RESERVED_IDS). The platform believes no message from a
    reserved account's device topics."""
    from edge_agent.platform.message_checks import RejectedMessage, check_topic_ids
    from tests.support.broker import Recorder

    watcher = Recorder(site.mtls_port, "edge/#", tls=site.platform_tls, client_id="watch").start()
    client = bootstrap_client(site, "SN-FAKE")
    try:
        topic = "edge/site-a/bootstrap/alerts/intrusion"
        wait_for(
            lambda: (
                client.publish(topic, '{"event_id": "forged"}', qos=1).wait_for_publish(5)
                or [t for t, *_ in watcher.snapshot() if t == topic]
            ),
            message="the broker passes the bootstrap account's message on (its ACL cannot refuse it)",
        )
    finally:
        client.disconnect()
        client.loop_stop()
        watcher.stop()
    with pytest.raises(RejectedMessage, match="reserved for a broker account"):
        check_topic_ids(site="site-a", device_id="bootstrap")  # the consumer's check of every topic it stores
    check_topic_ids(site="site-a", device_id="box-1")


def test_a_flood_of_serials_and_bad_requests_stays_within_the_book(tmp_path):
    """A3: the bootstrap account may take any client id, so one holder could add a pending request per made-up
    serial, and a refusal row per bad message, without end: both are bounded, the newest refusals kept."""
    import datetime as dt

    site = start_site(tmp_path, dt.timedelta(seconds=LIFETIME_S), max_pending=3, max_refusals=5)
    clients = []
    try:
        for number in range(5):
            serial = f"SN-FLOOD{number}"
            key = new_key()
            client = bootstrap_client(site, serial)
            clients.append(client)
            body = json.dumps(
                {
                    "serial": serial,
                    "csr": make_csr(key, serial).decode(),
                    "fingerprint": key_fingerprint(key.public_key()),
                }
            )
            topic = f"edge/enrol/{serial}/request"
            wait_for(
                lambda: (
                    client.publish(topic, body, qos=1).wait_for_publish(5)
                    or site.records.request(serial)
                    or [r for r in site.records.refusals() if r[0] == serial]
                ),
                timeout=20,
                message=f"{serial} recorded or refused",
            )
        for number in range(8):
            bad = json.dumps({"serial": f"X{number}", "csr": "", "fingerprint": ""})  # not the topic's serial
            clients[0].publish("edge/enrol/SN-FLOOD0/request", bad, qos=1).wait_for_publish(5)
        wait_for(lambda: "'X7'" in site.records.refusals()[-1][2], message="the last bad request refused")
        pending = site.records.listing()
        refusals = site.records.refusals()
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()
        site.stop()
    assert [row["serial"] for row in pending] == ["SN-FLOOD0", "SN-FLOOD1", "SN-FLOOD2"]
    assert len(refusals) == 5


def test_an_enrolled_box_cannot_renew_again_and_again(site):
    """A5: a renewal was signed whenever a box asked, each a new certificate and a row in the issue log: a box (or
    whoever took its key) could ask without end. None before a tenth of the lifetime since the last one."""
    from tests.test_enrolment import enrol

    config, identity = enrol(site, "box1", "SN-0007", "box-7")
    context = ssl.create_default_context(cafile=str(site.ca_file))
    context.load_cert_chain(str(config.mqtt.tls.cert_file), str(config.mqtt.tls.key_file))
    client = mqtt_client("box-7", context)
    client.connect("127.0.0.1", site.mtls_port)
    client.loop_start()
    try:
        for _ in range(5):
            key = new_key()
            body = json.dumps(
                {
                    "serial": "SN-0007",
                    "csr": make_csr(key, "SN-0007").decode(),
                    "fingerprint": key_fingerprint(key.public_key()),
                }
            )
            client.publish("edge/site-a/box-7/enrol/renew", body, qos=1).wait_for_publish(5)
        wait_for(
            lambda: len(site.records.issued_serials("box-7")) > 1 or len(site.records.refusals()) >= 5,
            message="the renewals answered",
        )
    finally:
        client.disconnect()
        client.loop_stop()
    assert len(site.records.issued_serials("box-7")) == 1
    assert all("renewal" in reason for _, _, reason in site.records.refusals())
