"""Arming schedules: daily windows in the site's time zone.

A window belongs to the day it starts on; one whose end is before its start
runs past midnight into the next day (fri 22:00-06:00 covers Saturday
morning). Start is inclusive, end exclusive. Results are cached per minute,
because every offset a time zone uses is a whole number of minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from edge_agent.config.schedule import TimeRange

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class ArmingSchedule:
    """`armed(wall_time)`; an empty schedule is always armed."""

    def __init__(self, ranges: Sequence[TimeRange], timezone: str = "UTC"):
        self._zone = ZoneInfo(timezone)
        self._windows = [
            (frozenset(_DAYS.index(day) for day in r.days), _minutes(r.start), _minutes(r.end)) for r in ranges
        ]
        self._cache_minute: int | None = None
        self._cache_value = True

    def armed(self, wall_time: float) -> bool:
        if not self._windows:
            return True
        minute = int(wall_time // 60)
        if minute != self._cache_minute:
            self._cache_minute = minute
            self._cache_value = self._armed_at(wall_time)
        return self._cache_value

    def _armed_at(self, wall_time: float) -> bool:
        local = datetime.fromtimestamp(wall_time, self._zone)
        today = local.weekday()
        yesterday = (today - 1) % 7
        now = local.hour * 60 + local.minute
        for days, start, end in self._windows:
            if start < end:
                if today in days and start <= now < end:
                    return True
            else:  # runs past midnight
                if today in days and now >= start:
                    return True
                if yesterday in days and now < end:
                    return True
        return False
