"""The platform's record of the fleet: alerts and action records once per event_id, episodes, device status,
counts; in PostgreSQL, or in one SQLite file on a laptop (dialect.py holds every difference).

One connection, used under a lock (the consumer's writer thread writes, the summary reads). Several
consumer processes may share the database: every write is an idempotent insert or upsert (ddl.py), so the
order in which instances apply messages does not change the result. A batch of messages is written in
one transaction (`write`); its rows are taken in key order, so two instances writing overlapping batches
lock rows in the same order and do not deadlock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from edge_agent.events.action import ActionRecord
from edge_agent.platform import ddl
from edge_agent.platform.dialect import Database, open_database
from edge_agent.platform.stored_rows import ActionRow, AlertRow, CountsRow, StatusRow, StoredRow
from edge_agent.platform.summary import ATTENTION_OUTCOMES, Summary, read_summary


class StoreVersionError(RuntimeError):
    """The store was written by a newer consumer: this one would not know its tables."""


class PlatformStore:
    def __init__(self, target: str | Path):
        """`target`: a `postgresql://` URL, a `sqlite:///` URL or a SQLite file path (dialect.py)."""
        self._lock = threading.Lock()
        self._db: Database = open_database(target)
        self.name = self._db.name  # printable: a password in a URL is masked
        with self._lock:
            self._migrate()

    def _migrate(self) -> None:
        """Create or upgrade the tables in one transaction: one instance migrates, others wait and find it done."""
        try:
            with self._db.transaction():
                self._db.lock_for_migration()
                for statement in ddl.DDL:  # the first version's tables (a new store has nothing else)
                    self._db.execute(statement)
                found = self._db.execute(ddl.STORED_VERSION).fetchone()
                stored = 1 if found is None else found[0]
                if stored > ddl.SCHEMA_VERSION:
                    raise StoreVersionError(
                        f"{self.name}: platform store schema version {stored}, written by a newer consumer;"
                        f" this one knows up to {ddl.SCHEMA_VERSION}: upgrade it"
                    )
                for version in range(stored + 1, ddl.SCHEMA_VERSION + 1):
                    for statement in ddl.MIGRATIONS[version]:
                        self._db.execute(statement)
                self._db.execute(ddl.RECORD_SCHEMA, (ddl.SCHEMA_VERSION,))
        except BaseException:
            self._db.close()
            raise

    # -- writes ----------------------------------------------------------------------

    def write(self, rows: Sequence[StoredRow]) -> list[bool]:
        """Store a batch in one transaction; per row, True when it was new (False: a delivery of a stored
        alert or record, only counted; counts and status rows are always True). Raises what the database
        raises, having written nothing: `retryable(error)` says whether trying again may help."""
        new: dict[int, bool] = {}
        by_kind: dict[str, list[tuple[int, StoredRow]]] = {"alert": [], "action": [], "counts": [], "status": []}
        for index, row in enumerate(rows):
            by_kind[row.kind].append((index, row))
        with self._lock, self._db.transaction():
            alerts = self._insert_counted(by_kind["alert"], ddl.INSERT_ALERT, ddl.COUNT_ALERT_DELIVERY, new)
            self._pair([row for index, row in alerts if new[index]])
            self._insert_counted(by_kind["action"], ddl.INSERT_ACTION, ddl.COUNT_ACTION_DELIVERY, new)
            for kind, statement in (("counts", ddl.INSERT_COUNTS), ("status", ddl.UPSERT_DEVICE)):
                ordered = sorted(by_kind[kind], key=lambda item: item[1].key)
                self._db.executemany(statement, [row.values() for _, row in ordered])
                new.update((index, True) for index, _ in ordered)
        return [new[index] for index in range(len(rows))]

    def retryable(self, error: BaseException) -> bool:
        """A lost connection, a lock wait, a deadlock: the same batch may succeed on another try (after
        `reconnect`); anything else is the batch's own fault."""
        return self._db.retryable(error)

    def reconnect(self) -> None:
        with self._lock:
            self._db.reconnect()

    def _insert_counted(self, items: list, insert: str, count_delivery: str, new: dict[int, bool]) -> list:
        """Insert what is new (ON CONFLICT DO NOTHING ... RETURNING), then count every other delivery."""
        items = sorted(items, key=lambda item: item[1].key)
        first: dict[str, StoredRow] = {}
        for _, row in items:
            first.setdefault(row.key, row)
        inserted = {found[0] for found in self._many(insert, [row.values() for row in first.values()])}
        again = []
        for index, row in items:
            new[index] = row.key in inserted
            inserted.discard(row.key)  # a second copy in the same batch is a delivery again
            if not new[index]:
                again.append((row.key,))
        self._db.executemany(count_delivery, again)
        return items

    def _many(self, statement: str, rows: list[tuple]) -> list[tuple]:
        """Run a one-row statement for every row, ROWS_PER_STATEMENT rows to a statement; what they return."""
        found: list[tuple] = []
        for start in range(0, len(rows), ddl.ROWS_PER_STATEMENT):
            chunk = rows[start : start + ddl.ROWS_PER_STATEMENT]
            cursor = self._db.execute(ddl.many(statement, len(chunk)), [value for row in chunk for value in row])
            if cursor.description is not None:
                found.extend(cursor.fetchall())
        return found

    def _pair(self, alerts: list[AlertRow]) -> None:
        """Start and end may reach different instances in either order: each upserts its half of the episode
        (ddl.UPSERT_EPISODE); a start and its end in the same batch make one row (one statement may not update
        a row twice), and the rows go in the order of their key."""
        halves: dict[str, list] = {}
        for row in alerts:
            if row.phase == "start":
                half = halves.setdefault(row.event_id, [row.event_id, row.device_id, row.type, None, None, None])
                half[3] = row.started_at
            elif row.phase == "end" and row.related_event_id:
                key = row.related_event_id
                half = halves.setdefault(key, [key, row.device_id, row.type, None, None, None])
                half[4:] = [row.event_id, row.ended_at]
        self._many(ddl.UPSERT_EPISODE, [tuple(halves[key]) for key in sorted(halves)])

    def add_alert(self, alert: dict, payload: str, received_at: float | None = None) -> bool:
        """Store one alert (already checked: message_checks.alert_row); False when its event_id was stored."""
        row = AlertRow(
            event_id=alert["event_id"],
            device_id=alert["device_id"],
            site=alert["site"],
            type=alert["type"],
            severity=alert["severity"],
            phase=alert.get("phase", "instant"),
            related_event_id=alert.get("related_event_id"),
            started_at=alert["started_at"],
            ended_at=alert.get("ended_at"),
            created_at=alert["created_at"],
            received_at=time.time() if received_at is None else received_at,
            payload=payload,
        )
        return self.write([row])[0]

    def add_action(self, record: ActionRecord, payload: str, received_at: float | None = None) -> bool:
        """Store an action record (checked by the caller, see message_checks.py); False when its event_id was already
        stored (only the delivery is counted). Its alert need not be stored yet: reads join on alert_event_id."""
        received_at = time.time() if received_at is None else received_at
        return self.write([ActionRow(record=record, received_at=received_at, payload=payload)])[0]

    def set_status(self, status: dict, site: str, received_at: float | None = None) -> None:
        received_at = time.time() if received_at is None else received_at
        fields = {key: status.get(key) for key in ("agent_version", "started_at", "at")}
        self.write([StatusRow(status["device_id"], site, status["state"], received_at=received_at, **fields)])

    def add_counts(self, counts: dict, payload: str, received_at: float | None = None) -> None:
        received_at = time.time() if received_at is None else received_at
        row = CountsRow(
            counts["event_id"],
            counts["device_id"],
            counts["site"],
            counts["interval_start"],
            counts["interval_end"],
            bool(counts["complete"]),
            received_at,
            payload,
        )
        self.write([row])

    # -- reads ---------------------------------------------------------------------

    def _rows(self, statement: str, parameters: Sequence = ()) -> list[dict]:
        with self._lock:
            cursor = self._db.execute(statement, parameters)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def episode(self, start_event_id: str) -> dict | None:
        found = self._rows("SELECT * FROM episodes WHERE start_event_id = ?", (start_event_id,))
        return found[0] if found else None

    def add_evidence_kept(self, kept: dict, payload: str, received_at: float | None = None) -> None:
        """A clip's `evidence_kept` record (the hash `platform evidence` checks a fetched clip against)."""
        row = (kept["alert_event_id"], kept["device_id"], kept["kind"], kept["sha256"], kept["bytes"])
        with self._lock, self._db.transaction():
            self._db.execute(
                ddl.INSERT_EVIDENCE_KEPT, (*row, time.time() if received_at is None else received_at, payload)
            )

    def alert_origin(self, event_id: str) -> tuple[str, str] | None:
        """(site, device_id) of a stored alert."""
        with self._lock:
            found = self._db.execute("SELECT site, device_id FROM alerts WHERE event_id = ?", (event_id,)).fetchone()
        return None if found is None else (found[0], found[1])

    def evidence_sha256(self, alert_event_id: str, kind: str) -> str | None:
        """The hash the agent published for an alert's evidence: the alert's own `details.evidence` (a snapshot),
        or its clip's `evidence_kept` record."""
        with self._lock:
            if kind == "clip":
                found = self._db.execute(
                    "SELECT sha256 FROM evidence_kept WHERE alert_event_id = ?", (alert_event_id,)
                ).fetchone()
                return None if found is None else found[0]
            found = self._db.execute("SELECT payload FROM alerts WHERE event_id = ?", (alert_event_id,)).fetchone()
        evidence = (parse_json(found[0].encode()) or {}).get("details", {}).get("evidence") if found else None
        return evidence.get("sha256") if isinstance(evidence, dict) and evidence.get("kind") == kind else None

    def device_state(self, device_id: str) -> str | None:
        found = self._rows("SELECT state FROM devices WHERE device_id = ?", (device_id,))
        return found[0]["state"] if found else None

    def alert_deliveries(self) -> dict[str, int]:
        return {row["event_id"]: row["deliveries"] for row in self._rows("SELECT event_id, deliveries FROM alerts")}

    def action(self, event_id: str) -> dict | None:
        """One action record with its alert's facts when that alert is stored (`alert_stored`)."""
        found = self._rows(ddl.SELECT_ACTIONS + " WHERE actions.event_id = ?", (event_id,))
        return found[0] if found else None

    def actions_of_alert(self, alert_event_id: str) -> list[dict]:
        where = " WHERE actions.alert_event_id = ? ORDER BY actions.finished_at"
        return self._rows(ddl.SELECT_ACTIONS + where, (alert_event_id,))

    def actions_to_check(self, limit: int = 50, every_outcome: bool = False) -> list[dict]:
        """The newest records an operator should look at (ATTENTION_OUTCOMES), or the newest of any outcome."""
        if every_outcome:
            return self._rows(ddl.SELECT_ACTIONS + " ORDER BY actions.finished_at DESC LIMIT ?", (limit,))
        marks = ", ".join("?" * len(ATTENTION_OUTCOMES))
        where = f" WHERE actions.outcome IN ({marks}) ORDER BY actions.finished_at DESC LIMIT ?"
        return self._rows(ddl.SELECT_ACTIONS + where, (*ATTENTION_OUTCOMES, limit))

    def summary(self) -> Summary:
        with self._lock:
            return read_summary(self._db.execute)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def parse_json(payload: bytes) -> dict | None:
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
