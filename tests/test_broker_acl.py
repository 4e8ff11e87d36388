"""Per-device authorisation: the shipped mosquitto configs (configs/mosquitto/) against a real mosquitto.

Both ways a device proves who it is — a password per device, or a client certificate whose CN
becomes the username — with the same ACL file: device A's real publisher delivers its alerts and
answers its own commands; with A's credentials a raw client cannot write under device B's topics
(alerts, status, telemetry, B's commands) nor read B's commands or alerts; the platform account
reads all of it. Absence is shown by order, never by waiting: a marker sent after the forgery on
the same connection arrives, so the forgery was routed (or dropped) before it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge_agent.clock import iso_utc
from edge_agent.config.mqtt import MqttConfig, TlsConfig
from edge_agent.events import AlertFactory, Topics, new_event_id
from edge_agent.events.action import ActionRecord
from edge_agent.platform import ConsumerOptions, PlatformConsumer, PlatformStore
from tests.support.broker import Mosquitto, Recorder, free_port, issue_cert, make_ca, write_password_file
from tests.support.wait import wait_for
from tests.test_publisher import FAST_RETRY, SITE, make_publisher

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "configs" / "mosquitto"
DEVICE_A, DEVICE_B, PLATFORM = "ea-0000000000aa", "ea-0000000000bb", "platform"
A, B = Topics("edge", SITE, DEVICE_A), Topics("edge", SITE, DEVICE_B)
PASSWORDS = {DEVICE_A: "pw-of-a", DEVICE_B: "pw-of-b", PLATFORM: "pw-of-platform"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("acl-pki")
    ca = make_ca(directory, "test-ca")
    certs = {name: issue_cert(directory, ca, name, server=False) for name in (DEVICE_A, DEVICE_B, PLATFORM)}
    return {"ca": ca, "broker": issue_cert(directory, ca, "broker", server=True), **certs}


def start_shipped_broker(tmp_path: Path, conf_name: str, pki) -> Mosquitto:
    """The shipped config verbatim, but for /etc/mosquitto/ (now a temp dir) and the listener (loopback, free port)."""
    etc = tmp_path / "etc-mosquitto"
    (etc / "certs").mkdir(parents=True)
    shutil.copy(pki["ca"][0], etc / "certs" / "ca.crt")
    shutil.copy(pki["broker"][0], etc / "certs" / "broker.crt")
    shutil.copy(pki["broker"][1], etc / "certs" / "broker.key")
    shutil.copy(SHIPPED / "edge-agent.acl", etc / "edge-agent.acl")
    write_password_file(etc / "passwd", PASSWORDS)
    port = free_port()
    text = (SHIPPED / conf_name).read_text()
    assert text.count("listener 8883\n") == 1
    text = text.replace("/etc/mosquitto/", f"{etc}/").replace("listener 8883\n", f"listener {port} 127.0.0.1\n")
    return Mosquitto(tmp_path / "broker", port=port, extra_config=text).start()


def credentials(mode: str, name: str, pki) -> dict:
    """Recorder keyword arguments: TLS always; a password or a client certificate per account."""
    tls = {"ca_certs": str(pki["ca"][0])}
    if mode == "certificates":
        return {"tls": tls | {"certfile": str(pki[name][0]), "keyfile": str(pki[name][1])}}
    return {"tls": tls, "username": name, "password": PASSWORDS[name]}


def account_config(mode: str, port: int, pki, tmp_path: Path, name: str = DEVICE_A) -> MqttConfig:
    """How the agent (or the platform consumer) connects as account `name`: a password or a certificate."""
    if mode == "certificates":
        tls = TlsConfig(enabled=True, ca_file=pki["ca"][0], cert_file=pki[name][0], key_file=pki[name][1])
        return MqttConfig(port=port, reconnect=FAST_RETRY, tls=tls)
    password_file = tmp_path / f"{name}.password"
    password_file.write_text(PASSWORDS[name])
    password_file.chmod(0o600)
    tls = TlsConfig(enabled=True, ca_file=pki["ca"][0])
    return MqttConfig(port=port, reconnect=FAST_RETRY, tls=tls, username=name, password_file=password_file)


def device_a_config(mode: str, port: int, pki, tmp_path: Path) -> MqttConfig:
    return account_config(mode, port, pki, tmp_path, DEVICE_A)


def topics_received(recorder: Recorder) -> list[str]:
    return [topic for topic, *_ in recorder.snapshot()]


def publish(client, topic: str, payload: str, retain: bool = False) -> None:
    client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(timeout=10)


@pytest.fixture
def running():
    started = []
    yield started.append
    for thing in reversed(started):
        thing.stop()


@pytest.mark.parametrize("mode", ["passwords", "certificates"])
def test_a_device_acts_only_as_itself_and_the_platform_reads_all(mode, tmp_path, pki, outbox, running):
    broker = start_shipped_broker(tmp_path, f"mosquitto-{mode}.conf", pki)
    running(broker)
    platform = Recorder(broker.port, "edge/#", client_id="platform", **credentials(mode, PLATFORM, pki)).start()
    running(platform)
    device_b = Recorder(broker.port, B.command_filter, client_id=DEVICE_B, **credentials(mode, DEVICE_B, pki)).start()
    running(device_b)

    # Device A's real publisher: its alert reaches the platform, it reads its own command and answers it.
    publisher = make_publisher(outbox, device_a_config(mode, broker.port, pki, tmp_path), device_id=DEVICE_A)
    publisher.subscribe(A.command_filter, lambda topic, payload, props: publisher.publish_now(f"{topic}/reply", "{}"))
    publisher.start()
    running(publisher)
    alert = AlertFactory(DEVICE_A, SITE).make("door.forced", "major", ("door", "gate"))
    outbox.emit(alert)
    wait_for(lambda: alert.event_id in platform.event_ids(), message="A's alert at the platform")
    wait_for(lambda: A.status in topics_received(platform), message="A's retained status at the platform")
    publish(platform.client, A.command("ping"), '{"request_id": "r1"}')
    wait_for(lambda: A.command_reply("ping") in topics_received(platform), message="A's reply at the platform")

    # A raw client with A's credentials tries to read B's commands and alerts, and to write as B.
    spy_filters = [(B.command_filter, 1), (f"{B.base}/alerts/+", 1), (A.command_filter, 1)]
    spy = Recorder(broker.port, spy_filters, client_id="spy-with-a-credentials", **credentials(mode, DEVICE_A, pki))
    running(spy.start())
    forged = json.dumps({"forged": True, "event_id": "forged"})
    for topic, retain in [
        (B.alert("intrusion"), False),
        (B.status, True),
        (B.telemetry, False),
        (B.counts, False),
        (B.action("siren"), False),
        (B.dispositions, False),
        (B.command("set-config"), False),
        (B.command_reply("ping"), False),
        (f"{B.base}/reply/platform-1", False),  # B's v5 reply area (docs/mqtt-api.md, Remote commands)
        (B.evidence(new_event_id()), False),
        (B.evidence_kept, False),
        (B.evidence_sent, False),
    ]:
        publish(spy.client, topic, forged, retain)
    publish(spy.client, A.alert("intrusion"), json.dumps({"event_id": "a-marker"}))  # A may write its own
    wait_for(lambda: "a-marker" in platform.event_ids(), message="A's own marker at the platform")
    publish(spy.client, A.action("siren"), json.dumps({"event_id": "a-action"}))  # and its own action records
    wait_for(lambda: A.action("siren") in topics_received(platform), message="A's own action record at the platform")
    publish(spy.client, f"{A.base}/reply/platform-1", "{}")  # and replies in its own v5 reply area
    wait_for(lambda: f"{A.base}/reply/platform-1" in topics_received(platform), message="A's reply-area message")
    publish(spy.client, A.dispositions, json.dumps({"event_id": "a-disposition"}))  # and its own dispositions
    wait_for(lambda: A.dispositions in topics_received(platform), message="A's own disposition at the platform")
    for topic in (A.evidence(new_event_id()), A.evidence_kept, A.evidence_sent):  # and its own evidence (get-evidence)
        publish(spy.client, topic, "{}")
        wait_for(lambda: topic in topics_received(platform), message=f"A's own {topic} at the platform")

    # B's real traffic: B publishes an alert, the platform sends B a command; then A's marker command.
    publish(device_b.client, B.alert("intrusion"), json.dumps({"event_id": "b-alert"}))
    wait_for(lambda: "b-alert" in platform.event_ids(), message="B's alert at the platform")
    publish(platform.client, B.command("ping"), '{"request_id": "for-b"}')
    publish(platform.client, A.command("ping"), '{"request_id": "for-a"}')
    wait_for(lambda: B.command("ping") in topics_received(device_b), message="B's own command at B")
    wait_for(lambda: A.command("ping") in topics_received(spy), message="A's own command at the spy")

    b_topics = [topic for topic in topics_received(platform) if topic.startswith(B.base)]
    assert b_topics == [B.alert("intrusion"), B.command("ping")], "platform saw something written as B by A"
    assert forged.encode() not in [payload for _, payload, *_ in platform.snapshot()]
    assert topics_received(device_b) == [B.command("ping")], "B received a command A forged"
    assert [t for t in topics_received(spy) if t.startswith(B.base)] == [], "A read B's commands or alerts"


def action_record(device_id: str, action: str = "siren") -> ActionRecord:
    return ActionRecord(
        event_id=new_event_id(),
        device_id=device_id,
        site=SITE,
        action=action,
        kind="http",
        trigger="alert",
        outcome="failed",
        attempts=1,
        finished_at=iso_utc(1_767_600_000.0),
    )


@pytest.mark.parametrize("mode", ["passwords", "certificates"])
def test_the_platform_consumer_stores_action_records_only_as_their_device_sent_them(
    mode, tmp_path, pki, outbox, running
):
    broker = start_shipped_broker(tmp_path, f"mosquitto-{mode}.conf", pki)
    running(broker)
    # The reference consumer on the platform account: its shared subscriptions must pass the ACL.
    options = ConsumerOptions(client_id="platform-consumer-1", reconnect_min_s=0.05, reconnect_max_s=0.3)
    store = PlatformStore(tmp_path / "platform.db")
    platform = PlatformConsumer(account_config(mode, broker.port, pki, tmp_path, PLATFORM), store, options).start()
    running(platform)
    wait_for(platform.subscribed.is_set, message="the platform's subscriptions granted")

    # Device A's record through its real outbox and publisher, as the agent's recorder stores it.
    publisher = make_publisher(outbox, device_a_config(mode, broker.port, pki, tmp_path), device_id=DEVICE_A)
    publisher.start()
    running(publisher)
    real = action_record(DEVICE_A)
    outbox.enqueue(A.action("siren"), real.model_dump_json(exclude_none=True), "event", event_id=real.event_id)
    wait_for(lambda: store.action(real.event_id), message="A's action record stored")

    # With A's credentials: a record under B's topic (the ACL drops it), one under A's topic claiming to be
    # B's (the consumer rejects it), then A's own marker record on the same connection.
    spy = Recorder(
        broker.port, A.command_filter, client_id="spy-with-a-credentials", **credentials(mode, DEVICE_A, pki)
    )
    running(spy.start())
    as_b, claims_b, marker = action_record(DEVICE_B), action_record(DEVICE_B), action_record(DEVICE_A)
    publish(spy.client, B.action("siren"), as_b.model_dump_json())
    publish(spy.client, A.action("siren"), claims_b.model_dump_json())
    publish(spy.client, A.action("siren"), marker.model_dump_json())
    wait_for(lambda: store.action(marker.event_id), message="A's marker record stored")
    assert store.action(as_b.event_id) is None and store.action(claims_b.event_id) is None
    assert platform.rejected_by_kind == {"action": 1}, "the record claiming B's identity was not the one rejected"
    assert store.summary().actions == 2


def test_the_api_doc_shows_the_shipped_acl():
    rules = [line for line in (SHIPPED / "edge-agent.acl").read_text().splitlines() if line and line[0] != "#"]
    doc = (ROOT / "docs" / "mqtt-api.md").read_text()
    assert [rule for rule in rules if rule not in doc] == []
