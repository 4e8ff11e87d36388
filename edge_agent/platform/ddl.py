"""The platform store's tables and statements, in one place, written once for SQLite and PostgreSQL both.

Plain types only (TEXT, INTEGER, DOUBLE PRECISION), explicit primary keys, no AUTOINCREMENT, no
rowid, no SQLite-only pragmas, no literal `?` or `%`: the few differences between the two databases
(placeholders, locks, connection settings) are dialect.py's and nowhere else. Times are RFC 3339 UTC
text as the agent publishes them, plus the consumer's receive time as epoch seconds. Inserts use
`INSERT ... ON CONFLICT (key) DO NOTHING` / `DO UPDATE` and `RETURNING`, which SQLite (3.35+) and
PostgreSQL (9.5+) both accept.

`DDL` is the first version's tables; `MIGRATIONS[n]` takes a store from version n-1 to n (a new
store runs them all). The store applies them in one transaction and records the version.
"""

from __future__ import annotations

import re
from functools import lru_cache

SCHEMA_VERSION = 2
# Rows per multi-row INSERT (`many`): within SQLite's 32,766 parameters at 16 columns.
ROWS_PER_STATEMENT = 500
_VALUES = re.compile(r"VALUES\s*(\([^)]*\))")


@lru_cache(maxsize=64)
def many(statement: str, rows: int) -> str:
    """`statement`'s single-row `VALUES (...)` repeated for `rows` rows: a batch in one statement and one round
    trip. Not for a DO UPDATE whose rows may share a key (PostgreSQL refuses to update a row twice in one
    statement): the store merges those first."""
    group = _VALUES.search(statement)
    assert group is not None, "a statement with one VALUES (...) group"
    return statement[: group.start(1)] + ", ".join([group.group(1)] * rows) + statement[group.end(1) :]


