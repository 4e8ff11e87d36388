"""Evidence handed out on request, and every hand-out recorded (docs/evidence.md).

`get-evidence {event_id}` (publish/commands.py) and the technician's page come here. A remote request gets the
file through the outbox on `{base}/evidence/{event_id}` (durable and QoS 1, so a broker restart in the middle of a
clip resends the parts not yet acknowledged): a snapshot in one message, a clip in ordered chunks, each with its
own sha256 and the whole file's. Either way an `evidence_sent` record (who asked, when, what, how many bytes, or
why it was refused) goes through the outbox in the same transaction. Requests past `evidence.fetches_per_minute`
are refused before anything is read; evidence kept with `privacy: none` never leaves the box.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections import Counter, deque

from edge_agent.clock import Clock, iso_utc
from edge_agent.config.evidence import PRIVACY_NONE, EvidenceConfig
from edge_agent.events import Topics
from edge_agent.events.evidence_messages import EvidenceKept, EvidencePart, EvidenceSent
from edge_agent.events.ids import new_event_id
from edge_agent.store import Outbox
from edge_agent.store.evidence_files import EvidenceRecord, EvidenceStore

PART_LIFETIME_S = 3600.0  # parts nobody received within the hour are not worth sending any more


class EvidenceRefused(Exception):
    """A request the desk will not serve; the message says why (and goes back to the sender)."""


class EvidenceDesk:
    def __init__(self, store: EvidenceStore, outbox: Outbox, topics: Topics, site: str, clock: Clock):
        self.store, self.outbox, self.topics, self.site, self.clock = store, outbox, topics, site, clock
        self.counts: Counter = Counter()
        self._asked: deque[float] = deque()
        self._lock = threading.Lock()

    def send(self, event_id: str, kind: str | None, request_id: str | None, requested_by: str | None) -> dict:
        """`get-evidence`: queue the evidence's parts and its `evidence_sent` record; raises EvidenceRefused."""
        self._within_rate()
        who = {"requested_by": requested_by, "via": "get-evidence", "request_id": request_id}
        try:
            record = self._find(event_id, kind)
            if record.privacy == PRIVACY_NONE:
                raise EvidenceRefused(
                    f"evidence of {event_id} was kept without pixelation (privacy: none) and never leaves the box"
                )
            data = self._read(record)
        except EvidenceRefused as exc:
            self._record(event_id, None, who, refused=str(exc))
            raise
        parts = self._parts(record, data, request_id)
        sent = self._sent(event_id, record, who, bytes_=len(data), parts=len(parts))
        expires = self.clock.wall() + PART_LIFETIME_S
        topic = self.topics.evidence(record.event_id)
        self.outbox.enqueue_many(
            [(topic, part, "event", None, expires) for part in parts] + [(self.topics.evidence_sent, sent, "event")]
        )
        self.counts[f"sent_{record.kind}"] += 1
        self.counts["bytes_sent"] += len(data)
        return {
            "event_id": event_id,
            "kind": record.kind,
            "bytes": len(data),
            "sha256": record.sha256,
            "parts": len(parts),
            "topic": topic,
        }

    def show(self, event_id: str, kind: str | None, user: str | None) -> tuple[EvidenceRecord, bytes]:
        """The technician's page (local): the file itself, recorded as a `web` fetch."""
        self._within_rate()
        who = {"requested_by": user, "via": "web", "request_id": None}
        try:
            record = self._find(event_id, kind)
            data = self._read(record)
        except EvidenceRefused as exc:
            self._record(event_id, None, who, refused=str(exc))
            raise
        self.outbox.enqueue(self.topics.evidence_sent, self._sent(event_id, record, who, len(data), 0), "event")
        self.counts["shown"] += 1
        return record, data

    def announce_clip(self, record: EvidenceRecord, frames: int, duration_s: float) -> None:
        """The `evidence_kept` message of a finished clip: its hash, for the platform to check a fetched copy."""
        kept = EvidenceKept(
            event_id=new_event_id(),
            alert_event_id=record.event_id,
            device_id=self.topics.device_id,
            site=self.site,
            kind="clip",
            sha256=record.sha256,
            bytes=record.bytes,
            captured_at=record.captured_at,
            frames=frames,
            duration_s=duration_s,
            created_at=iso_utc(self.clock.wall()),
        )
        self.outbox.enqueue(self.topics.evidence_kept, kept.model_dump_json(), "event", kept.event_id)

    @property
    def config(self) -> EvidenceConfig:
        return self.store.config  # the running config's (the video build sets it)

    def figures(self) -> dict:
        return dict(self.counts)

    def _within_rate(self) -> None:
        now = self.clock.monotonic()
        with self._lock:
            while self._asked and now - self._asked[0] >= 60.0:
                self._asked.popleft()
            if len(self._asked) >= self.config.fetches_per_minute:
                self.counts["refused_rate"] += 1
                raise EvidenceRefused(
                    f"too many evidence requests: at most {self.config.fetches_per_minute} a minute "
                    "(evidence.fetches_per_minute); retry later"
                )
            self._asked.append(now)

    def _find(self, event_id: str, kind: str | None) -> EvidenceRecord:
        if not self.store.valid_id(event_id):
            raise EvidenceRefused(f"args.event_id: {event_id[:64]!r} is not an alert's event id (a UUIDv7)")
        record = self.store.find(event_id, kind)
        if record is not None:
            return record
        what = f"{kind} " if kind else ""
        if self.store.expired(event_id):
            raise EvidenceRefused(
                f"evidence of {event_id} has expired: evidence is kept {self.config.keep_days:g} days "
                "(evidence.keep_days)"
            )
        raise EvidenceRefused(
            f"no {what}evidence is kept for {event_id}: unknown alert, a rule without evidence, or deleted to keep "
            "evidence within evidence.max_mb"
        )

    def _read(self, record: EvidenceRecord) -> bytes:
        try:
            return self.store.read(record)
        except OSError:  # deleted by retention since it was found
            raise EvidenceRefused(f"evidence of {record.event_id} was just deleted by retention") from None

    def _parts(self, record: EvidenceRecord, data: bytes, request_id: str | None) -> list[str]:
        size = len(data) if record.kind == "snapshot" else self.config.chunk_kb * 1024
        pieces = [data[at : at + size] for at in range(0, len(data), size)] or [b""]
        return [
            EvidencePart(
                event_id=record.event_id,
                request_id=request_id,
                kind=record.kind,
                index=index,
                count=len(pieces),
                sha256=hashlib.sha256(piece).hexdigest(),
                file_sha256=record.sha256,
                file_bytes=record.bytes,
                data=base64.b64encode(piece).decode("ascii"),
            ).model_dump_json()
            for index, piece in enumerate(pieces)
        ]

    def _sent(self, event_id: str, record: EvidenceRecord | None, who: dict, bytes_: int, parts: int, refused=None):
        message = EvidenceSent(
            event_id=new_event_id(),
            device_id=self.topics.device_id,
            site=self.site,
            alert_event_id=event_id[:64],
            kind=record.kind if record else None,
            outcome="refused" if refused else "sent",
            reason=refused,
            requested_at=iso_utc(self.clock.wall()),
            bytes=bytes_,
            sha256=record.sha256 if record else None,
            parts=parts,
            **who,
        )
        return message.model_dump_json()

    def _record(self, event_id: str, record, who: dict, refused: str) -> None:
        self.counts["refused"] += 1
        self.outbox.enqueue(self.topics.evidence_sent, self._sent(event_id, record, who, 0, 0, refused), "event")
