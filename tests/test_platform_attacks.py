"""Hostile messages at the platform consumer, through a real broker, into the real PostgreSQL and SQLite: SQL-ish
strings, huge fields, wrong types, NUL and lone surrogates, forged origins. Each is refused and counted, the
consumer goes on, and the store holds nothing but the well-formed messages sent after them."""

from __future__ import annotations

import json
import sqlite3
import threading

import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.cli.main import main as cli_main
from edge_agent.events import Topics, new_event_id
from edge_agent.platform import PlatformStore
from tests.support.actions import make_alert
from tests.support.postgres import private_schema, schema_tables
from tests.support.wait import wait_for
from tests.test_platform_actions import record
from tests.test_platform_consumer import SITE, consumer

TOPICS = Topics("edge", SITE, "dev-1")
TABLES = {"alerts", "episodes", "devices", "counts", "actions", "evidence_kept", "platform_schema"}
DROP = "x');DROP TABLE alerts;--"


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "sqlite":
        yield str(tmp_path / "platform.db")
        return
    with private_schema() as url:
        yield url


def hostile_messages() -> list[tuple[str, bytes, str]]:
    """(topic, payload, the kind it is counted under)."""
    alert = json.loads(make_alert().to_json())
    action = record().model_dump(exclude_none=True)
    counts = {"event_id": new_event_id(), "device_id": "dev-1", "site": SITE, "complete": True}
    counts |= {"interval_start": "2026-12-06T10:00:00Z", "interval_end": "2026-12-06T10:15:00Z"}
    counts |= {"created_at": "2026-12-06T10:15:00.001Z"}

    def fresh(body: dict, **changes) -> dict:
        return {**body, "event_id": new_event_id(), **changes}

    alerts = [
        (f"edge/{SITE}/{DROP}/alerts/intrusion", fresh(alert, device_id=DROP)),  # a topic level as SQL
        (f"{TOPICS.base}/alerts/{DROP}", fresh(alert, type=DROP)),
        (TOPICS.alert("intrusion"), fresh(alert, event_id="1'); DELETE FROM alerts; --")),
        (TOPICS.alert("intrusion"), fresh(alert, severity="major' OR '1'='1")),
        (TOPICS.alert("intrusion"), fresh(alert, started_at="2026-12-06T10:00:00Z" + "9" * 100_000)),
        (TOPICS.alert("intrusion"), fresh(alert, details={"message": "x" * 300_000})),  # over the payload limit
        (TOPICS.alert("intrusion"), fresh(alert, event_id=12345)),
        (TOPICS.alert("intrusion"), fresh(alert, severity=5)),
        (TOPICS.alert("intrusion"), fresh(alert, started_at=["2026-12-06T10:00:00Z"])),
        (TOPICS.alert("intrusion"), fresh(alert, phase=None)),
        (TOPICS.alert("intrusion"), fresh(alert, related_event_id="\u0000")),
        (TOPICS.alert("intrusion"), fresh(alert, schema_version="2.0")),
        (TOPICS.alert("intrusion"), b"[" * 100_000),  # nesting deep enough to break a recursive parser
        (TOPICS.alert("intrusion"), b"\xff\xfe not utf-8"),
    ]
    actions = [
        (TOPICS.action("siren"), fresh(action, error="relay \u0000 busy")),
        (TOPICS.action("siren"), fresh(action, error="\ud800")),
        (TOPICS.action("siren"), fresh(action, attempts=2**40)),
        (TOPICS.action("siren"), fresh(action, alert_event_id="'; DROP TABLE actions; --")),
    ]
    others = [
        (TOPICS.counts, fresh(counts, complete="yes")),
        (TOPICS.counts, fresh(counts, interval_start=1_765_000_000)),
        (TOPICS.status, {"device_id": "dev-2", "state": "offline"}),  # dev-1 speaking for dev-2
        (TOPICS.status, {"device_id": "dev-1", "state": "pwned"}),
        (TOPICS.status, {"device_id": "dev-1", "state": "online", "agent_version": "1" * 5000}),
    ]
    kinds = ["alert"] * len(alerts) + ["action"] * len(actions) + ["counts", "counts", "status", "status", "status"]
    return [
        (topic, body if isinstance(body, bytes) else json.dumps(body).encode(), kind)
        for (topic, body), kind in zip(alerts + actions + others, kinds)
    ]


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    """One device-like client publishes every message at QoS 1 and waits for every PUBACK."""
    acked = threading.Semaphore(0)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="hostile-device", protocol=paho.MQTTv5)
    client.on_publish = lambda *args: acked.release()
    client.connect("127.0.0.1", port)
    client.loop_start()
    for topic, payload in messages:
        client.publish(topic, payload, qos=1)
    for _ in messages:
        assert acked.acquire(timeout=10), "PUBACK"
    client.disconnect()
    client.loop_stop()


