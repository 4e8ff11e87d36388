"""Evidence files on the box: `evidence/` beside the outbox, one file per alert named by its event_id.

`{event_id}.jpg` (snapshot) or `{event_id}.avi` (clip, MJPEG in AVI) with a `{event_id}.{kind}.json` record beside
it (kind, sha256, bytes, captured_at, privacy, camera, rule). Files are written atomically and 0600. Retention is by
age (`evidence.keep_days`) and total size (`evidence.max_mb`), oldest first; below `evidence.min_free_mb` of free
disk nothing is written at all, so evidence stops long before the outbox's own floor (docs/evidence.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from edge_agent.clock import Clock, iso_utc
from edge_agent.config.evidence import EvidenceConfig
from edge_agent.events.ids import event_id_time_ms
from edge_agent.private_files import atomic_write_private, private_dir

log = logging.getLogger(__name__)

# a UUIDv7 in its canonical lower-case form and nothing else: no path can be spelled with it
EVENT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SUFFIX = {"snapshot": ".jpg", "clip": ".avi"}
_DISK_CHECK_S = 5.0


@dataclass(frozen=True)
class EvidenceRecord:
    event_id: str
    kind: str  # snapshot | clip
    sha256: str
    bytes: int
    captured_at: str  # RFC 3339 UTC
    privacy: str  # pixelate_people | faces | none
    camera: str
    rule: str | None

    def details(self) -> dict:
        """The alert's `details.evidence`: what is kept, never the picture."""
        return {"kind": self.kind, "sha256": self.sha256, "bytes": self.bytes, "captured_at": self.captured_at}


class EvidenceStore:
    """Writes, finds and prunes evidence files; counts what it wrote (telemetry `system.evidence`)."""

    def __init__(self, directory: Path, config: EvidenceConfig, clock: Clock, disk_usage=shutil.disk_usage):
        self.directory = private_dir(directory, tighten_existing=True)
        self.config = config
        self.clock = clock
        self._disk_usage = disk_usage
        self._lock = threading.Lock()
        self.counts: Counter = Counter()
        self._low_checked: float | None = None
        self._low = False

    @staticmethod
    def valid_id(event_id: str) -> bool:
        return isinstance(event_id, str) and EVENT_ID.match(event_id) is not None

    def disk_low(self) -> bool:
        """True while free space is under evidence.min_free_mb (re-read at most every few seconds)."""
        now = self.clock.monotonic()
        if self._low_checked is None or now - self._low_checked >= _DISK_CHECK_S:
            self._low_checked = now
            free = self._disk_usage(self.directory).free
            self._low = free < self.config.min_free_mb * 1024 * 1024
        return self._low

    def write(self, record_of: dict, data: bytes) -> EvidenceRecord | None:
        """Keep `data` as the evidence of `record_of["event_id"]`; None (counted) when the disk is low."""
        record = self.describe(record_of, data)
        if record is not None:
            self.commit(record, data)
        return record

    def describe(self, record_of: dict, data: bytes) -> EvidenceRecord | None:
        """The record `data` will be kept under (its hash, for the alert), or None (counted) when the disk is low;
        nothing is written yet (`commit` does, on a thread that may wait for the disk)."""
        if self.disk_low():
            self.counts["refused_disk_low"] += 1
            return None
        if not self.valid_id(record_of["event_id"]) or record_of["kind"] not in SUFFIX:
            raise ValueError(f"evidence {record_of['event_id']!r} of kind {record_of['kind']!r}: not a UUIDv7 or kind")
        return EvidenceRecord(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), **record_of)

    def commit(self, record: EvidenceRecord, data: bytes) -> None:
        """Write the file and its record, atomically and 0600 (the file first: a record always has its file)."""
        with self._lock:
            atomic_write_private(self._data_path(record.event_id, record.kind), data)
            atomic_write_private(self._record_path(record.event_id, record.kind), json.dumps(asdict(record)).encode())
            self.counts[f"{record.kind}s_written"] += 1
            self.counts["bytes_written"] += len(data)

    def find(self, event_id: str, kind: str | None = None) -> EvidenceRecord | None:
        """The record kept for an alert (the snapshot first when `kind` is None); None when there is none."""
        if not self.valid_id(event_id):
            return None
        for candidate in [kind] if kind else list(SUFFIX):
            if candidate not in SUFFIX:
                return None
            try:
                record = EvidenceRecord(**json.loads(self._record_path(event_id, candidate).read_bytes()))
            except (OSError, ValueError, TypeError):
                continue
            if self._data_path(event_id, candidate).exists():
                return record
        return None

    def read(self, record: EvidenceRecord) -> bytes:
        return self._data_path(record.event_id, record.kind).read_bytes()

    def expired(self, event_id: str) -> bool:
        """True when the alert is older than evidence.keep_days: whatever it had is gone by design."""
        age_s = self.clock.wall() - event_id_time_ms(event_id) / 1000.0
        return age_s > self.config.keep_days * 86400

    def prune(self) -> int:
        """Delete evidence past keep_days, then the oldest until the total fits max_mb; returns files deleted."""
        with self._lock:
            files = sorted(
                (event_id_time_ms(path.stem), path)
                for path in self.directory.iterdir()
                if path.suffix in SUFFIX.values() and self.valid_id(path.stem)
            )
            cutoff_ms = (self.clock.wall() - self.config.keep_days * 86400) * 1000
            total = sum(path.stat().st_size for _, path in files)
            budget = self.config.max_mb * 1024 * 1024
            deleted = 0
            for created_ms, path in files:
                reason = "deleted_age" if created_ms < cutoff_ms else "deleted_size" if total > budget else None
                if reason is None:
                    continue
                total -= path.stat().st_size
                self._remove(path)
                self.counts[reason] += 1
                deleted += 1
            return deleted

    def figures(self) -> dict:
        with self._lock:
            files = [path for path in self.directory.iterdir() if path.suffix in SUFFIX.values()]
            kept = sum(path.stat().st_size for path in files)
            return {**self.counts, "files": len(files), "bytes_kept": kept, "disk_low": self._low}

    def _remove(self, path: Path) -> None:
        kind = next(kind for kind, suffix in SUFFIX.items() if suffix == path.suffix)
        for victim in (path, self._record_path(path.stem, kind)):
            victim.unlink(missing_ok=True)

    def _data_path(self, event_id: str, kind: str) -> Path:
        return self.directory / f"{event_id}{SUFFIX[kind]}"

    def _record_path(self, event_id: str, kind: str) -> Path:
        return self.directory / f"{event_id}.{kind}.json"


def record_fields(event_id: str, kind: str, captured_at: float, privacy: str, camera: str, rule: str | None) -> dict:
    return {
        "event_id": event_id,
        "kind": kind,
        "captured_at": iso_utc(captured_at),
        "privacy": privacy,
        "camera": camera,
        "rule": rule,
    }
