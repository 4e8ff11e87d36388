"""When an action may run: its schedule (site time), its cooldown and its rate limit.

Checked by the thread that offers the alert, so they are cheap and hold a lock only for a few
comparisons. A refused or dropped trigger is not counted against the limits; an admitted one is.
"""

from __future__ import annotations

import threading
from collections import deque

from edge_agent.config.actions import RateLimit
from edge_agent.config.schedule import TimeRange
from edge_agent.rules.schedule import ArmingSchedule


class ActionLimits:
    def __init__(self, schedule: list[TimeRange], timezone: str, cooldown: float, rate_limit: RateLimit):
        self._schedule = ArmingSchedule(schedule, timezone)
        self._cooldown = cooldown
        self._rate = rate_limit
        self._admitted: deque[float] = deque()  # monotonic times of admitted runs within the rate window
        self._last: float | None = None  # monotonic time of the last admitted trigger
        self._before_last: float | None = None
        self._lock = threading.Lock()

    def armed(self, wall: float) -> bool:
        with self._lock:  # the schedule caches per minute; offers come from several threads
            return self._schedule.armed(wall)

    def admit(self, now: float, cooldown: bool = True) -> str | None:
        """None when a run may start now (and counts it); else the refusal: `cooldown` or `rate_limited`.

        `cooldown=False` (a remote run, asked for by a person) checks only the rate limit."""
        with self._lock:
            while self._admitted and now - self._admitted[0] >= self._rate.per:
                self._admitted.popleft()
            if cooldown and self._last is not None and now - self._last < self._cooldown:
                return "cooldown"
            if len(self._admitted) >= self._rate.count:
                return "rate_limited"
            self._admitted.append(now)
            if cooldown:
                self._last, self._before_last = now, self._last
            return None

    def withdraw(self, now: float) -> None:
        """The run admitted at `now` did not happen after all (its queue was full): it counts for nothing."""
        with self._lock:
            if now in self._admitted:
                self._admitted.remove(now)
            if self._last == now:
                self._last = self._before_last
