"""The platform's enrolment book (SQLite): requests, decisions, certificates issued, revocations, refusals."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS enrol_requests (
  serial TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, csr TEXT NOT NULL, received_at REAL NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending', device_id TEXT, site TEXT, certificate TEXT, cert_serial TEXT,
  decided_at REAL, decided_by TEXT, reason TEXT, reply_sent INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS enrol_device ON enrol_requests(device_id) WHERE device_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS enrol_refusals (at REAL NOT NULL, serial TEXT, topic TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS enrol_issued (device_id TEXT NOT NULL, cert_serial TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS enrol_revoked (cert_serial TEXT NOT NULL, device_id TEXT NOT NULL, at REAL NOT NULL);
"""
COLUMNS = (
    "serial",
    "fingerprint",
    "state",
    "device_id",
    "site",
    "cert_serial",
    "received_at",
    "decided_at",
    "decided_by",
    "reason",
)


class UnknownSerial(LookupError):
    pass


MAX_PENDING = 1000  # serials waiting for the operator: far above a site's boxes, a bound for a bootstrap flood
MAX_REFUSALS = 1000  # the newest refusals kept


class EnrolmentRecords:
    def __init__(self, path: Path, max_pending: int = MAX_PENDING, max_refusals: int = MAX_REFUSALS):
        """`max_pending`, `max_refusals`: the bounds a holder of the site-wide bootstrap account meets (many serials,
        many bad requests), so the book cannot fill the platform's disk."""
        self.max_pending, self.max_refusals = max_pending, max_refusals
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 5000")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _one(self, sql: str, *args):
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _run(self, sql: str, *args) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    def request(self, serial: str) -> dict | None:
        row = self._one(f"SELECT {', '.join(COLUMNS)}, csr, certificate FROM enrol_requests WHERE serial = ?", serial)
        return dict(zip((*COLUMNS, "csr", "certificate"), row)) if row else None

    def by_device(self, device_id: str) -> dict | None:
        row = self._one("SELECT serial FROM enrol_requests WHERE device_id = ?", device_id)
        return self.request(row[0]) if row else None

    def add_pending(self, serial: str, fingerprint: str, csr: str) -> None:
        """Raises ValueError when `max_pending` requests wait already."""
        (waiting,) = self._one("SELECT COUNT(*) FROM enrol_requests WHERE state = 'pending'")
        if waiting >= self.max_pending:
            raise ValueError(
                f"{waiting} enrolment requests are pending already (at most {self.max_pending}); "
                f"approve or reject some, then serial {serial} may ask again"
            )
        self._run(
            "INSERT INTO enrol_requests (serial, fingerprint, csr, received_at) VALUES (?, ?, ?, ?)",
            serial,
            fingerprint,
            csr,
            time.time(),
        )

    def listing(self, states: tuple[str, ...] = ("pending",)) -> list[dict]:
        marks = ", ".join("?" for _ in states)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM enrol_requests WHERE state IN ({marks}) ORDER BY received_at", states
            ).fetchall()
        return [dict(zip(COLUMNS, row)) for row in rows]

    def decide(self, serial: str, state: str, by: str, **fields) -> None:
        """Record an approval or rejection (the service sends its reply); raises UnknownSerial."""
        sets = ", ".join(f"{name} = ?" for name in fields)
        extra = f", {sets}" if sets else ""
        changed = self._run(
            f"UPDATE enrol_requests SET state = ?, decided_at = ?, decided_by = ?, reply_sent = 0{extra} "
            "WHERE serial = ? AND state IN ('pending', 'approved', 'rejected')",
            state,
            time.time(),
            by,
            *fields.values(),
            serial,
        )
        if not changed:
            raise UnknownSerial(f"no enrolment request from serial {serial!r}")

    def renewed(self, serial: str, fingerprint: str, certificate: str, cert_serial: str) -> None:
        self._run(
            "UPDATE enrol_requests SET fingerprint = ?, certificate = ?, cert_serial = ? WHERE serial = ?",
            fingerprint,
            certificate,
            cert_serial,
            serial,
        )

    def unsent(self) -> list[dict]:
        with self._lock:
            serials = [
                r[0]
                for r in self._db.execute(
                    "SELECT serial FROM enrol_requests WHERE reply_sent = 0 AND state IN ('approved', 'rejected')"
                )
            ]
        return [self.request(serial) for serial in serials]

    def mark_sent(self, serial: str) -> None:
        self._run("UPDATE enrol_requests SET reply_sent = 1 WHERE serial = ?", serial)

    def resend(self, serial: str) -> None:
        self._run("UPDATE enrol_requests SET reply_sent = 0 WHERE serial = ?", serial)

    def refused(self, serial: str | None, topic: str, reason: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO enrol_refusals VALUES (?, ?, ?, ?)", (time.time(), serial, topic, reason))
            self._db.execute(
                "DELETE FROM enrol_refusals WHERE rowid <= (SELECT MAX(rowid) FROM enrol_refusals) - ?",
                (self.max_refusals,),
            )

    def refusals(self) -> list[tuple]:
        with self._lock:
            return self._db.execute("SELECT serial, topic, reason FROM enrol_refusals ORDER BY at").fetchall()

    def revoke(self, device_id: str, cert_serials: list[str]) -> None:
        for number in cert_serials:
            self._run("INSERT INTO enrol_revoked VALUES (?, ?, ?)", number, device_id, time.time())
        self._run("UPDATE enrol_requests SET state = 'revoked' WHERE device_id = ?", device_id)

    def revoked_serials(self) -> list[int]:
        with self._lock:
            return [int(r[0]) for r in self._db.execute("SELECT cert_serial FROM enrol_revoked")]

    def issued_serials(self, device_id: str) -> list[str]:
        """Every certificate serial issued to the device (renewals included), kept in the issue log."""
        with self._lock:
            rows = self._db.execute("SELECT cert_serial FROM enrol_issued WHERE device_id = ?", (device_id,)).fetchall()
        return [r[0] for r in rows]

    def last_issued_at(self, device_id: str) -> float | None:
        """When the device's newest certificate was issued (approval or renewal); None if never."""
        (at,) = self._one("SELECT MAX(at) FROM enrol_issued WHERE device_id = ?", device_id)
        return at

    def issued(self, device_id: str, cert_serial: str) -> None:
        self._run("INSERT INTO enrol_issued VALUES (?, ?, ?)", device_id, cert_serial, time.time())
