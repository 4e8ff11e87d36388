"""The durable outbox on its own: commits, drain order, capacity, expiry, retention, corruption, CLI."""

from __future__ import annotations

import json
import sqlite3
from collections import namedtuple
from pathlib import Path

import pytest

from edge_agent.cli.main import main as cli_main
from edge_agent.clock import FakeClock
from edge_agent.config.outbox import ExpiryConfig, OutboxConfig
from edge_agent.events import AlertFactory
from edge_agent.store import Outbox, OutboxReader
from edge_agent.store.database import is_corruption

Usage = namedtuple("Usage", "total used free")


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def factory(clock):
    return AlertFactory("dev-1", "site-a", clock)


def open_outbox(path: Path, clock, factory=None, **config) -> Outbox:
    return Outbox(path, OutboxConfig(**config), clock, topic_prefix="edge", alert_factory=factory)


def test_emit_commits_before_returning_and_survives_reopen(tmp_path, clock, factory):
    outbox = open_outbox(tmp_path / "o.db", clock)
    alert = factory.make("intrusion", "major", ("camera", "cam1"))
    outbox.emit(alert)
    # Another connection sees the row at once: it is committed, not buffered.
    other = sqlite3.connect(tmp_path / "o.db")
    assert other.execute("SELECT event_id, topic, class, state FROM outbox").fetchall() == [
        (alert.event_id, "edge/site-a/dev-1/alerts/intrusion", "alarm", "pending")
    ]
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    outbox.emit(alert)  # the same event twice is stored once
    outbox.close()
    reopened = open_outbox(tmp_path / "o.db", clock)
    row = reopened.get(alert.event_id)
    assert row.payload == alert.to_json().encode() and reopened.stats().rows == 1


def test_drain_order_is_class_priority_then_age(tmp_path, clock):
    outbox = open_outbox(tmp_path / "o.db", clock)
    order = ["telemetry", "event", "alarm", "event", "telemetry", "alarm"]
    ids = [outbox.enqueue(f"t/{i}", f"{i}", cls) for i, cls in enumerate(order)]
    claimed = outbox.claim(10)
    assert [row.event_id for row in claimed] == [ids[2], ids[5], ids[1], ids[3], ids[0], ids[4]]
    assert outbox.stats().by_state == {"pending": 0, "inflight": 6, "delivered": 0}
    assert all(row.attempts == 0 for row in claimed)  # attempts counted in the store, 1 after this claim
    assert outbox.get(ids[2]).attempts == 1


def test_inflight_rows_return_to_pending_on_requeue_and_restart(tmp_path, clock):
    outbox = open_outbox(tmp_path / "o.db", clock)
    for i in range(5):
        outbox.enqueue("t", str(i), "event")
    first = outbox.claim(3)
    assert [row.seq for row in outbox.claim(10, delivered=[first[0].seq])] == [4, 5]
    assert outbox.stats().by_state == {"pending": 0, "inflight": 4, "delivered": 1}
    outbox.close()  # a process that dies with rows in flight
    reopened = open_outbox(tmp_path / "o.db", clock)
    assert reopened.stats().by_state == {"pending": 4, "inflight": 0, "delivered": 1}
    again = reopened.claim(10)
    assert [row.attempts for row in again] == [1, 1, 1, 1]  # stored counts before this claim
    assert reopened.requeue_inflight() == 4


def test_capacity_evicts_delivered_then_expired_then_telemetry_then_events(tmp_path, clock):
    outbox = open_outbox(tmp_path / "o.db", clock, max_rows=10, expiry=ExpiryConfig(telemetry=60, event=0, alarm=0))
    delivered = outbox.enqueue("t", "d", "event")
    outbox.mark_delivered([row.seq for row in outbox.claim(1)])
    expired = outbox.enqueue("t", "x", "telemetry")
    clock.advance(120)  # the telemetry row is now past its expiry
    telemetry = [outbox.enqueue("t", f"t{i}", "telemetry") for i in range(2)]
    events = [outbox.enqueue("t", f"e{i}", "event") for i in range(3)]
    alarms = [outbox.enqueue("t", f"a{i}", "alarm") for i in range(3)]
    assert outbox.stats().rows == 10

    outbox.enqueue("t", "a-new-1", "alarm")
    assert outbox.get(delivered) is None  # delivered first: no loss, no drop counted
    outbox.enqueue("t", "a-new-2", "alarm")
    assert outbox.get(expired) is None
    outbox.enqueue("t", "a-new-3", "alarm")
    assert outbox.get(telemetry[0]) is None and outbox.get(telemetry[1]) is not None
    stats = outbox.stats()
    assert stats.drops == {"alarm": 0, "event": 0, "telemetry": 2}
    assert stats.drops_by_reason == {"expired": 1, "evicted": 1}

    # An event may evict telemetry and older events, never an alarm.
    outbox.enqueue("t", "e-new", "event")
    assert outbox.get(telemetry[1]) is None
    for i in range(3):
        outbox.enqueue("t", f"e-more-{i}", "event")
    assert all(outbox.get(event_id) is None for event_id in events)
    assert all(outbox.get(event_id) is not None for event_id in alarms)
    stats = outbox.stats()
    assert stats.pending["alarm"] == 6 and stats.pending["event"] == 4 and stats.drops["event"] == 3


