"""The outbox file's layout over time: files from earlier agents open with their rows, migrations keep constraints."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from edge_agent.clock import FakeClock
from edge_agent.config.outbox import OutboxConfig
from edge_agent.store import NewerSchemaError, Outbox
from edge_agent.store.database import LayoutError, migrate, open_database
from edge_agent.store.outbox_schema import MIGRATIONS, create_v1

# The layout agents wrote before numbered migrations (schema 1), copied from
# that code and frozen here: files in the field look like this.
V1_DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    class TEXT NOT NULL CHECK (class IN ('alarm', 'event', 'telemetry')),
    priority INTEGER NOT NULL,
    size INTEGER NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'inflight', 'delivered')),
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_drain ON outbox (state, priority, seq);
CREATE INDEX IF NOT EXISTS outbox_delivered_at ON outbox (delivered_at) WHERE state = 'delivered';
CREATE TABLE IF NOT EXISTS drops (
    reason TEXT NOT NULL,
    class TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (reason, class)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""

V1_ROWS = [
    # event_id, class, priority, state, delivered_at
    ("alarm-1", "alarm", 0, "pending", None),
    ("event-1", "event", 1, "inflight", None),
    ("tele-1", "telemetry", 2, "delivered", 990.0),
    ("event-2", "event", 1, "pending", None),
]


def write_v1_file(path: Path, user_version: int = 1) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.executescript(V1_DDL)
    for event_id, cls, priority, state, delivered_at in V1_ROWS:
        connection.execute(
            "INSERT INTO outbox (event_id, topic, payload, class, priority, size, created_at, state, delivered_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                f"edge/s/d/{cls}",
                f'{{"id": "{event_id}"}}'.encode(),
                cls,
                priority,
                15,
                900.0,
                state,
                delivered_at,
            ),
        )
    connection.execute(
        "DELETE FROM outbox WHERE event_id = 'event-2'"
    )  # seq 4 is used up: AUTOINCREMENT must not hand it out again
    connection.execute("INSERT INTO drops (reason, class, count) VALUES ('expired', 'event', 3)")
    connection.execute("INSERT INTO meta (key, value) VALUES ('last_delivery_at', 990.0)")
    connection.execute(f"PRAGMA user_version = {user_version}")
    connection.close()


def schema_of(path: Path) -> set[tuple]:
    connection = sqlite3.connect(path)
    try:
        return set(connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    finally:
        connection.close()


@pytest.mark.parametrize("user_version", [1, 0], ids=["schema-1", "tables-without-version"])
def test_a_v1_file_opens_with_rows_drops_and_meta_kept(tmp_path, user_version):
    path = tmp_path / "outbox.db"
    write_v1_file(path, user_version)
    clock = FakeClock()
    with Outbox(path, OutboxConfig(), clock) as outbox:
        assert outbox.moved_aside_to is None
        kept = {event_id: outbox.get(event_id) for event_id, *_ in V1_ROWS[:3]}
        assert kept["alarm-1"].payload == b'{"id": "alarm-1"}' and kept["alarm-1"].seq == 1
        assert kept["event-1"].state == "pending"  # was in flight when the old agent stopped
        assert kept["tele-1"].state == "delivered" and kept["tele-1"].delivered_at == 990.0
        stats = outbox.stats()
        assert stats.by_state == {"pending": 2, "inflight": 0, "delivered": 1}
        assert stats.drops["event"] == 3 and stats.drops_by_reason == {"expired": 3}
        assert stats.last_delivery_at == 990.0
        new_id = outbox.enqueue("edge/s/d/event", "{}", "event")
        assert outbox.get(new_id).seq == 5
        assert [row.event_id for row in outbox.claim(10)] == ["alarm-1", "event-1", new_id]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_fresh_file_has_exactly_the_v1_layout(tmp_path):
    """A layout change needs a new migration; editing migration 1 would split the field into two layouts."""
    write_v1_file(tmp_path / "v1.db")
    Outbox(tmp_path / "fresh.db", OutboxConfig(), FakeClock()).close()
    assert schema_of(tmp_path / "fresh.db") == schema_of(tmp_path / "v1.db")


def reorder_outbox_columns(db: sqlite_utils.Database) -> None:
    # A stand-in for a later migration: transform rebuilds the table, as a
    # type change or a dropped column would.
    db["outbox"].transform(column_order=["seq", "event_id", "state"])


def test_a_later_migration_written_with_transform_keeps_rows_and_constraints(tmp_path):
    """Holds the sqlite-utils pin: older transform() dropped CHECK, AUTOINCREMENT and its sequence."""
    path = tmp_path / "outbox.db"
    write_v1_file(path)
    opened = open_database(path, lambda db: migrate(db, (create_v1, reorder_outbox_columns), "outbox"))
    db = opened.db
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert [c.name for c in db["outbox"].columns][:3] == ["seq", "event_id", "state"]
    assert [(r["seq"], r["event_id"]) for r in db["outbox"].rows_where(order_by="seq")] == [
        (1, "alarm-1"),
        (2, "event-1"),
        (3, "tele-1"),
    ]
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        db.execute(
            "INSERT INTO outbox (event_id, topic, payload, class, priority, size, created_at)"
            " VALUES ('x', 't', x'00', 'bogus', 0, 1, 0)"
        )
    db.execute(
        "INSERT INTO outbox (event_id, topic, payload, class, priority, size, created_at)"
        " VALUES ('y', 't', x'00', 'event', 1, 1, 0)"
    )
    assert db.execute("SELECT seq FROM outbox WHERE event_id = 'y'").fetchone()[0] == 5
    indexes = {index.name: index for index in db["outbox"].indexes}
    assert {"outbox_drain", "outbox_delivered_at"} <= set(indexes) and indexes["outbox_delivered_at"].partial
    opened.connection.close()


def test_a_file_from_a_newer_agent_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "outbox.db"
    write_v1_file(path, user_version=len(MIGRATIONS) + 1)
    with pytest.raises(NewerSchemaError, match=f"{path}.*schema {len(MIGRATIONS) + 1}"):
        Outbox(path, OutboxConfig(), FakeClock())
    assert sorted(p.name for p in tmp_path.iterdir() if "corrupt" in p.name) == []
    assert sqlite3.connect(path).execute("SELECT count(*) FROM outbox").fetchone()[0] == 3


def test_a_file_lacking_a_column_is_refused_naming_it(tmp_path):
    path = tmp_path / "outbox.db"
    write_v1_file(path)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("DROP TABLE meta")
    connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY)")
    connection.close()
    with pytest.raises(LayoutError, match=r"outbox database: table 'meta' lacks columns \['value'\]"):
        Outbox(path, OutboxConfig(), FakeClock())


def create_rule_state(db: sqlite_utils.Database) -> None:
    db["rule_state"].create({"rule": str, "state": str}, pk="rule")


def test_another_store_opens_its_own_file_with_the_same_pragmas_and_recovery(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"not a database" * 200)

    def ensure(db):
        migrate(db, (create_rule_state,), "rule state")

    opened = open_database(path, ensure, label="rule state")
    assert opened.moved_aside_to is not None and opened.moved_aside_to.read_bytes().startswith(b"not a database")
    assert opened.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert opened.db.table_names() == ["rule_state"] and opened.db.execute("PRAGMA user_version").fetchone()[0] == 1
    opened.connection.close()


def test_a_failing_migration_leaves_the_previous_version(tmp_path):
    path = tmp_path / "state.db"

    def half_done(db):
        db["half"].create({"a": int})
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        open_database(path, lambda db: migrate(db, (create_rule_state, half_done), "rule state"))
    db = sqlite_utils.Database(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1 and db.table_names() == ["rule_state"]
    db.close()
