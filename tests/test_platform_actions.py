"""Action records at the platform, against a real mosquitto: stored once per event_id, linked to their alert
even when they arrive first, checked against the contract (rejects counted, not stored), and summarised."""

from __future__ import annotations

import json
import logging
import sqlite3
import stat
from pathlib import Path

import pytest

from edge_agent.cli.main import main as cli_main
from edge_agent.clock import iso_utc
from edge_agent.events import Topics, new_event_id
from edge_agent.events.action import ActionRecord
from edge_agent.platform import PlatformStore, StoreVersionError, ddl
from tests.support.actions import make_alert, start_runner
from tests.support.wait import wait_for
from tests.test_platform_consumer import SITE, Device, consumer, publish_raw

DEVICE = "dev-1"  # the identity tests/support/actions.py gives its alerts and runner
TOPICS = Topics("edge", SITE, DEVICE)


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def record(action: str = "siren", outcome: str = "timeout", **fields) -> ActionRecord:
    values = {"event_id": new_event_id(), "device_id": DEVICE, "site": SITE, "action": action, "kind": "http"}
    values |= {"trigger": "alert", "outcome": outcome, "attempts": 1, "finished_at": iso_utc(1_767_600_000.0)}
    return ActionRecord(**(values | fields))


def enqueue(device: Device, action_record: ActionRecord) -> None:
    """Into the device's outbox exactly as the agent's recorder stores one (edge_agent/actions/recorder.py)."""
    payload = action_record.model_dump_json(exclude_none=True)
    device.outbox.enqueue(TOPICS.action(action_record.action), payload, "event", event_id=action_record.event_id)


