"""The outbox database file: schema, pragmas, and recovery from a corrupt file."""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CLASSES = ("alarm", "event", "telemetry")
PRIORITY = {"alarm": 0, "event": 1, "telemetry": 2}

_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

# seq is AUTOINCREMENT so a number is never reused: the publisher tracks
# in-flight rows by seq, and insertion order is the "age" in drain order
# (immune to wall-clock steps).
_DDL = """
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


class NewerSchemaError(RuntimeError):
    """The file was written by a newer agent; refusing to touch it beats moving it aside."""


@dataclass
class OpenedDatabase:
    connection: sqlite3.Connection
    db: sqlite_utils.Database
    moved_aside_to: Path | None = None
    corruption: str | None = None


def is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """Only a damaged file counts: 'locked', 'busy' or permission errors must never move a good DB aside."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


class _CorruptFile(sqlite3.DatabaseError):
    sqlite_errorcode = _SQLITE_CORRUPT


def connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    else:
        connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout = 5000")
    return connection


def _open_checked(path: Path) -> OpenedDatabase:
    connection = connect(path)
    try:
        connection.execute("PRAGMA journal_mode = WAL").fetchone()
        connection.execute("PRAGMA synchronous = FULL")
        problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise _CorruptFile("quick_check: " + "; ".join(problems[:5]))
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise NewerSchemaError(f"{path} has outbox schema {version}; this agent knows up to {SCHEMA_VERSION}")
        connection.executescript(_DDL)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return OpenedDatabase(connection, sqlite_utils.Database(connection))
    except BaseException:
        connection.close()
        raise


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
        counter += 1
    # The -wal and -shm files belong to the damaged file; a fresh database
    # must not pick them up.
    for suffix in ("", "-wal", "-shm", "-journal"):
        sibling = path.with_name(path.name + suffix)
        if sibling.exists():
            sibling.rename(target.with_name(target.name + suffix))
    return target


def open_database(path: Path) -> OpenedDatabase:
    """Open (creating if needed) the outbox; a corrupt file is kept aside and replaced by a fresh one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _open_checked(path)
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise
        moved = _move_aside(path)
        log.error("outbox database %s is corrupt (%s); moved it to %s and started an empty one", path, exc, moved)
        opened = _open_checked(path)
        opened.moved_aside_to, opened.corruption = moved, str(exc)
        return opened
