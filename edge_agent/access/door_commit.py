"""A door event is stored only when the alerts the rules raise for it are committed.

The door rules and the tailgating fusion write to a `StagedSink`: while one
event is being handled on a thread, the alerts it raises are held and then
committed by `EventCommitter`, outside the rules. A commit that fails (outbox
locked by another process past its busy timeout, disk full, I/O error) raises
`StoreUnavailable` to the adapter, which answers 503 or queues the event.

The rules have already acted on the event by then (a door closed, a denial
counted), so running them again on the resend would miss or repeat alerts.
The decided alerts are kept instead, by event identity, and the resend commits
exactly those: the outbox stores an event_id once, so a commit that partly
went through before failing is completed, never duplicated.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from edge_agent.events import Alert, AlertSink, DoorEvent
from edge_agent.sources.access.base import StoreUnavailable, event_identity

log = logging.getLogger(__name__)

UNCOMMITTED_LIMIT = 1024  # events whose alerts wait for a resend; beyond it the oldest are forgotten


class StagedSink:
    """An AlertSink: inside `staging()` a thread's alerts are held for it; any other emit goes straight on."""

    def __init__(self, sink: AlertSink):
        self.sink = sink
        self._local = threading.local()

    def emit(self, alert: Alert) -> None:
        held = getattr(self._local, "alerts", None)
        if held is None:
            self.sink.emit(alert)
        else:
            held.append(alert)

    @contextmanager
    def staging(self) -> Iterator[list[Alert]]:
        self._local.alerts = held = []
        try:
            yield held
        finally:
            self._local.alerts = None


class EventCommitter:
    """on_event(event): decide its alerts (once per event), commit them, raise StoreUnavailable if that fails."""

    def __init__(self, staged: StagedSink, decide: Callable[[DoorEvent], None], limit: int = UNCOMMITTED_LIMIT):
        self._staged = staged
        self._decide = decide
        self._limit = limit
        self._lock = threading.Lock()
        self._uncommitted: OrderedDict[tuple, list[Alert]] = OrderedDict()
        self.commit_failures = 0
        self.forgotten = 0  # decided alerts dropped because too many events waited for a resend

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._uncommitted)

    def on_event(self, event: DoorEvent) -> None:
        identity = event_identity(event)
        with self._lock:
            alerts = self._uncommitted.pop(identity, None)
        rule_error = None
        if alerts is None:  # first time: the rules decide; a resend commits what they decided then
            with self._staged.staging() as alerts:
                try:
                    self._decide(event)
                except Exception as error:  # a rule bug: still commit what was decided, then report it
                    rule_error = error
        try:
            for alert in alerts:
                self._staged.sink.emit(alert)
        except Exception as error:
            self._keep(identity, alerts)
            raise StoreUnavailable(f"{type(error).__name__}: {error}") from error
        if rule_error is not None:
            raise rule_error

    def _keep(self, identity: tuple, alerts: list[Alert]) -> None:
        with self._lock:
            self.commit_failures += 1
            self._uncommitted[identity] = alerts
            self._uncommitted.move_to_end(identity)
            while len(self._uncommitted) > self._limit:
                _, lost = self._uncommitted.popitem(last=False)
                self.forgotten += len(lost)
                log.warning(
                    "%d door events wait for their alerts to be stored: forgot %d alert(s) of the oldest",
                    self._limit,
                    len(lost),
                )
