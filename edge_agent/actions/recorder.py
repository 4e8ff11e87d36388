"""Action records: what one run (or refusal) became, and the thread that stores them in the outbox.

Records are written by one recorder thread, not by the thread that offered the alert (a rule's,
an adapter's) nor by an action's worker, so neither waits for an fsync. They go to the outbox
like everything else that leaves the box (class `event`, topic `…/actions/{name}`, their own
event_id), so they are published when the broker is reachable and kept while it is not.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Literal, Protocol

from edge_agent.actions.base import Attempt
from edge_agent.clock import Clock, iso_utc, parse_utc
from edge_agent.events import Alert, Topics
from edge_agent.events.action import ActionRecord

log = logging.getLogger(__name__)

RECORD_QUEUE = 1024


class RecordStore(Protocol):
    """The outbox's side the runner uses (store/outbox.py `Outbox`)."""

    def enqueue(self, topic: str, payload: str, cls: str, event_id: str | None = None) -> str | None: ...

    def get(self, event_id: str) -> object | None: ...


@dataclass
class Job:
    """One run asked for: by an alert (or a remote command), waiting in an action's queue."""

    record_id: str  # the event_id its record will carry (known before it runs: a remote reply names it)
    trigger: Literal["alert", "remote", "technician", "disposition", "escalation"]
    alert: Alert | None
    fields: dict
    offered_at: float  # monotonic: the alert was stored (or the command received)
    request_id: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    record: ActionRecord | None = None


@dataclass(frozen=True)
class Tries:
    """How a run went: the tries made, the last one, when the first started (monotonic and wall)."""

    count: int
    last: Attempt
    first_at: float
    first_wall: float


class RecordMaker:
    def __init__(self, device_id: str, site: str, clock: Clock):
        self.device_id = device_id
        self.site = site
        self.clock = clock

    def make(self, name: str, kind: str, job: Job, outcome: str, tries: Tries | None = None) -> ActionRecord:
        alert = job.alert
        now, wall = self.clock.monotonic(), self.clock.wall()
        record = ActionRecord(
            event_id=job.record_id,
            device_id=self.device_id,
            site=self.site,
            action=name,
            kind=kind,
            trigger=job.trigger,
            alert_event_id=alert.event_id if alert else None,
            alert_type=alert.type if alert else None,
            rule=alert.rule if alert else None,
            phase=alert.phase if alert else None,
            request_id=job.request_id,
            outcome=outcome,
            attempts=tries.count if tries else 0,
            finished_at=iso_utc(wall),
        )
        if tries is None:
            return record
        latency = None
        if alert is not None and job.trigger == "alert":
            latency = max(0.0, (wall - parse_utc(alert.created_at)) * 1000)
        return record.model_copy(
            update={
                "error": tries.last.error,
                "status_code": tries.last.status_code,
                "exit_code": tries.last.exit_code,
                "queued_ms": round(max(0.0, tries.first_at - job.offered_at) * 1000, 1),
                "run_ms": round(max(0.0, now - tries.first_at) * 1000, 1),
                "latency_ms": None if latency is None else round(latency, 1),
                "started_at": iso_utc(tries.first_wall),
            }
        )


class Recorder:
    """Stores records in the outbox from its own thread, behind a bounded queue (a full queue loses the record,
    counted in `lost`). After `stop`, records are stored by the caller (a worker finishing late)."""

    def __init__(self, store: RecordStore, topics: Topics):
        self.store = store
        self.topics = topics
        self.stored = 0
        self.lost = 0
        self._queue: queue.Queue[ActionRecord] = queue.Queue(maxsize=RECORD_QUEUE)
        self._stopping = threading.Event()
        self._put_lock = threading.Lock()  # a record is queued before stop's final drain, or stored by its caller
        self._thread = threading.Thread(target=self._run, name="action-records", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def put(self, record: ActionRecord) -> None:
        with self._put_lock:
            if not self._stopping.is_set():
                self._enqueue(record)
                return
        self._store(record)

    def _enqueue(self, record: ActionRecord) -> None:
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.lost += 1
            if self.lost == 1 or self.lost % 100 == 0:
                log.warning("action records lost: the recorder is %d behind (%d lost so far)", RECORD_QUEUE, self.lost)

    def stop(self, timeout: float) -> None:
        """Store what is queued, then stop."""
        with self._put_lock:
            self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._drain()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                record = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._store(record)

    def _drain(self) -> None:
        while True:
            try:
                record = self._queue.get_nowait()
            except queue.Empty:
                return
            self._store(record)

    def _store(self, record: ActionRecord) -> None:
        try:
            payload = record.model_dump_json(exclude_none=True)
            if self.store.enqueue(self.topics.action(record.action), payload, "event", event_id=record.event_id):
                self.stored += 1
            else:
                self.lost += 1  # refused by a full outbox: counted there too
        except Exception:  # the outbox closed under a worker that finished late, say
            self.lost += 1
            log.exception("action record %s of %s not stored", record.event_id, record.action)
