"""Any durable SQLite file of the agent: our pragmas, numbered migrations, and setting aside a corrupt file.

The outbox is the first user; a second store (durable rule state) opens its
own file the same way, with its own list of migrations.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from edge_agent.private_files import create_private_file, private_dir, tighten

log = logging.getLogger(__name__)

_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

Migration = Callable[[sqlite_utils.Database], None]


class NewerSchemaError(RuntimeError):
    """The file was written by a newer agent; refusing to touch it beats moving it aside."""


class LayoutError(RuntimeError):
    """The file claims a schema version but lacks tables or columns that version has."""


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


def migrate(db: sqlite_utils.Database, migrations: Sequence[Migration], label: str) -> None:
    """Bring the file to version len(migrations); migration N takes it from N-1 to N.

    The version is `PRAGMA user_version`, written in the same transaction as
    the migration's changes, so a crash leaves either the old or the new layout.
    """
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(migrations):
        raise NewerSchemaError(f"{label} database has schema {version}; this agent knows up to {len(migrations)}")
    for number, step in enumerate(migrations[version:], start=version + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            db.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        log.info("%s database migrated to schema %d (%s)", label, number, step.__name__)


def require_columns(db: sqlite_utils.Database, layout: dict[str, Sequence[str]], label: str) -> None:
    """Refuse a file whose tables lack what the code reads, rather than fail on the first query."""
    tables = set(db.table_names())
    for table, columns in layout.items():
        if table not in tables:
            raise LayoutError(f"{label} database: table {table!r} is missing")
        missing = [column for column in columns if column not in db[table].columns_dict]
        if missing:
            raise LayoutError(f"{label} database: table {table!r} lacks columns {missing}")


def _create_private(path: Path) -> None:
    """The file 0600 before SQLite makes it (0644 less the umask); its -wal and -shm copy that mode."""
    create_private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):  # an older agent's, made before the file was tightened
        tighten(path.with_name(path.name + suffix))


def _open_checked(path: Path, ensure_schema: Callable[[sqlite_utils.Database], None]) -> OpenedDatabase:
    _create_private(path)
    connection = connect(path)
    try:
        connection.execute("PRAGMA journal_mode = WAL").fetchone()
        connection.execute("PRAGMA synchronous = FULL")
        problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise _CorruptFile("quick_check: " + "; ".join(problems[:5]))
        db = sqlite_utils.Database(connection)
        try:
            ensure_schema(db)
        except (NewerSchemaError, LayoutError) as exc:
            raise type(exc)(f"{path}: {exc}") from None
        return OpenedDatabase(connection, db)
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


def open_database(
    path: Path, ensure_schema: Callable[[sqlite_utils.Database], None], label: str = "sqlite"
) -> OpenedDatabase:
    """Open (creating if needed) a store's file; a corrupt file is kept aside and replaced by a fresh one.

    `ensure_schema` creates or migrates the store's tables (typically a call to
    `migrate`). The caller reports `moved_aside_to` in its own way (the outbox
    raises a health alert).
    """
    private_dir(path.parent)
    try:
        return _open_checked(path, ensure_schema)
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise
        moved = _move_aside(path)
        log.error("%s database %s is corrupt (%s); moved it to %s and started an empty one", label, path, exc, moved)
        opened = _open_checked(path, ensure_schema)
        opened.moved_aside_to, opened.corruption = moved, str(exc)
        return opened
