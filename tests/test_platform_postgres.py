"""The platform store on the real PostgreSQL (and the same tests on SQLite): one schema and its migrations on both,
batches stored once per event_id, episodes paired in SQL, a lost connection survived, hostile messages refused.

Each PostgreSQL test has a schema of its own (tests/support/postgres.py); with CI=true a missing server fails."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from edge_agent.cli.main import main as cli_main
from edge_agent.config.mqtt import MqttConfig
from edge_agent.events import AlertFactory, Topics
from edge_agent.platform import ConsumerOptions, PlatformConsumer, PlatformStore, StoreVersionError, ddl
from edge_agent.platform.message_checks import alert_row
from edge_agent.platform.store_writer import Pending, StoreWriter
from tests.support.actions import make_alert
from tests.support.postgres import private_schema, schema_tables
from tests.support.wait import wait_for
from tests.test_platform_consumer import SITE, Device, consumer, publish_raw

ROOT = Path(__file__).resolve().parents[1]
TABLES = {"alerts", "episodes", "devices", "counts", "actions", "evidence_kept", "platform_schema"}


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    """Where a store lives: a SQLite file, or a private schema of the real PostgreSQL."""
    if request.param == "sqlite":
        yield str(tmp_path / "platform.db")
        return
    with private_schema() as url:
        yield url


@pytest.fixture
def postgres():
    with private_schema() as url:
        yield url


def rows_of(factory: AlertFactory, alerts) -> list:
    levels = Topics("edge", SITE, factory.device_id).alert("x").split("/")
    return [
        alert_row(json.loads(alert.to_json()), levels[:-1] + [alert.type], alert.to_json(), 1.0) for alert in alerts
    ]


def test_a_batch_is_stored_once_per_event_id_and_its_episodes_pair_in_either_order(target):
    store = PlatformStore(target)
    factory = AlertFactory("dev-1", SITE)
    start = factory.make("loitering", "minor", ("camera", "cam1"), phase="start")
    end = factory.make(
        "loitering", "minor", ("camera", "cam1"), phase="end", related_event_id=start.event_id, ended_at=time.time()
    )
    instant = factory.make("intrusion", "major", ("camera", "cam1"))
    end_row, start_row, instant_row = rows_of(factory, [end, start, instant])
    assert store.write([end_row]) == [True]  # the end first: half an episode, awaiting its start
    summary = store.summary()
    assert (summary.episodes_open, summary.episodes_closed, summary.ends_awaiting_start) == (0, 0, 1)
    # the start, a re-sent end and the same instant twice in one batch: one row each, every delivery counted
    assert store.write([instant_row, start_row, end_row, instant_row]) == [True, True, False, False]
    assert store.alert_deliveries() == {start.event_id: 1, end.event_id: 2, instant.event_id: 2}
    episode = store.episode(start.event_id)
    assert (episode["started_at"], episode["end_event_id"], episode["ended_at"]) == (
        start.started_at,
        end.event_id,
        end.ended_at,
    )
    summary = store.summary()
    assert (summary.alerts, summary.duplicates, summary.episodes_closed, summary.ends_awaiting_start) == (3, 2, 1, 0)
    assert summary.alerts_by_type == {"intrusion": 1, "loitering": 2}
    store.close()


def test_two_consumers_in_one_group_store_each_alert_once(target, tmp_path, mosquitto):
    first, second = consumer(mosquitto, target, "c1"), consumer(mosquitto, target, "c2")
    devices = [Device(tmp_path, mosquitto.port, f"dev-{n}").start() for n in range(3)]
    emitted = {device.emit(details={"count": i}) for i in range(40) for device in devices}
    store = PlatformStore(target)
    wait_for(lambda: store.summary().alerts == len(emitted), timeout=30, message="every alert stored")
    for device in devices:
        device.stop()
    assert first.alert_ids and second.alert_ids, "the shared group gave one instance nothing"
    assert set(first.alert_ids) | set(second.alert_ids) == emitted
    assert store.alert_deliveries() == dict.fromkeys(emitted, 1)
    first.stop()
    second.stop()
    store.close()


def test_postgres_first_version_store_is_upgraded_and_a_newer_one_refused(postgres):
    with psycopg.connect(postgres, autocommit=True) as old:  # what a consumer before action records left behind
        for statement in ddl.DDL:
            old.execute(statement)
        old.execute(ddl.RECORD_SCHEMA.replace("?", "%s"), (1,))
    assert "actions" not in schema_tables(postgres)
    store = PlatformStore(postgres)
    store.close()
    assert schema_tables(postgres) == TABLES
    assert _version(postgres) == ddl.SCHEMA_VERSION == 2
    with psycopg.connect(postgres, autocommit=True) as newer:
        newer.execute("UPDATE platform_schema SET version = 3")
    with pytest.raises(StoreVersionError, match="schema version 3, written by a newer consumer"):
        PlatformStore(postgres)


def test_postgres_instances_starting_together_migrate_once(postgres):
    """CREATE TABLE IF NOT EXISTS racing itself fails on PostgreSQL; the migration lock makes the others wait."""
    errors: list[BaseException] = []
    stores: list[PlatformStore] = []

    def open_store():
        try:
            stores.append(PlatformStore(postgres))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(stores) == 4
    assert _version(postgres) == ddl.SCHEMA_VERSION
    for store in stores:
        store.close()


def _version(url: str) -> int:
    with psycopg.connect(url) as connection:
        return connection.execute(ddl.STORED_VERSION).fetchone()[0]


def test_postgres_a_lost_connection_is_reconnected_and_the_batch_stored(postgres):
    url = postgres + "&application_name=writer-under-test"
    store = PlatformStore(url)
    committed: list[str] = []
    refused: list = []
    writer = StoreWriter(store, lambda batch, new: committed.extend(p.row.key for p in batch), refused.append, 50, 100)
    writer.start()
    factory = AlertFactory("dev-1", SITE)
    first, second = rows_of(factory, [factory.make("intrusion", "major", ("camera", "c")) for _ in range(2)])
    writer.put(Pending(first, 1, 1, 1))
    wait_for(lambda: committed == [first.key], message="the first batch committed")
    with psycopg.connect(postgres, autocommit=True) as admin:  # the server ends the store's session
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", ("writer-under-test",)
        )
    writer.put(Pending(second, 2, 1, 1))
    wait_for(lambda: committed == [first.key, second.key], timeout=20, message="stored after reconnecting")
    writer.stop()
    assert refused == [] and store.summary().alerts == 2
    store.close()


def test_postgres_a_row_the_database_refuses_costs_no_other_row_of_its_batch(postgres):
    """message_checks keeps NUL out of every column; should one slip through, PostgreSQL refuses that row only."""
    store = PlatformStore(postgres)
    committed: list[str] = []
    refused: list = []
    writer = StoreWriter(
        store, lambda batch, new: committed.extend(p.row.key for p in batch), lambda p, e: refused.append(p), 50, 100
    )
    factory = AlertFactory("dev-1", SITE)
    rows = rows_of(factory, [factory.make("intrusion", "major", ("camera", "c")) for _ in range(3)])
    poisoned = rows[1].__class__(**{**rows[1].__dict__, "type": "intru\x00sion"})
    for mid, row in enumerate([rows[0], poisoned, rows[2]]):
        writer.put(Pending(row, mid, 1, 1))  # queued before the thread starts: one batch of three
    writer.start()
    wait_for(lambda: len(committed) + len(refused) == 3, message="every row decided")
    writer.stop()
    assert sorted(committed) == sorted([rows[0].key, rows[2].key])
    assert [pending.row.key for pending in refused] == [poisoned.key]
    assert store.summary().alerts == 2
    store.close()


def test_postgres_the_command_consumes_into_a_url_and_summary_reads_it(postgres, tmp_path, mosquitto, capsys):
    command = [sys.executable, "-m", "edge_agent", "platform", "consume", "--db", postgres]
    command += ["--port", str(mosquitto.port), "--client-id", "cli-pg"]
    process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: "alerts" in schema_tables(postgres), timeout=20, message="the store created")
        device = Device(tmp_path, mosquitto.port, "dev-c").start()
        device.emit()
        store = PlatformStore(postgres)
        wait_for(lambda: store.summary().alerts == 1, timeout=20, message="the alert stored by the command")
        device.stop()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "alerts: 1 unique, 0 duplicate deliveries (intrusion=1)" in output
    assert cli_main(["platform", "summary", "--db", postgres, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["alerts"] == 1
    store.close()


def test_postgres_a_message_is_acknowledged_only_once_its_transaction_commits(postgres, mosquitto):
    """The alerts table is locked, so the write waits; the consumer dies meanwhile. Had it acknowledged on
    receipt the broker would forget the alert; it re-sends it to the instance that takes the session over."""
    url = postgres + "&application_name=ack-after-commit"
    first = consumer(mosquitto, url, "c-ack")
    successor_store = PlatformStore(url)  # opened (and migrated) before the lock, which would hold that up too
    options = ConsumerOptions(client_id="c-ack", reconnect_min_s=0.05, reconnect_max_s=0.3)
    with psycopg.connect(postgres) as admin:  # not autocommit: the lock holds until rollback
        admin.execute("LOCK TABLE alerts IN SHARE MODE")  # writes wait
        alert = make_alert()
        publish_raw(mosquitto.port, Topics("edge", SITE, "dev-1").alert("intrusion"), alert.to_json().encode())
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'"
        wait_for(lambda: admin.execute(waiting, ("ack-after-commit",)).fetchone()[0] == 1, message="the write waits")
        first.kill()  # no DISCONNECT, no PUBACK
        # the same session: the broker re-sends what is unacknowledged to the instance that takes it over
        second = PlatformConsumer(MqttConfig(port=mosquitto.port), successor_store, options).start()
        wait_for(lambda: admin.execute(waiting, ("ack-after-commit",)).fetchone()[0] == 2, message="both wait")
        admin.rollback()
    store = PlatformStore(postgres)
    wait_for(lambda: store.alert_deliveries() == {alert.event_id: 2}, message="stored once, delivered twice")
    second.stop()
    store.close()
