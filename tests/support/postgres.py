"""The real PostgreSQL the platform store is tested against: 127.0.0.1:5432, trust auth, database `test`
(`EDGE_AGENT_TEST_POSTGRES` names another). Each test gets a schema of its own (random name, the URL's
search_path set to it, dropped afterwards), so tests share no state. With CI=true a missing server fails the
test; on a laptop it skips it (.ci/run starts the server)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

SERVER = os.environ.get("EDGE_AGENT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _missing(message: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _connect():
    try:
        import psycopg
    except ImportError:
        _missing("psycopg is not installed (pip install -e '.[dev]')")
    try:
        return psycopg.connect(SERVER, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _missing(f"PostgreSQL at {SERVER} is not reachable (bash .ci/run starts it): {exc}")


@contextmanager
def private_schema() -> Iterator[str]:
    """A store URL whose tables live in a fresh schema of their own; the schema is dropped afterwards."""
    schema = "t_" + secrets.token_hex(6)
    with _connect() as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            separator = "&" if "?" in SERVER else "?"
            yield f"{SERVER}{separator}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def schema_tables(url: str) -> set[str]:
    """The tables in the URL's schema (what a test's store created there)."""
    import psycopg

    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    return {row[0] for row in rows}
