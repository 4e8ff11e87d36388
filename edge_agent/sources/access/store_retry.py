"""Events a feed cannot be asked to resend, held in memory until their alerts are stored.

A line stream or an OSDP bus has no way to tell the controller "send that
again", so when the store fails (outbox locked by another process, disk full,
I/O error) the adapter keeps the event here and a thread hands it to the
consumer again after a full-jitter back-off, until it is stored.

Order: one FIFO per adapter. While anything waits, every new event joins the
tail instead of going straight to the consumer, and the head leaves only once
it is stored, so events reach the rules (and doors their alerts) in the order
the feed sent them.

Full queue: the *newest* event is dropped (counted `store_dropped`, logged).
The queued events are a contiguous run of the feed whose head the rules have
already acted on (its alerts are decided, only their commit is pending);
dropping from the head would lose decided alerts and leave a hole in the
middle of the run, while dropping the newest keeps everything before the drop
complete and in order. The queue lives in memory: a stop keeps it for the
next start, a reload or process exit loses it (logged with the count).
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from edge_agent.backoff import FullJitterBackoff
from edge_agent.events import DoorEvent
from edge_agent.sources.access.base import AccessAdapter, Outcome

log = logging.getLogger(__name__)

QUEUE_LIMIT = 1000  # events; a few hundred bytes each
RETRY_MIN_DELAY_S = 0.5
RETRY_MAX_DELAY_S = 10.0


class StoreRetryQueue:
    """submit(event) in the feed's order; start()/stop() the retry thread; `depth` for telemetry."""

    def __init__(self, adapter: AccessAdapter, limit: int = QUEUE_LIMIT, backoff: FullJitterBackoff | None = None):
        self._adapter = adapter
        self._limit = limit
        self._backoff = backoff or FullJitterBackoff(RETRY_MIN_DELAY_S, RETRY_MAX_DELAY_S)
        self._lock = threading.Lock()
        self._queue: deque[DoorEvent] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def depth(self) -> int:
        with self._lock:
            return len(self._queue)

    def submit(self, event: DoorEvent) -> None:
        """Straight to the consumer when nothing waits; behind the waiting events otherwise."""
        with self._lock:
            waiting = bool(self._queue)
        if waiting or self._adapter.emit(event) is Outcome.retry:
            self._enqueue(event)

    def _enqueue(self, event: DoorEvent) -> None:
        with self._lock:
            if len(self._queue) >= self._limit:
                dropped = True
            else:
                dropped = False
                self._queue.append(event)
        if dropped:
            self._adapter.count("store_dropped")
            log.warning(
                "adapter %s: a %s event for door %s was dropped: %d events already wait for the store",
                self._adapter.id,
                event.type,
                event.door,
                self._limit,
                extra={"adapter": self._adapter.id},
            )
            return
        self._adapter.count("store_queued")
        self._ensure_thread()
        self._wake.set()

    def start(self) -> None:
        self._stopping.clear()
        if self.depth:
            self._ensure_thread()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        waiting = self.depth
        if waiting:
            log.warning(
                "adapter %s stopped with %d event(s) not yet stored: kept for its next start, lost if it is replaced",
                self._adapter.id,
                waiting,
                extra={"adapter": self._adapter.id},
            )

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._stopping.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name=f"store-retry-{self._adapter.id}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        """The head again after a back-off while the store fails; the rest without waiting once it works."""
        failed = True  # the head already failed once before it was queued
        while not self._stopping.is_set():
            with self._lock:
                head = self._queue[0] if self._queue else None
            if head is None:
                self._backoff.reset()
                self._wake.clear()
                if self.depth == 0:  # nothing slipped in between: sleep until the next failure
                    self._wake.wait()
                failed = True
                continue
            if failed and self._stopping.wait(self._backoff.next_delay()):
                return
            self._adapter.count("store_retries")
            failed = self._adapter.emit(head) is Outcome.retry
            if failed:
                continue
            with self._lock:
                self._queue.popleft()  # stored (or the consumer failed for good): the next one may go
            self._backoff.reset()
