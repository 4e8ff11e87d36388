"""The platform's side of the response against a real mosquitto and a real store: dispositions checked against
their topic and stored once per (alert, state); pending alerts by age; the response figures from known times."""

from __future__ import annotations

import json
import sqlite3

from edge_agent.cli.main import main as cli_main
from edge_agent.clock import FakeClock, iso_utc, parse_utc
from edge_agent.config.mqtt import MqttConfig
from edge_agent.events import AlertFactory, Topics, new_event_id
from edge_agent.events.disposition import Disposition
from edge_agent.platform import PlatformConsumer, PlatformStore
from edge_agent.platform.consumer import ConsumerOptions
from edge_agent.platform.response import ResponseStore, percentile
from tests.support.wait import wait_for
from tests.test_platform_consumer import publish_raw

TOPICS = Topics("edge", "site-1", "dev-1")
T0 = 1_780_000_000.0


def disposition(alert, state: str, after: float, **changes) -> Disposition:
    values = {
        "event_id": new_event_id(),
        "device_id": "dev-1",
        "site": "site-1",
        "alert_event_id": alert.event_id,
        "alert_type": alert.type,
        "rule": alert.rule,
        "source_id": alert.source.id,
        "severity": alert.severity.value,
        "alert_created_at": alert.created_at,
        "state": state,
        "by": "ana",
        "origin": "remote",
        "at": iso_utc(parse_utc(alert.created_at) + after),
    }
    return Disposition(**(values | changes))


def stores(db) -> tuple[PlatformStore, ResponseStore]:
    return PlatformStore(db), ResponseStore(sqlite3.connect(db, check_same_thread=False))


def test_dispositions_are_checked_against_their_topic_and_stored_once(tmp_path, mosquitto):
    db = tmp_path / "platform.db"
    store, response = stores(db)
    instance = PlatformConsumer(
        MqttConfig(port=mosquitto.port), store, ConsumerOptions(client_id="c1"), response=response
    ).start()
    try:
        wait_for(instance.subscribed.is_set, message="the consumer's subscriptions")
        alert = AlertFactory("dev-1", "site-1").make("intrusion", "major", ("camera", "entrance"), rule="night")
        good = disposition(alert, "acknowledged", 5.0)
        bad = [
            good.model_copy(update={"device_id": "dev-other", "event_id": new_event_id()}).model_dump_json(),
            good.model_copy(update={"site": "site-other", "event_id": new_event_id()}).model_dump_json(),
            json.dumps({**good.model_dump(mode="json"), "state": "closed"}),
            b"not json",
        ]
        for payload in [*bad, good.model_dump_json(), good.model_dump_json()]:
            publish_raw(mosquitto.port, TOPICS.dispositions, payload.encode() if isinstance(payload, str) else payload)
        wait_for(lambda: instance.received["disposition"] == 2, message="the good one, twice")
        assert instance.rejected == len(bad) and instance.rejected_by_kind == {"disposition": len(bad)}
        assert response.states() == {alert.event_id: {"acknowledged": good.at}}
    finally:
        instance.stop()


def test_pending_and_figures_from_known_times(tmp_path):
    db = tmp_path / "platform.db"
    store, response = stores(db)
    clock = FakeClock(wall=T0)
    factory = AlertFactory("dev-1", "site-1", clock)
    alerts = []
    for _ in range(10):
        alert = factory.make("intrusion", "major", ("camera", "entrance"), rule="night")
        store.add_alert(json.loads(alert.to_json()), alert.to_json(), T0)
        alerts.append(alert)
        clock.advance(1.0)
    health = factory.make("agent.health", "minor", ("device", "dev-1"), details={"reason": "stage_crashed"})
    store.add_alert(json.loads(health.to_json()), health.to_json(), T0)  # never pending, never counted
    for index, alert in enumerate(alerts[:8]):  # acknowledged after 10 + i s, closed 60 s after that
        response.add(disposition(alert, "acknowledged", 10.0 + index), "{}")
        closing = "false_alarm" if index < 2 else "resolved"
        response.add(disposition(alert, closing, 70.0 + index), "{}")
    assert response.add(disposition(alerts[0], "acknowledged", 99.0), "{}") is False  # the first copy wins
    unanswered = factory.make(
        "alert.unanswered",
        "major",
        ("camera", "entrance"),
        details={"reason": "not_acknowledged", "extra": {"unanswered_event_id": alerts[9].event_id}},
    )
    store.add_alert(json.loads(unanswered.to_json()), unanswered.to_json(), T0)

    pending = response.pending(now=T0 + 100.0)
    assert [row["event_id"] for row in pending] == [alerts[8].event_id, alerts[9].event_id]
    assert [row["age_s"] for row in pending] == [92.0, 91.0] and pending[0]["states"] == []
    (row,) = response.figures()
    acks, closes = [10.0 + i for i in range(8)], [70.0 + i for i in range(8)]
    assert (row["site"], row["rule"], row["type"], row["alerts"]) == ("site-1", "night", "intrusion", 10)
    assert (row["ack_p50_s"], row["ack_p95_s"]) == (percentile(acks, 0.5), percentile(acks, 0.95)) == (13.0, 17.0)
    assert (row["resolve_p50_s"], row["resolve_p95_s"]) == (73.0, 77.0) == (percentile(closes, 0.5), 77.0)
    assert row["unanswered"] == 1 and row["false_alarms"] == 2 and row["false_alarm_rate"] == 0.2


def test_platform_dispose_refuses_an_alert_the_platform_has_not_seen(tmp_path, capsys):
    db = tmp_path / "platform.db"
    stores(db)
    code = cli_main(["platform", "dispose", "--db", str(db), new_event_id(), "acknowledged", "--by", "ana"])
    assert code == 2 and "it must have reached the platform first" in capsys.readouterr().out
