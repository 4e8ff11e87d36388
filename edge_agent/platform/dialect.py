"""The two databases the platform store runs on, and every difference between them, in this one module.

ddl.py's statements are written once, in SQL both accept (plain types, explicit keys, `ON CONFLICT`,
`RETURNING`, multi-row `VALUES`); store.py speaks only to the `Database` below. What differs:

- **where**: SQLite, a file path or `sqlite:///relative` / `sqlite:////absolute` (a laptop; instances on
  one host); PostgreSQL, a libpq URL `postgresql://user@host:port/db?...` (a platform; instances anywhere).
- **placeholders**: `?` as written for sqlite3; PostgreSQL's own `$1, $2, …` for psycopg's `RawCursor`,
  numbered once per statement text. Raw: psycopg would otherwise parse a long multi-row statement for its
  `%s` on every execution (it caches that only for statements of at most 50 parameters), which the
  profile showed as most of the writer's time.
- **a write transaction**: SQLite `BEGIN IMMEDIATE` (the file's write lock up front, waiting up to the busy
  timeout); PostgreSQL `BEGIN` (row locks).
- **migrations run by several instances at once**: SQLite, that same write lock; PostgreSQL,
  `pg_advisory_xact_lock` (concurrent `CREATE TABLE IF NOT EXISTS` can fail there).
- **worth trying again**: SQLite `database is locked`; PostgreSQL a lost connection, a deadlock, a
  serialization failure.
- **connection set-up**: SQLite WAL, `synchronous = NORMAL`, busy timeout; PostgreSQL whatever the URL says
  (`options=-csearch_path=…`, `sslmode=…`), the password from `PGPASSFILE` or `~/.pgpass`, never the URL.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

BUSY_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10
# Any constant shared by every instance: the key of the advisory lock migrations hold on PostgreSQL.
MIGRATION_LOCK_KEY = 0x6564676550_4C41  # "edgeP" "LA"
_PASSWORD_IN_URL = re.compile(r"(//[^:/@]*:)[^@/]*@")


def is_postgres_url(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def open_database(target: str | Path) -> Database:
    """A PostgreSQL URL, a `sqlite:///` URL or a plain SQLite file path."""
    if is_postgres_url(target):
        return PostgresDatabase(str(target))
    return SqliteDatabase(sqlite_path(target))


def sqlite_path(target: str | Path) -> Path:
    """The file of a `sqlite:///` URL or a plain path; ValueError for any other URL."""
    text = str(target)
    if text.startswith("sqlite:///"):
        return Path(text[len("sqlite:///") :])
    if "://" in text:
        raise ValueError(f"--db {shown_target(text)!r}: a postgresql:// or sqlite:/// URL, or a file path")
    return Path(text)


def shown_target(target: str | Path) -> str:
    """The target as it may be printed and logged: a password written into a URL is masked."""
    return _PASSWORD_IN_URL.sub(r"\1***@", str(target))


class Database:
    """One connection to the store. Not thread-safe: PlatformStore holds its lock around every use."""

    name: str

    def sql(self, statement: str) -> str:
        return statement

    def execute(self, statement: str, parameters: Sequence = ()):
        raise NotImplementedError

    def executemany(self, statement: str, rows: Sequence[Sequence]) -> None:
        raise NotImplementedError

    def transaction(self):
        raise NotImplementedError

    def lock_for_migration(self) -> None:
        """Inside a transaction: make other instances wait until this one's migration commits."""

    def retryable(self, error: BaseException) -> bool:
        raise NotImplementedError

    def reconnect(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SqliteDatabase(Database):
    def __init__(self, path: Path):
        self.path = path
        self.name = str(path)
        self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level None: no implicit transactions; writes open theirs with BEGIN IMMEDIATE.
        db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        return db

    def execute(self, statement: str, parameters: Sequence = ()):
        return self._db.execute(statement, parameters)

    def executemany(self, statement: str, rows: Sequence[Sequence]) -> None:
        if rows:
            self._db.executemany(statement, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def retryable(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)

    def reconnect(self) -> None:
        """Nothing to reconnect to: the file is local."""

    def close(self) -> None:
        self._db.close()


class PostgresDatabase(Database):
    def __init__(self, url: str):
        import psycopg  # the `platform` extra: only a PostgreSQL store needs it

        self._psycopg = psycopg
        self.url = url
        self.name = shown_target(url)
        self._db = self._connect()

    def _connect(self):
        # autocommit: a read is its own statement; a write opens an explicit transaction (transaction()).
        return self._psycopg.connect(
            self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, cursor_factory=self._psycopg.RawCursor
        )

    def sql(self, statement: str) -> str:
        return _numbered(statement)

    def execute(self, statement: str, parameters: Sequence = ()):
        return self._db.execute(self.sql(statement), parameters or None)

    def executemany(self, statement: str, rows: Sequence[Sequence]) -> None:
        if rows:
            with self._db.cursor() as cursor:
                cursor.executemany(self.sql(statement), rows)

    def transaction(self):
        return self._db.transaction()

    def lock_for_migration(self) -> None:
        self._db.execute("SELECT pg_advisory_xact_lock($1)", (MIGRATION_LOCK_KEY,))

    def retryable(self, error: BaseException) -> bool:
        errors = self._psycopg.errors
        if isinstance(error, (errors.DeadlockDetected, errors.SerializationFailure)):
            return True
        return isinstance(error, self._psycopg.OperationalError)

    def reconnect(self) -> None:
        if not self._db.closed and not self._db.broken:
            return
        self._db = self._connect()

    def close(self) -> None:
        self._db.close()


@lru_cache(maxsize=512)
def _numbered(statement: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, …` (ddl.py has no literal `?`: every one is a placeholder)."""
    parts = statement.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]