def test_hostile_messages_are_refused_counted_and_store_nothing(target, mosquitto):
    instance = consumer(mosquitto, target, "c1")
    hostile = hostile_messages()
    good_alert = make_alert()
    good = [
        (TOPICS.alert("intrusion"), good_alert.to_json().encode()),
        (TOPICS.status, json.dumps({"device_id": "dev-1", "state": "online", "agent_version": "1.0"}).encode()),
    ]
    publish_all(mosquitto.port, [(topic, payload) for topic, payload, _ in hostile] + good)
    store = PlatformStore(target)
    wait_for(lambda: instance.rejected == len(hostile), timeout=20, message="every hostile message refused")
    wait_for(lambda: store.summary().alerts == 1 and store.device_state("dev-1"), message="the good ones stored")
    expected: dict[str, int] = {}
    for _, _, kind in hostile:
        expected[kind] = expected.get(kind, 0) + 1
    assert instance.rejected_by_kind == expected
    summary = store.summary()
    assert (summary.alerts, summary.actions, summary.counts, summary.devices_online) == (1, 0, 0, 1)
    assert store.alert_deliveries() == {good_alert.event_id: 1}
    assert store.device_state("dev-2") is None
    assert _tables(target) == TABLES  # nothing dropped, nothing added
    instance.stop()
    store.close()


def _tables(target: str) -> set[str]:
    if target.startswith("postgresql://"):
        return schema_tables(target)
    with sqlite3.connect(target) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_store_url_with_a_password_is_never_printed_with_it(capsys):
    """An unreachable PostgreSQL named with a password in its URL: the error names the server, not the secret."""
    url = "postgresql://platform:s3cret-pw@127.0.0.1:1/fleet?connect_timeout=1"
    with pytest.raises(psycopg.OperationalError) as raised:
        PlatformStore(url)
    assert "s3cret-pw" not in str(raised.value)
    from edge_agent.platform.dialect import shown_target

    assert shown_target(url) == "postgresql://platform:***@127.0.0.1:1/fleet?connect_timeout=1"


@pytest.mark.parametrize("value", ["0", "-5", "65536", "1e9", "many"])
def test_consume_refuses_a_receive_maximum_mqtt_cannot_carry(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        cli_main(["platform", "consume", "--db", str(tmp_path / "p.db"), "--receive-maximum", value])
    assert exited.value.code == 2
    assert f"--receive-maximum: {value!r}: a whole number from 1 to 65535" in capsys.readouterr().err
    assert not (tmp_path / "p.db").exists()  # refused before anything was opened


def test_a_store_is_a_postgresql_url_a_sqlite_url_or_a_path_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    PlatformStore(f"sqlite:///{tmp_path}/absolute.db").close()  # sqlite:////abs/path
    PlatformStore("sqlite:///relative.db").close()
    assert (tmp_path / "absolute.db").exists() and (tmp_path / "relative.db").exists()
    with pytest.raises(ValueError, match=r"'mysql://root:\*\*\*@db/fleet': a postgresql:// or sqlite:/// URL"):
        PlatformStore("mysql://root:hunter2@db/fleet")