def test_full_of_alarms_refuses_lower_classes_and_counts_it(tmp_path, clock):
    outbox = open_outbox(tmp_path / "o.db", clock, max_rows=10)
    alarms = [outbox.enqueue("t", f"a{i}", "alarm") for i in range(10)]
    assert outbox.enqueue("t", "e", "event") is None
    assert outbox.enqueue("t", "t", "telemetry") is None
    assert all(outbox.get(event_id) for event_id in alarms)
    # A new alarm displaces the oldest alarm rather than being lost itself.
    newest = outbox.enqueue("t", "a-new", "alarm")
    assert outbox.get(newest) and outbox.get(alarms[0]) is None
    stats = outbox.stats()
    assert stats.drops == {"alarm": 1, "event": 1, "telemetry": 1}
    assert stats.drops_by_reason == {"refused_full": 2, "evicted": 1}


def test_byte_cap_counts_payload_bytes_and_in_flight_rows_are_never_evicted(tmp_path, clock):
    outbox = open_outbox(tmp_path / "o.db", clock, max_bytes=64 * 1024)
    big = "x" * 20_000
    first = outbox.enqueue("t", big, "telemetry")
    outbox.claim(1)  # in flight: waiting for a PUBACK
    kept = [outbox.enqueue("t", big, "telemetry") for _ in range(2)]
    newest = outbox.enqueue("t", big, "telemetry")
    assert outbox.get(first).state == "inflight"
    assert outbox.get(kept[0]) is None and outbox.get(kept[1]) and outbox.get(newest)
    assert outbox.stats().bytes <= 64 * 1024
    assert outbox.enqueue("t", "y" * 70_000, "alarm") is None
    assert outbox.stats().drops_by_reason["too_large"] == 1


def test_expired_rows_are_dropped_at_drain_and_counted(tmp_path, clock):
    outbox = open_outbox(tmp_path / "o.db", clock, expiry=ExpiryConfig(alarm=0, event=30, telemetry=10))
    alarm = outbox.enqueue("t", "a", "alarm")
    event = outbox.enqueue("t", "e", "event")
    outbox.enqueue("t", "t", "telemetry")
    clock.advance(15)
    assert [row.event_id for row in outbox.claim(10)] == [alarm, event]
    assert outbox.stats().drops_by_reason == {"expired": 1}
    explicit = outbox.enqueue("t", "x", "alarm", expires_at=clock.wall() + 5)
    clock.advance(6)
    assert outbox.maintain() == {"pruned": 0, "expired": 1}
    assert outbox.get(explicit) is None and outbox.stats().drops["alarm"] == 1


def test_delivered_rows_are_pruned_after_retention(tmp_path, clock):
    outbox = open_outbox(tmp_path / "o.db", clock, retention_hours=1)
    outbox.enqueue("t", "a", "event")
    outbox.mark_delivered([row.seq for row in outbox.claim(5)])
    clock.advance(1800)
    assert outbox.maintain()["pruned"] == 0
    clock.advance(1801)
    assert outbox.maintain()["pruned"] == 1
    stats = outbox.stats()
    assert stats.rows == 0 and stats.bytes == 0 and stats.last_delivery_at is not None


def test_low_disk_stops_telemetry_but_not_alerts(tmp_path, clock, factory):
    free = {"bytes": 10 << 30}
    outbox = Outbox(
        tmp_path / "o.db",
        OutboxConfig(min_free_disk_mb=200),
        clock,
        disk_usage=lambda path: Usage(100 << 30, 0, free["bytes"]),
    )
    assert outbox.enqueue("t", "t1", "telemetry")
    free["bytes"] = 100 << 20
    clock.advance(10)  # disk is re-checked every few seconds
    assert outbox.enqueue("t", "t2", "telemetry") is None
    outbox.emit(factory.make("door.forced", "critical", ("door", "d1")))
    outbox.emit(factory.make("loitering", "minor", ("camera", "c1")))
    stats = outbox.stats()
    assert stats.low_disk and stats.drops_by_reason == {"low_disk": 1}
    assert stats.pending == {"alarm": 1, "event": 1, "telemetry": 1}


