"""The consumer's writer thread: messages received are stored in batches, one transaction each, and only then
acknowledged.

paho hands messages over on its network thread; the consumer checks each one there and queues its row
here. This thread takes whatever has queued up (at most `max_batch`), writes it in one transaction and
reports it committed, and the consumer then sends the PUBACKs. So the batch grows with the load by itself
(group commit: no timer and no added latency when it is light), and the broker's Receive Maximum bounds
what is waiting. A database that is down or locked is tried again with a capped back-off, nothing
acknowledged meanwhile (the broker holds the rest back); a batch the database refuses for its contents is
split, so one bad row is reported alone and costs no other.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from edge_agent.platform.store import PlatformStore
from edge_agent.platform.stored_rows import StoredRow

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0


@dataclass(frozen=True)
class Pending:
    """A received message's row, and what is needed to acknowledge it once stored."""

    row: StoredRow
    mid: int
    qos: int
    session: int  # the connection it came on: a PUBACK is only sent on that one


Committed = Callable[[list[Pending], list[bool]], None]  # the batch, and per row whether it was new
Refused = Callable[[Pending, BaseException], None]


class StoreWriter:
    def __init__(self, store: PlatformStore, committed: Committed, refused: Refused, max_batch: int, depth: int):
        self._store = store
        self._committed = committed
        self._refused = refused
        self._max_batch = max_batch
        self._queue: queue.Queue[Pending | None] = queue.Queue(maxsize=depth)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="platform-store-writer", daemon=True)

    def start(self) -> StoreWriter:
        self._thread.start()
        return self

    def put(self, pending: Pending) -> None:
        """Blocks while the queue is full: the network thread stops reading, and TCP holds the broker back.
        After `stop`, drops it unacknowledged: the broker sends it again to this session or another."""
        if not self._stopping.is_set():
            self._queue.put(pending)

    def stop(self) -> None:
        """Store what has queued, then end (what cannot be stored stays unacknowledged: the broker re-sends it)."""
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    pending = self._queue.get_nowait()
                except queue.Empty:
                    break
                if pending is None:
                    self._store_safely(batch)
                    return
                batch.append(pending)
            self._store_safely(batch)

    def _store_safely(self, batch: list[Pending]) -> None:
        try:
            self._store_batch(batch)
        except Exception:  # a report that raised: this thread must outlive it, or nothing more is stored
            log.exception("platform store: reporting a batch of %d failed", len(batch))

    def _store_batch(self, batch: list[Pending]) -> None:
        delay = RETRY_FIRST_S
        while True:
            try:
                new = self._store.write([pending.row for pending in batch])
            except Exception as exc:  # the database's own errors, or a value it cannot take
                if self._store.retryable(exc):
                    if self._stopping.is_set():
                        log.warning("platform store: %d messages left unstored at stop: %s", len(batch), exc)
                        return
                    log.warning("platform store: write failed, trying again in %.1f s: %s", delay, exc)
                    self._stopping.wait(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                    self._reconnect()
                    continue
                if len(batch) == 1:
                    self._refused(batch[0], exc)
                    return
                for pending in batch:  # one row the database refuses must not cost the others
                    self._store_batch([pending])
                return
            self._committed(batch, new)
            return

    def _reconnect(self) -> None:
        try:
            self._store.reconnect()
        except Exception as exc:  # still down: the next try says so
            log.debug("platform store: reconnect failed: %s", exc)