def test_records_of_real_runs_reach_the_store_once_each_and_link_to_their_alert(tmp_path, mosquitto, capsys):
    db = tmp_path / "platform.db"
    instance = consumer(mosquitto, db, "c1")
    store = PlatformStore(db)
    device = Device(tmp_path, mosquitto.port, DEVICE).start()
    busy = script(tmp_path / "strobe.sh", "echo 'relay busy' >&2\nexit 3\n")
    on = [{"rule": "anyone"}]
    runner = start_runner(
        device.outbox,
        {"name": "siren", "kind": "command", "argv": [str(script(tmp_path / "siren.sh", "exit 0\n"))], "on": on},
        {"name": "strobe", "kind": "command", "argv": [str(busy)], "on": on},
    )
    try:
        alert = make_alert()
        device.outbox.emit(alert)  # as the agent does: the alert is stored, then offered to the actions
        runner.offer(alert)
        wait_for(lambda: store.summary().actions == 2, timeout=20, message="both action records stored")
    finally:
        runner.stop()
    wait_for(lambda: store.summary().alerts == 1, message="the alert stored")
    wait_for(device.delivered, message="the outbox rows acknowledged")

    # The agent re-sends what it cannot prove was delivered: replay one record from its own outbox row.
    (failed,) = [row for row in store.actions_of_alert(alert.event_id) if row["action"] == "strobe"]
    row = device.outbox.get(failed["event_id"])
    publish_raw(mosquitto.port, row.topic, row.payload)
    wait_for(lambda: instance.action_ids[failed["event_id"]] == 2, message="the second delivery consumed")

    summary = store.summary()
    assert (summary.actions, summary.action_deliveries, summary.action_duplicates) == (2, 3, 1)
    assert summary.actions_by_outcome == {"ok": 1, "failed": 1}
    assert (summary.actions_to_check, summary.alerts_with_failed_actions, summary.actions_awaiting_alert) == (1, 1, 0)
    linked = {row["action"]: row for row in store.actions_of_alert(alert.event_id)}
    assert linked["siren"]["outcome"] == "ok" and linked["siren"]["alert_stored"] == 1
    assert linked["strobe"]["error"] == "exited with status 3: relay busy" and linked["strobe"]["deliveries"] == 2
    assert (linked["strobe"]["alert_type"], linked["strobe"]["alert_severity"]) == ("intrusion", "major")
    assert [row["event_id"] for row in store.actions_to_check()] == [failed["event_id"]]
    assert "actions: 2 unique, 1 duplicate deliveries (failed=1, ok=1); 1 to check" in summary.text()

    assert cli_main(["platform", "actions", "--db", str(db)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert f"{DEVICE} strobe (command) failed after 1 tries: exited with status 3: relay busy" in line
    assert f"[intrusion {alert.event_id}; record {failed['event_id']}]" in line
    device.stop()
    instance.stop()


def test_a_record_stored_before_its_alert_is_kept_and_linked_when_the_alert_arrives(tmp_path, mosquitto):
    db = tmp_path / "platform.db"
    instance = consumer(mosquitto, db, "c1")
    store = PlatformStore(db)
    device = Device(tmp_path, mosquitto.port, DEVICE).start()
    alert = make_alert()
    early = record(alert_event_id=alert.event_id, alert_type="intrusion", error="no answer within 2.0 s")
    enqueue(device, early)  # the real outbox and publisher, the record first
    wait_for(lambda: store.action(early.event_id), message="the record stored without its alert")
    assert store.action(early.event_id)["alert_stored"] == 0
    summary = store.summary()
    assert (summary.alerts, summary.actions_awaiting_alert, summary.alerts_with_failed_actions) == (0, 1, 1)

    device.outbox.emit(alert)
    wait_for(lambda: store.summary().alerts == 1, message="the alert stored")
    linked = store.action(early.event_id)
    assert (linked["alert_stored"], linked["alert_created_at"]) == (1, alert.created_at)
    assert [row["event_id"] for row in store.actions_of_alert(alert.event_id)] == [early.event_id]
    assert store.summary().actions_awaiting_alert == 0
    device.stop()
    instance.stop()


def test_malformed_or_misaddressed_records_are_counted_and_not_stored(tmp_path, mosquitto, caplog):
    db = tmp_path / "platform.db"
    instance = consumer(mosquitto, db, "c1")
    store = PlatformStore(db)
    good = record().model_dump(exclude_none=True)
    bad = [
        (TOPICS.action("siren"), {**good, "event_id": new_event_id(), "outcome": "exploded"}),
        (TOPICS.action("siren"), b"{not json"),
        (TOPICS.action("siren"), b"[1, 2]"),
        (TOPICS.action("siren"), {"event_id": new_event_id()}),
        (TOPICS.action("siren"), {**good, "event_id": new_event_id(), "colour": "red"}),  # unknown at 1.0
        (TOPICS.action("siren"), {**good, "event_id": new_event_id(), "schema_version": "2.0"}),
        (TOPICS.action("siren"), {**good, "event_id": new_event_id(), "device_id": "dev-other"}),
        (TOPICS.action("strobe"), {**good, "event_id": new_event_id()}),  # the body names siren
    ]
    newer_minor = {**good, "event_id": new_event_id(), "schema_version": "1.7", "colour": "red"}
    with caplog.at_level(logging.WARNING, logger="edge_agent.platform.consumer"):
        for topic, payload in [*bad, (TOPICS.action("siren"), newer_minor), (TOPICS.action("siren"), good)]:
            publish_raw(mosquitto.port, topic, payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        # One publisher, one subscriber: the last message stored means every earlier one was handled.
        wait_for(lambda: store.action(good["event_id"]), message="the well-formed record stored")
    assert instance.rejected == len(bad) and instance.rejected_by_kind == {"action": len(bad)}
    assert store.summary().actions == 2
    kept = store.action(newer_minor["event_id"])  # a newer minor's extra field is ignored, not a reason to drop
    assert kept is not None and json.loads(_payload(db, newer_minor["event_id"]))["colour"] == "red"
    (warning,) = [r.getMessage() for r in caplog.records if "not stored" in r.getMessage()]  # the first, not 8
    assert TOPICS.action("siren") in warning and "outcome: Input should be 'ok'" in warning
    instance.stop()


def _payload(db: Path, event_id: str) -> str:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT payload FROM actions WHERE event_id = ?", (event_id,)).fetchone()[0]


def test_a_first_version_store_is_upgraded_in_place_and_a_newer_one_refused(tmp_path):
    db = tmp_path / "platform.db"
    with sqlite3.connect(db) as old:  # what a consumer before action records left behind
        for statement in ddl.DDL:
            old.execute(statement)
        old.execute(ddl.RECORD_SCHEMA, (1,))
        row = ("e1", "dev-1", SITE, "intrusion", "major", "instant", None, "t0", "t0", 0.0, "{}")
        old.execute(ddl.INSERT_ALERT, row)
    store = PlatformStore(db)
    assert store.add_action(record(alert_event_id="e1"), "{}") is True
    assert store.summary().alerts == 1 and store.summary().actions == 1
    store.close()
    assert _version(db) == ddl.SCHEMA_VERSION == 2
    PlatformStore(db).close()  # reopening a current store changes nothing
    assert _version(db) == 2

    with sqlite3.connect(db) as newer:
        newer.execute("UPDATE platform_schema SET version = 3")
    with pytest.raises(
        StoreVersionError, match="schema version 3, written by a newer consumer; this one knows up to 2"
    ):
        PlatformStore(db)
    assert _version(db) == 3


def _version(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute(ddl.STORED_VERSION).fetchone()[0]


def test_an_alert_whose_body_disagrees_with_its_topic_is_counted_and_not_stored(tmp_path, mosquitto):
    """The ACL keeps a device to its own topics but does not read payloads: an alert on dev-1's topic that claims
    another device, site or type is not believed."""
    db = tmp_path / "platform.db"
    instance = consumer(mosquitto, db, "c1")
    store = PlatformStore(db)
    good = json.loads(make_alert().to_json())
    forged = [
        {**good, "event_id": new_event_id(), "device_id": "dev-other"},
        {**good, "event_id": new_event_id(), "site": "site-other"},
        {**good, "event_id": new_event_id(), "type": "door.forced"},  # published under the intrusion topic
    ]
    for body in [*forged, good]:
        publish_raw(mosquitto.port, TOPICS.alert(good["type"]), json.dumps(body).encode())
    wait_for(lambda: store.summary().alerts == 1, message="the well-formed alert stored")
    assert instance.rejected == len(forged) and instance.rejected_by_kind == {"alert": len(forged)}
    assert instance.alert_ids == {good["event_id"]: 1}
    instance.stop()