DDL = (
    """
    CREATE TABLE IF NOT EXISTS alerts (
        event_id TEXT NOT NULL PRIMARY KEY,
        device_id TEXT NOT NULL,
        site TEXT NOT NULL,
        type TEXT NOT NULL,
        severity TEXT NOT NULL,
        phase TEXT NOT NULL,
        related_event_id TEXT,
        started_at TEXT NOT NULL,
        created_at TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        deliveries INTEGER NOT NULL,
        payload TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS alerts_device ON alerts (device_id, created_at)",
    """
    CREATE TABLE IF NOT EXISTS episodes (
        start_event_id TEXT NOT NULL PRIMARY KEY,
        device_id TEXT NOT NULL,
        type TEXT NOT NULL,
        started_at TEXT,
        end_event_id TEXT,
        ended_at TEXT
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS devices (
        device_id TEXT NOT NULL PRIMARY KEY,
        site TEXT NOT NULL,
        state TEXT NOT NULL,
        agent_version TEXT,
        agent_started_at TEXT,
        status_at TEXT,
        received_at DOUBLE PRECISION NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS counts (
        event_id TEXT NOT NULL PRIMARY KEY,
        device_id TEXT NOT NULL,
        site TEXT NOT NULL,
        interval_start TEXT NOT NULL,
        interval_end TEXT NOT NULL,
        complete INTEGER NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        payload TEXT NOT NULL
    )
    """,
    # evidence_kept: a clip's hash, which follows its alert (docs/evidence.md); kept by the alert it belongs to.
    # Created if missing on every open, like the first version's tables: nothing older reads or lacks it.
    """
    CREATE TABLE IF NOT EXISTS evidence_kept (
        alert_event_id TEXT NOT NULL PRIMARY KEY,
        device_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        bytes BIGINT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        payload TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS platform_schema (
        name TEXT NOT NULL PRIMARY KEY,
        version INTEGER NOT NULL
    )
    """,
)

# The first copy of an alert wins; RETURNING says which rows of a batch were new. An alert seen again (same
# event_id: another delivery) only counts that delivery (COUNT_ALERT_DELIVERY).
INSERT_ALERT = """
    INSERT INTO alerts (event_id, device_id, site, type, severity, phase, related_event_id,
                        started_at, created_at, received_at, deliveries, payload)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
"""
COUNT_ALERT_DELIVERY = "UPDATE alerts SET deliveries = deliveries + 1 WHERE event_id = ?"

# Start and end may reach different consumer instances in either order: each writes its half of the episode
# through this one upsert (a start's row has no end columns, an end's no started_at), and a half never
# erases the other. One statement for both halves, so a batch's episode rows go in one key order (two
# instances each holding one start and the other's end would otherwise lock in opposite orders).
UPSERT_EPISODE = """
    INSERT INTO episodes (start_event_id, device_id, type, started_at, end_event_id, ended_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (start_event_id) DO UPDATE SET
        started_at = coalesce(excluded.started_at, episodes.started_at),
        end_event_id = coalesce(excluded.end_event_id, episodes.end_event_id),
        ended_at = coalesce(excluded.ended_at, episodes.ended_at)
"""

# Several instances may apply the same status messages; a message received earlier never
# overwrites one received later, so a lagging instance cannot turn an offline device back online.
UPSERT_DEVICE = """
    INSERT INTO devices (device_id, site, state, agent_version, agent_started_at, status_at, received_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (device_id) DO UPDATE SET
        site = excluded.site, state = excluded.state, agent_version = excluded.agent_version,
        agent_started_at = excluded.agent_started_at, status_at = excluded.status_at,
        received_at = excluded.received_at
    WHERE devices.received_at <= excluded.received_at
"""

INSERT_COUNTS = """
    INSERT INTO counts (event_id, device_id, site, interval_start, interval_end, complete, received_at, payload)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (event_id) DO NOTHING
"""

INSERT_EVIDENCE_KEPT = """
    INSERT INTO evidence_kept (alert_event_id, device_id, kind, sha256, bytes, received_at, payload)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (alert_event_id) DO NOTHING
"""

MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 2: action records. `alert_event_id` links a record to its alert but is no foreign key: with
    # shared subscriptions (and the agent's own priorities) a record may be stored before its alert.
    2: (
        """
        CREATE TABLE IF NOT EXISTS actions (
            event_id TEXT NOT NULL PRIMARY KEY,
            device_id TEXT NOT NULL,
            site TEXT NOT NULL,
            action TEXT NOT NULL,
            kind TEXT NOT NULL,
            triggered_by TEXT NOT NULL,
            alert_event_id TEXT,
            alert_type TEXT,
            outcome TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            error TEXT,
            latency_ms DOUBLE PRECISION,
            finished_at TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            deliveries INTEGER NOT NULL,
            payload TEXT NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS actions_alert ON actions (alert_event_id)",
        "CREATE INDEX IF NOT EXISTS actions_outcome ON actions (outcome, finished_at)",
    ),
}

STORED_VERSION = "SELECT version FROM platform_schema WHERE name = 'platform'"

# Never lowers the number: an older consumer refuses a newer store before it gets here (store.py).
RECORD_SCHEMA = """
    INSERT INTO platform_schema (name, version) VALUES ('platform', ?)
    ON CONFLICT (name) DO UPDATE SET version = excluded.version WHERE platform_schema.version < excluded.version
"""

# Like alerts: a record seen again only counts the extra delivery.
INSERT_ACTION = """
    INSERT INTO actions (event_id, device_id, site, action, kind, triggered_by, alert_event_id, alert_type,
                         outcome, attempts, error, latency_ms, finished_at, received_at, deliveries, payload)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
"""
COUNT_ACTION_DELIVERY = "UPDATE actions SET deliveries = deliveries + 1 WHERE event_id = ?"

# A record with its alert's facts where the alert is stored (`alert_stored` 0 while it is not).
SELECT_ACTIONS = """
    SELECT actions.event_id, actions.device_id, actions.site, actions.action, actions.kind, actions.triggered_by,
           actions.outcome, actions.attempts, actions.error, actions.latency_ms, actions.finished_at,
           actions.deliveries, actions.alert_event_id, coalesce(alerts.type, actions.alert_type) AS alert_type,
           alerts.severity AS alert_severity, alerts.created_at AS alert_created_at,
           CASE WHEN alerts.event_id IS NULL THEN 0 ELSE 1 END AS alert_stored
    FROM actions LEFT JOIN alerts ON alerts.event_id = actions.alert_event_id
"""
