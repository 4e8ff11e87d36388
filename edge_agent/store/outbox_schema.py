"""The outbox file's layout: its numbered migrations and the columns the code relies on.

Opening, pragmas and corrupt-file recovery are shared with other stores in
`edge_agent.store.database`.
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from edge_agent.store.database import Migration, OpenedDatabase, migrate, open_database, require_columns

CLASSES = ("alarm", "event", "telemetry")
PRIORITY = {"alarm": 0, "event": 1, "telemetry": 2}

# seq is AUTOINCREMENT so a number is never reused: the publisher tracks
# in-flight rows by seq, and insertion order is the "age" in drain order
# (immune to wall-clock steps).
#
# Migration 1 is the layout that shipped and stays frozen, as SQL: sqlite-utils'
# Table.create() cannot say AUTOINCREMENT, CHECK or WITHOUT ROWID, and
# create_index() cannot make the partial index. Later migrations use
# sqlite-utils (add_column, create_index, transform); transform keeps CHECK
# constraints, AUTOINCREMENT and partial indexes from sqlite-utils 4.2.1 on,
# hence the pin in setup.cfg (tests/test_outbox_schema.py holds it to that).
_V1_STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS outbox (
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
)""",
    "CREATE INDEX IF NOT EXISTS outbox_drain ON outbox (state, priority, seq)",
    "CREATE INDEX IF NOT EXISTS outbox_delivered_at ON outbox (delivered_at) WHERE state = 'delivered'",
    """CREATE TABLE IF NOT EXISTS drops (
    reason TEXT NOT NULL,
    class TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (reason, class)
) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
)


def create_v1(db: sqlite_utils.Database) -> None:
    # IF NOT EXISTS: agents before numbered migrations could crash between
    # creating the tables and writing user_version, leaving a version-0 file with tables.
    for statement in _V1_STATEMENTS:
        db.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (create_v1,)
SCHEMA_VERSION = len(MIGRATIONS)

# What the code reads and writes; a file at SCHEMA_VERSION without these is refused.
LAYOUT = {
    "outbox": (
        "seq",
        "event_id",
        "topic",
        "payload",
        "class",
        "priority",
        "size",
        "created_at",
        "expires_at",
        "attempts",
        "state",
        "delivered_at",
    ),
    "drops": ("reason", "class", "count"),
    "meta": ("key", "value"),
}


def ensure_outbox_schema(db: sqlite_utils.Database) -> None:
    migrate(db, MIGRATIONS, "outbox")
    require_columns(db, LAYOUT, "outbox")


def open_outbox_database(path: Path) -> OpenedDatabase:
    """Open (creating or migrating) the outbox; a corrupt file is kept aside and replaced by a fresh one."""
    return open_database(path, ensure_outbox_schema, label="outbox")