def test_requeue_since_sends_delivered_alerts_again_but_not_telemetry(tmp_path, clock):
    outbox = open_outbox(tmp_path / "o.db", clock)
    base = "edge/alerts/counts"  # a site and a device named like kinds: the kind is the level after the device
    old = outbox.enqueue(f"{base}/alerts/intrusion", "old", "alarm")
    clock.advance(100)
    since = clock.wall()
    recent = [
        outbox.enqueue(f"{base}/alerts/intrusion", "a", "alarm"),
        outbox.enqueue(f"{base}/alerts/x", "e", "event"),
    ]
    counts, action = (
        outbox.enqueue(f"{base}/counts", "c", "event"),
        outbox.enqueue(f"{base}/actions/siren", "r", "event"),
    )
    outbox.enqueue(f"{base}/telemetry", "tele", "telemetry")
    outbox.mark_delivered([row.seq for row in outbox.claim(10)])
    woken = []
    outbox.add_listener(lambda: woken.append(1))
    assert outbox.requeue_since(since) == 2  # alerts only, by default (docs/mqtt-api.md, resend-alerts)
    assert [row.event_id for row in outbox.claim(10)] == recent
    assert outbox.get(old).state == "delivered" and woken
    assert outbox.requeue_since(since, ("counts", "actions", "telemetry")) == 2
    assert [row.event_id for row in outbox.claim(10)] == [counts, action]


def test_corrupt_file_is_moved_aside_and_an_alert_raised(tmp_path, clock, factory):
    path = tmp_path / "outbox.db"
    path.write_bytes(b"this is not an sqlite database" * 100)
    outbox = open_outbox(path, clock, factory)
    moved = outbox.moved_aside_to
    assert moved is not None and moved.exists() and moved.read_bytes().startswith(b"this is not")
    [row] = outbox.tail(5)
    alert = json.loads(row.payload)
    assert alert["type"] == "agent.health" and alert["source"] == {"kind": "device", "id": "dev-1"}
    assert alert["details"]["reason"] == "outbox.corrupt" and moved.name in alert["details"]["message"]
    assert row.cls == "alarm" and row.topic == "edge/site-a/dev-1/alerts/agent.health"


def test_damaged_pages_are_detected_as_corruption(tmp_path, clock, factory):
    path = tmp_path / "outbox.db"
    outbox = open_outbox(path, clock)
    outbox.enqueue_many([("t", "p" * 500, "event", f"id-{i}") for i in range(300)])
    outbox.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, min(len(data), 12 * page)):
        data[offset] = 0xA5  # scribble over pages after the header
    path.write_bytes(bytes(data))
    recovered = open_outbox(path, clock, factory)
    assert recovered.moved_aside_to is not None
    assert [json.loads(r.payload)["details"]["reason"] for r in recovered.tail(5)] == ["outbox.corrupt"]


def test_locked_database_is_not_mistaken_for_corruption(tmp_path):
    path = tmp_path / "outbox.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE x (a)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError) as caught:
            connection = sqlite3.connect(path, timeout=0)
            connection.execute("SELECT * FROM x").fetchall()
        assert not is_corruption(caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with pytest.raises(sqlite3.DatabaseError) as caught:
        (tmp_path / "junk.db").write_bytes(b"junk" * 1000)
        sqlite3.connect(tmp_path / "junk.db").execute("PRAGMA quick_check").fetchall()
    assert is_corruption(caught.value)


def test_reader_and_cli_show_counts_ages_and_tail(tmp_path, clock, factory, capsys):
    state = tmp_path / "state"
    config = tmp_path / "agent.yaml"
    config.write_text(f"device:\n  id: dev-1\n  site: site-a\n  state_dir: {state}\n")
    outbox = Outbox.for_config(__import__("edge_agent").load_config(config), "dev-1")
    alerts = [factory.make("intrusion", "major", ("camera", "c1")) for _ in range(3)]
    for alert in alerts:
        outbox.emit(alert)
    outbox.enqueue("edge/site-a/dev-1/telemetry", "{}", "telemetry")
    outbox.mark_delivered([row.seq for row in outbox.claim(1)])
    with OutboxReader(state / "outbox.db") as reader:
        assert reader.stats(clock.wall()).by_state == outbox.stats().by_state
    assert cli_main(["outbox", "--config", str(config), "--tail", "2"]) == 0
    out = capsys.readouterr().out
    assert "alarm" in out and "last delivery: 20" in out and "oldest pending age:" in out
    assert alerts[1].event_id in out and alerts[2].event_id in out and alerts[0].event_id not in out
    assert cli_main(["outbox", "--config", str(config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["stats"]["by_state"] == {"pending": 3, "inflight": 0, "delivered": 1}
    outbox.close()


def test_cli_reports_a_missing_outbox(tmp_path, capsys):
    config = tmp_path / "agent.yaml"
    config.write_text(f"device:\n  id: dev-1\n  site: site-a\n  state_dir: {tmp_path / 'nowhere'}\n")
    assert cli_main(["outbox", "--config", str(config)]) == 66
    assert "no outbox database" in capsys.readouterr().err
