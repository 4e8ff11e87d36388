"""Every start alert gets exactly one end alert, across reloads, restarts, SIGKILL and power cuts.

`EpisodeSink` stands between the producers (rules, door rules, health) and the outbox and
keeps a ledger of open episodes in the state store, in an order that a crash at any point
cannot break:

- start: ledger row (unconfirmed) → outbox commit → ledger row confirmed;
- end:   the end alert written into its start's ledger row → outbox commit → ledger row deleted.

`recover()` at start-up settles what the previous process left: an unconfirmed start that
never reached the outbox is forgotten (the platform never saw it); an end that was decided
is stored again under its own event id (the outbox ignores an id it already has), and the
row goes; what stays is the confirmed open episodes, which the daemon either continues
(a camera or adapter outage: the reader or adapter ends it when it is back) or ends with
`details.reason` `agent_restarted`.

Before anything, the response hooks (`response`, actions/response_desk.py) may keep back the alert of a
disarmed or snoozed rule (counted there), and a start or instant whose rule escalates gets its timer in the
ledger (`escalations`) in the same step, before the outbox commit.

One listener (`listen`) hears every alert once it is committed: the pipeline's action runner
(actions/runner.py). It is called on the storing thread outside the ledger lock, and must not block.
Ends stored while no pipeline runs (settled at start-up, decided in a restart with a new store)
are kept for the listener that attaches next (`keep_for_listener`), which hears them first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from edge_agent.clock import Clock, SystemClock, iso_utc, parse_utc
from edge_agent.events import Alert, AlertDetails, Severity, new_event_id
from edge_agent.store.response_ledger import ResponseLedger
from edge_agent.store.state_store import OpenEpisode, StateStore

log = logging.getLogger(__name__)


class _Outbox(Protocol):
    def emit(self, alert: Alert) -> None: ...

    def get(self, event_id: str) -> object | None: ...


class ResponseHooks(Protocol):
    """The response to alerts (actions/response_desk.py `ResponseDesk`), asked about each alert before it is stored."""

    def admit(self, alert: Alert) -> bool:
        """False: a disarmed or snoozed rule's alert, kept back (and counted) rather than stored."""

    def escalation(self, alert: Alert) -> tuple[float, list[str]] | None:
        """(due wall time, action names) when `alert` must be answered by then, else None."""


class EpisodeSink:
    """An AlertSink: the ledger protocol around `sink.emit`. Thread-safe."""

    def __init__(self, sink: _Outbox, state: StateStore, clock: Clock | None = None):
        self.sink = sink
        self.state = state
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()  # one ledger step sequence at a time keeps start/end order per episode
        self._listener: Callable[[Alert], None] | None = None
        self._kept: list[Alert] = []
        self.response: ResponseHooks | None = None  # set by the delivery's ResponseDesk
        self.escalations: ResponseLedger | None = None

    def keep_for_listener(self, alerts: Sequence[Alert]) -> None:
        """The next listener to attach hears `alerts` first (none: forget those kept)."""
        self._kept = list(alerts)

    def listen(self, listener: Callable[[Alert], None]) -> None:
        """Hand every alert stored from now on to `listener` (instead of the previous one: a reload swaps runners
        in one step, so no alert reaches two runners or none), after the alerts kept for it."""
        kept, self._kept = self._kept, []
        self._listener = listener
        for alert in kept:
            self._hand(listener, alert)

    def unlisten(self, listener: Callable[[Alert], None]) -> None:
        """Stop handing alerts to `listener`, if it is still the one listening."""
        if self._listener == listener:
            self._listener = None

    def emit(self, alert: Alert) -> None:
        hooks = self.response
        if hooks is not None and not hooks.admit(alert):
            return
        with self._lock:
            if alert.phase == "start":
                self.state.episode_opening(alert, self.clock.wall())
                self._arm_escalation(hooks, alert)
                self.sink.emit(alert)
                self.state.episode_confirmed(alert.event_id)
            elif alert.phase == "end" and alert.related_event_id:
                self.state.episode_ending(alert.related_event_id, alert)
                self.sink.emit(alert)
                self.state.episode_ended(alert.related_event_id)
            else:
                self._arm_escalation(hooks, alert)
                self.sink.emit(alert)
        listener = self._listener  # after the commit, outside the ledger lock
        if listener is not None:
            self._hand(listener, alert)

    def _arm_escalation(self, hooks: ResponseHooks | None, alert: Alert) -> None:
        """The escalation timer goes into the ledger before the outbox commit: a crash in between leaves a timer for
        an alert that was never stored, which the desk drops when it comes due."""
        due = hooks.escalation(alert) if hooks is not None and self.escalations is not None else None
        if due is not None:
            self.escalations.escalation_due(alert, due[0], due[1])

    @staticmethod
    def _hand(listener: Callable[[Alert], None], alert: Alert) -> None:
        try:
            listener(alert)
        except Exception:  # stored is stored: a listener's fault never reaches the rule that raised the alert
            log.exception("the after-store listener failed on alert %s", alert.event_id)

    def recover(self) -> list[OpenEpisode]:
        """Settle what a previous process left; returns the episodes still open (confirmed, no end yet)."""
        still_open = []
        for episode in self.state.open_episodes():
            start_id = episode.start.event_id
            if episode.end is not None:
                self.sink.emit(episode.end)  # the same event id: a no-op if it was stored before the crash
                self.state.episode_ended(start_id)
            elif not episode.confirmed and self.sink.get(start_id) is None:
                self.state.episode_ended(start_id)  # the start never reached the outbox: nothing was promised
            else:
                if not episode.confirmed:
                    self.state.episode_confirmed(start_id)
                still_open.append(episode)
        return still_open

    def end(self, start: Alert, reason: str, ended_at: float) -> Alert:
        """End an open episode on the agent's behalf (`config_changed`, `agent_restarted`); returns the end."""
        end = end_of(start, reason, ended_at, self.clock.wall())
        self.emit(end)
        return end


def end_of(start: Alert, reason: str, ended_at: float, created_at: float) -> Alert:
    """The end alert of `start`: same type, source and rule, linked by related_event_id, `details.reason`."""
    details = AlertDetails(
        object_class=start.details.object_class,
        zone=start.details.zone,
        line=start.details.line,
        door=start.details.door,
        reader=start.details.reader,
        reason=reason,
        message=f"{start.type} ended: {reason.replace('_', ' ')}",
        extra={key: value for key, value in (start.details.extra or {}).items() if key in ("adapter", "adapter_type")}
        or None,
    )
    return start.model_copy(
        update={
            "event_id": new_event_id(),
            "phase": "end",
            "severity": Severity.info,
            "related_event_id": start.event_id,
            "ended_at": iso_utc(max(ended_at, parse_utc(start.started_at))),
            "created_at": iso_utc(created_at),
            "details": details,
        }
    )
