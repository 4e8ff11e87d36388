"""The publisher's rows between the outbox and the broker: claimed, handed to paho, answered, recorded.

Rows are claimed from the outbox a few windows ahead (`ready`), handed to paho while
the window has room (`window`: paho mid -> outbox seq), and answered by PUBACKs that
are recorded in the outbox in batches, one transaction each. Everything here runs on
the publisher thread, except `rows_waiting`, which the outbox listener sets from any
thread (a plain attribute write).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from edge_agent.backoff import FullJitterBackoff
from edge_agent.clock import Clock
from edge_agent.publish.publisher_state import SessionState
from edge_agent.store import Outbox, OutboxRow

PREFETCH_WINDOWS = 4  # rows claimed ahead of the paho window, in windows (bounded, in memory)


class InflightRows:
    def __init__(self, outbox: Outbox, state: SessionState, clock: Clock, backoff: FullJitterBackoff):
        self._outbox = outbox
        self._state = state
        self._clock = clock
        self._backoff = backoff  # the publisher's: a refusal pauses feeding like a failed connect
        self.window: dict[int, int] = {}  # paho mid -> outbox seq
        self._worth_retrying: set[int] = set()  # mids of alarm and event rows (not telemetry)
        self._acked: list[int] = []
        self._refused: list[int] = []
        self._ready: deque[OutboxRow] = deque()  # claimed, not yet handed to paho
        self.rows_waiting = True
        self._feed_paused_until = 0.0

    @property
    def has_refusals(self) -> bool:
        return bool(self._refused)

    def feed(self, send: Callable[[OutboxRow], int]) -> None:
        """Keep the paho window full from a small claimed batch; one outbox commit per batch.

        Rows are claimed (and PUBACKs recorded) PREFETCH_WINDOWS windows at a
        time, so SQLite costs one transaction per few dozen messages while every
        PUBACK immediately frees a slot for the next row. `send` hands a row to
        paho and returns its mid.
        """
        if self._clock.monotonic() < self._feed_paused_until:
            return
        window = self._state.window_size
        if self.rows_waiting and len(self._ready) <= window:
            acked, self._acked = self._acked, []
            want = window * PREFETCH_WINDOWS - len(self._ready)
            self.rows_waiting = False  # before claiming, so a concurrent enqueue's wake-up is not lost
            rows = self._outbox.claim(want, delivered=acked)
            self._state.delivered += len(acked)
            self.rows_waiting = len(rows) == want
            self._ready.extend(rows)
        elif len(self._acked) >= window or (self._acked and not self._ready):
            self.settle()
        while self._ready and len(self.window) < window:
            row = self._ready.popleft()
            mid = send(row)
            self.window[mid] = row.seq
            if row.cls != "telemetry":
                self._worth_retrying.add(mid)
            self._state.published += 1
            self._state.peak_inflight = max(self._state.peak_inflight, len(self.window))

    def answer(self, mid: int, refused: bool, unrouted: bool = False) -> bool:
        """A PUBACK for `mid`; False when `mid` is not one of our rows (a status or command reply).

        `unrouted`: the broker had no subscriber for it and the config retries those; an alarm or an
        event is then taken back like a refusal, telemetry is taken as delivered."""
        seq = self.window.pop(mid, None)
        retry = mid in self._worth_retrying
        self._worth_retrying.discard(mid)
        if seq is None:
            return False
        if unrouted and retry:
            self._state.unrouted += 1
            if self._state.first_unrouted_at is None:  # the health signal: nobody has received alerts since then
                self._state.first_unrouted_at = self._clock.wall()
            refused = True
        elif retry and not refused:
            self._state.first_unrouted_at = None
        (self._refused if refused else self._acked).append(seq)
        return True

    def settle(self) -> None:
        """Record PUBACKs (and refusals) in the outbox, one transaction for all that arrived."""
        if self._acked:
            acked, self._acked = self._acked, []
            self._outbox.mark_delivered(acked)
            self._state.delivered += len(acked)
        if self._refused:
            refused, self._refused = self._refused, []
            self._outbox.release(refused)
            self._state.refused += len(refused)
            self._feed_paused_until = self._clock.monotonic() + self._backoff.next_delay()

    def forget_session(self) -> None:
        """The connection ended: what paho held or we had claimed is still in flight in the outbox (requeued)."""
        self.window.clear()
        self._worth_retrying.clear()
        self._ready.clear()
