"""Door rules: forced and held doors, denial bursts and rising denials, off-schedule access, alarms, reader health,
welfare.

`DoorRules.on_event` takes every normalized door event (from any adapter
thread); `tick()` runs periodically for what depends on time passing (a door
held open, a resident not seen). Durations use the monotonic clock; alert
times are our wall clock at arrival, the controller's own stamp is kept in
`details.extra.device_time`. The welfare watches themselves (what they
count, their alert) are in rules/welfare.py; denials rising against a door's own rate
(door.denied_rising) in rules/denials.py.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from edge_agent.clock import Clock, iso_utc
from edge_agent.config.access import AccessConfig, DoorConfig
from edge_agent.credentials import CredentialTokenizer
from edge_agent.events import Alert, AlertDetails, AlertFactory, AlertSink, DoorEvent, Severity
from edge_agent.rules.denials import DenialRising
from edge_agent.rules.forced import ForcedInference
from edge_agent.rules.schedule import ArmingSchedule
from edge_agent.rules.welfare import carry_welfare, welfare_alert, welfare_states

log = logging.getLogger(__name__)

PASS_THROUGH = {
    "duress": Severity.critical,
    "tamper": Severity.critical,
    "door.forced": Severity.major,
    "power.fault": Severity.minor,
}
HELD_OPEN_SEVERITY = Severity.minor
OFF_SCHEDULE_SEVERITY = Severity.minor
READER_OFFLINE_SEVERITY = Severity.major
# Types that keep no door state: forwarded, passed through as alarms or only seen by welfare.
STATELESS_EVENTS = frozenset(
    {"credential.read", "exit_request", "keypad", "tamper", "tamper.cleared", "duress", "power.fault", "power.restored"}
    | {"door.released"}  # seen only by the forced inference, as covering an opening
)
INFERRED_FORCED_REASON = "opened_without_grant"
_UNKNOWN_DOORS_NAMED = 32  # doors named in the log; beyond that only counted, so a noisy feed cannot flood it


def details_for(event: DoorEvent, **facts) -> AlertDetails:
    extra = {"adapter": event.adapter, **({"codes": event.raw} if event.raw else {})}
    if event.device_time is not None:
        extra["device_time"] = iso_utc(event.device_time)
    return AlertDetails(
        door=event.door,
        reader=event.reader,
        direction=event.direction,
        credential_token=event.credential_token,
        reason=event.reason,
        extra=extra,
        **facts,
    )


@dataclass
class OpenDoor:
    opened_mono: float
    opened_wall: float
    alert_id: str | None = None


@dataclass
class OfflineReader:
    since_mono: float
    since_wall: float
    alert_id: str
    door: str | None = None  # the door it reads for, when the event named one (the console's door states)


@dataclass
class DenialWindow:
    times: deque = field(default_factory=deque)


class DoorRules:
    def __init__(
        self,
        access_cfg: AccessConfig,
        alert_factory: AlertFactory,
        sink: AlertSink,
        clock: Clock,
        timezone: str = "UTC",
        tokenizer: CredentialTokenizer | None = None,
    ):
        self.config = access_cfg
        self.factory = alert_factory
        self.sink = sink
        self.clock = clock
        self.doors: dict[str, DoorConfig] = {door.id: door for door in access_cfg.doors}
        self._schedules = {door.id: ArmingSchedule(door.allowed, timezone) for door in access_cfg.doors if door.allowed}
        self._forward = frozenset(access_cfg.forward_events)
        self._lock = threading.RLock()
        self._open: dict[str, OpenDoor] = {}
        self._offline: dict[tuple[str, str], OfflineReader] = {}
        self._denials: dict[tuple[str, str], DenialWindow] = {}
        self._welfare = welfare_states(access_cfg, timezone, tokenizer, clock)
        self.forced = ForcedInference(self.doors, clock)
        self.denied_rising = DenialRising(
            access_cfg.denied_rising, self.doors, alert_factory, self._emit_alert, clock, timezone
        )
        self.unknown_doors = 0  # events for a door not in access.doors; telemetry system.agent
        self._unknown_door_ids: set[str] = set()
        self.unknown_types = 0
        self._handlers = {
            "door.opened": self._on_door_opened,
            "door.forced": self._on_door_opened,  # a forced door stands open: held-open timing starts too
            "door.closed": self._on_door_closed,
            "door.held_open": self._on_door_held_open,
            "access.denied": self._on_access_denied,
            "access.granted": self._on_access_granted,
            "reader.offline": self._on_reader_offline,
            "reader.online": self._on_reader_online,
        }

    # -- events ---------------------------------------------------------------

    def on_event(self, event: DoorEvent) -> None:
        with self._lock:
            if event.door not in self.doors:
                self._unknown_door(event)  # still handled: alarms from an unconfigured door matter
            for state in self._welfare:
                if state.sees(event):
                    state.silence_s, state.alerted = 0.0, False
            if event.type in self._forward:
                self._emit(event.type, Severity.info, event, details_for(event))
            new_opening = event.type == "door.opened" and event.door not in self._open
            pass_through = self.forced.observe(event, new_opening)
            handler = self._handlers.get(event.type)
            if handler is not None:
                handler(event)
            elif event.type not in STATELESS_EVENTS:
                self.unknown_types += 1  # a type added to DOOR_EVENT_TYPES without a decision here
                log.warning(
                    "door rules have no handling for event type %r (door %s, adapter %s)",
                    event.type,
                    event.door,
                    event.adapter,
                )
            if event.type in PASS_THROUGH and pass_through:
                self._emit(event.type, PASS_THROUGH[event.type], event, details_for(event))

    def _unknown_door(self, event: DoorEvent) -> None:
        self.unknown_doors += 1
        if event.door not in self._unknown_door_ids and len(self._unknown_door_ids) < _UNKNOWN_DOORS_NAMED:
            self._unknown_door_ids.add(event.door)
            log.warning(
                "door event for %r from adapter %s: that door is not in access.doors (handled with no "
                "held-open limit or schedule)",
                event.door,
                event.adapter,
            )

    def _on_door_opened(self, event: DoorEvent) -> None:
        self._open.setdefault(event.door, OpenDoor(self.clock.monotonic(), event.edge_time))

    def _on_door_closed(self, event: DoorEvent) -> None:
        door = self._open.pop(event.door, None)
        if door is None or door.alert_id is None:
            return
        duration = max(0.0, self.clock.monotonic() - door.opened_mono)
        self._emit(
            "door.held_open",
            HELD_OPEN_SEVERITY,
            event,
            details_for(event, duration_s=round(duration, 1)),
            phase="end",
            started_at=door.opened_wall,
            ended_at=event.edge_time,
            related=door.alert_id,
        )

    def _on_door_held_open(self, event: DoorEvent) -> None:
        """The controller's own held-open alarm: one start alert, ended by door.closed."""
        door = self._open.setdefault(event.door, OpenDoor(self.clock.monotonic(), event.edge_time))
        if door.alert_id is None:
            door.alert_id = self._emit(
                "door.held_open",
                HELD_OPEN_SEVERITY,
                event,
                details_for(event),
                phase="start",
                started_at=door.opened_wall,
            )

    def _on_access_denied(self, event: DoorEvent) -> None:
        self.denied_rising.observe(event)  # first: its warning is meant to come before the burst
        burst = self.config.denials
        key = (event.adapter, event.reader or event.door)
        window = self._denials.setdefault(key, DenialWindow())
        now = self.clock.monotonic()
        window.times.append(now)
        while window.times and now - window.times[0] > burst.window:
            window.times.popleft()
        if len(window.times) >= burst.count:
            count = len(window.times)
            window.times.clear()
            self._emit(
                "access.denied_burst",
                burst.severity,
                event,
                details_for(event, count=count, message=f"{count} denials within {burst.window:g} s"),
            )

    def _on_access_granted(self, event: DoorEvent) -> None:
        schedule = self._schedules.get(event.door)
        if schedule is not None and not schedule.armed(event.edge_time):
            self._emit(
                "access.off_schedule",
                OFF_SCHEDULE_SEVERITY,
                event,
                details_for(event, message="access granted outside the door's allowed hours"),
            )

    def _on_reader_offline(self, event: DoorEvent) -> None:
        key = (event.adapter, event.reader or event.door)
        if key in self._offline:
            return
        alert_id = self._emit("reader.offline", READER_OFFLINE_SEVERITY, event, details_for(event), phase="start")
        self._offline[key] = OfflineReader(self.clock.monotonic(), event.edge_time, alert_id, event.door)

    def _on_reader_online(self, event: DoorEvent) -> None:
        offline = self._offline.pop((event.adapter, event.reader or event.door), None)
        if offline is None:
            return
        duration = max(0.0, self.clock.monotonic() - offline.since_mono)
        self._emit(
            "reader.offline",
            READER_OFFLINE_SEVERITY,
            event,
            details_for(event, duration_s=round(duration, 1)),
            phase="end",
            started_at=offline.since_wall,
            ended_at=event.edge_time,
            related=offline.alert_id,
        )

    # -- time ---------------------------------------------------------------------

    def tick(self) -> None:
        with self._lock:
            now, wall = self.clock.monotonic(), self.clock.wall()
            for opening in self.forced.due():
                self._inferred_forced(opening)
            for door_id, door in self._open.items():
                limit = self.doors[door_id].held_open_after if door_id in self.doors else None
                if door.alert_id is None and limit is not None and now - door.opened_mono >= limit:
                    details = AlertDetails(
                        door=door_id,
                        duration_s=round(now - door.opened_mono, 1),
                        message=f"open longer than {limit:g} s",
                    )
                    door.alert_id = self._emit_plain(
                        "door.held_open",
                        HELD_OPEN_SEVERITY,
                        door_id,
                        details,
                        phase="start",
                        started_at=door.opened_wall,
                    )
            for state in self._welfare:
                state.advance(now, wall)
                if not state.alerted and state.silence_s >= state.watch.max_silence_hours * 3600:
                    state.alerted = True
                    self.sink.emit(welfare_alert(state, self.factory))
            self.denied_rising.tick()

    def _inferred_forced(self, opening: DoorEvent) -> None:
        door = self.doors[opening.door]
        details = details_for(
            opening,
            message=f"door opened with no grant, read, exit request or release within {door.forced_window:g} s "
            "before it (inferred from the door contact)",
        )
        details.reason = INFERRED_FORCED_REASON  # a door.opened carries no reason of its own
        details.extra["inferred"] = True
        self._emit("door.forced", PASS_THROUGH["door.forced"], opening, details)

    # -- reloads ----------------------------------------------------------------

    def adopt(self, old: DoorRules) -> None:
        """Carry `old`'s state over a reload: open doors and held-open episodes of doors still configured the
        same, offline readers, denial windows and histories, and the silence of welfare watches that did not change.
        Episodes of what is dropped stay open in `old`; the daemon ends them (`config_changed`)."""
        with self._lock, old._lock:
            for door_id, door in old._open.items():
                if door_id not in old.doors or old.doors[door_id] == self.doors.get(door_id):
                    self._open[door_id] = door
            self._offline.update(old._offline)
            self._denials.update(old._denials)
            carry_welfare(self._welfare, old._welfare)
            self.denied_rising.adopt(old.denied_rising)
            self.unknown_doors, self.unknown_types = old.unknown_doors, old.unknown_types

    def open_episode_ids(self) -> set[str]:
        with self._lock:
            held = {door.alert_id for door in self._open.values() if door.alert_id}
            offline = {reader.alert_id for reader in self._offline.values()}
            return held | offline | self.denied_rising.open_episode_ids()

    def door_states(self) -> dict[str, dict]:
        """Per configured door: open (since, held open) or closed as last reported, and its offline readers."""
        with self._lock:
            offline: dict[str, list[str]] = {}
            for (_, reader), state in self._offline.items():
                offline.setdefault(state.door or "", []).append(reader)
            return {
                door_id: {
                    "open": door_id in self._open,
                    "open_since": iso_utc(self._open[door_id].opened_wall) if door_id in self._open else None,
                    "held_open": bool(door_id in self._open and self._open[door_id].alert_id),
                    "offline_readers": sorted(offline.get(door_id, [])),
                }
                for door_id in self.doors
            }

    def welfare_silence(self) -> dict[str, float]:
        """{watch name: seconds of silence counted}, for the state store (survives restarts)."""
        with self._lock:
            return {state.watch.name: state.silence_s for state in self._welfare}

    def restore_welfare_silence(self, silence: dict[str, float]) -> None:
        """After a restart: the silence counted before it carries on (the downtime is not counted)."""
        with self._lock:
            for state in self._welfare:
                if state.watch.name in silence:
                    state.silence_s = max(state.silence_s, float(silence[state.watch.name]))

    # -- emission ---------------------------------------------------------------

    def _emit_alert(self, alert: Alert) -> None:
        self.sink.emit(alert)  # looked up on each alert: a test may swap the sink

    def _emit(
        self,
        alert_type: str,
        severity: Severity,
        event: DoorEvent,
        details: AlertDetails,
        *,
        phase: str = "instant",
        started_at: float | None = None,
        ended_at: float | None = None,
        related: str | None = None,
    ) -> str:
        alert = self.factory.make(
            alert_type,
            severity,
            ("door", event.door),
            phase=phase,
            details=details,
            started_at=event.edge_time if started_at is None else started_at,
            ended_at=ended_at,
            related_event_id=related,
        )
        self.sink.emit(alert)
        return alert.event_id

    def _emit_plain(
        self, alert_type: str, severity: Severity, door: str, details: AlertDetails, *, phase: str, started_at: float
    ) -> str:
        alert = self.factory.make(
            alert_type, severity, ("door", door), phase=phase, details=details, started_at=started_at
        )
        self.sink.emit(alert)
        return alert.event_id
