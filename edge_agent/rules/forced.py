"""door.forced inferred from a door contact, for feeds that report contacts but never "forced" themselves.

A `door.opened` at a door is covered when something let someone through
around it: a grant, a credential read or keypad entry (the panel that
decides may report nothing else), an exit request or a release, occurring
at most `forced_window` s before the opening or `forced_grace` s after it
(a panel may post its grant a moment after our contact input changes). An
opening is judged `forced_grace` s after it arrived, on the tick; one that
nothing covers is returned by `due()` for DoorRules to raise `door.forced`.
A cover is not used up by an opening (the strike stays released for the
controller's unlock time; people hesitate, close and open again): counting
people per grant is the tailgating rule's job.

Controllers that judge "forced" themselves must not get two alerts for one
opening, whichever arrives first. We wait the grace before inferring rather
than raise at once and retract later: an alert that has gone out cannot be
taken back, a grace of two seconds delays a forced-door alarm very little,
and controllers report their own door.forced at the moment of the opening.
So a controller's door.forced within the grace replaces the pending
inference; one arriving later still (a lagging feed) is folded into the
inferred alert already raised and not passed through again.

Times are when events occurred (controller stamp + the door's clock_offset,
else arrival), as for tailgating, so a batch a controller posts after an
outage is judged on its own timeline; the wait for late grants runs on our
monotonic clock. Only configured doors are watched: which feed covers an
unknown door is unknown, and a noisy feed must not grow our state.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

from edge_agent.clock import Clock
from edge_agent.config.access import DoorConfig
from edge_agent.events import DoorEvent

log = logging.getLogger(__name__)

# Events after which the door may rightly open. A credential read counts: on a reader that
# only reports reads the grant is decided (and not reported) elsewhere; without it every
# legitimate entry would be an alarm. A denial does not count.
COVERING_EVENTS = frozenset({"access.granted", "credential.read", "keypad", "exit_request", "door.released"})
_REMEMBERED = 16  # per door, covers and openings awaiting judgement: plenty for one door within a few seconds


@dataclass
class Opening:
    event: DoorEvent
    at: float  # occurred time
    judge_mono: float


@dataclass
class DoorWatch:
    door: DoorConfig
    covers: deque = field(default_factory=lambda: deque(maxlen=_REMEMBERED))  # occurred times
    pending: deque = field(default_factory=lambda: deque(maxlen=_REMEMBERED))  # Openings, oldest first
    inferred_at: float | None = None  # occurred time of the last opening raised as inferred


class ForcedInference:
    def __init__(self, doors: dict[str, DoorConfig], clock: Clock):
        self._clock = clock
        self._watches = {door_id: DoorWatch(door) for door_id, door in doors.items() if door.infer_forced}
        self.inferred = 0
        self.merged = 0  # controller door.forced that replaced a pending inference or was folded into a raised one

    def observe(self, event: DoorEvent, new_opening: bool) -> bool:
        """Note a door event; False when it is a controller's door.forced already raised as an inferred one."""
        watch = self._watches.get(event.door)
        if watch is None:
            return True
        at = event.occurred_at(watch.door.clock_offset)
        if event.type in COVERING_EVENTS:
            watch.covers.append(at)
        elif event.type == "door.opened" and new_opening:
            watch.pending.append(Opening(event, at, self._clock.monotonic() + watch.door.forced_grace))
        elif event.type == "door.forced":
            return self._controller_forced(watch, at)
        return True

    def _controller_forced(self, watch: DoorWatch, at: float) -> bool:
        window = watch.door.forced_window
        for opening in watch.pending:
            if abs(at - opening.at) <= window:
                watch.pending.remove(opening)  # the controller judged this opening: its alert is the one
                self.merged += 1
                return True
        if watch.inferred_at is not None and abs(at - watch.inferred_at) <= window:
            watch.inferred_at = None
            self.merged += 1
            log.info(
                "door %s: the controller's door.forced arrived after the inferred one; not raised twice", watch.door.id
            )
            return False
        return True

    def due(self) -> list[DoorEvent]:
        """Openings whose grace has passed with nothing covering them: each is a forced door."""
        now = self._clock.monotonic()
        forced = []
        for watch in self._watches.values():
            while watch.pending and watch.pending[0].judge_mono <= now:
                opening = watch.pending.popleft()
                earliest, latest = opening.at - watch.door.forced_window, opening.at + watch.door.forced_grace
                if not any(earliest <= at <= latest for at in watch.covers):
                    watch.inferred_at = opening.at
                    self.inferred += 1
                    forced.append(opening.event)
        return forced
