"""Zone occupancy samples per counts interval, on a wall-clock grid of `counts.sample_every` slots.

A slot is [k·step, (k+1)·step) of the UTC epoch and holds one sample, which belongs to the interval the slot starts
in; a fully watched interval therefore has exactly interval / sample_every samples, however the sampling thread's
ticks drift. A tick samples every slot not sampled yet, through the one holding now, with the occupancy of now (the
rule engine's last processed frame, which a sample taken during the gap would have read too): a late tick or a
reload's hand-over, up to FILL_LIMIT seconds, loses no slot. Slots before the samples began (the agent was down) are
never filled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

FILL_LIMIT = 10.0  # seconds: a longer gap in sampling is a gap in the samples


@dataclass
class Occupancy:
    """One zone's samples in one interval."""

    start_ms: int
    end_ms: int
    current: int = 0
    peak: int = 0
    total: int = 0
    samples: int = 0

    def add(self, count: int) -> None:
        self.current = count
        self.peak = max(self.peak, count)
        self.total += count
        self.samples += 1


class OccupancySamples:
    """The running interval's samples and those of finished, unreported intervals, per `camera/zone` key."""

    def __init__(self, interval: float, sample_every: float, since: float):
        self.interval_ms = round(interval * 1000)
        self.step_ms = max(1, round(sample_every * 1000))
        self.running: dict[str, Occupancy] = {}  # key → the interval being sampled
        self.finished: dict[tuple[int, int], dict[str, Occupancy]] = {}  # (start_ms, end_ms) → key → samples
        self.next_slot_ms = self._slot_of(math.floor(since * 1000)) + self.step_ms  # the first slot not sampled

    def _slot_of(self, ms: int) -> int:
        return ms // self.step_ms * self.step_ms

    def add(self, now: float, counts: Mapping[str, int]) -> int:
        """Sample every unsampled slot through the one holding `now` with `counts` ({key: objects}); returns how many
        slots were sampled."""
        now_ms = math.floor(now * 1000)
        limit_ms = round(FILL_LIMIT * 1000)
        if self.next_slot_ms - now_ms > limit_ms:  # the clock was set back: sample on from now
            self.next_slot_ms = self._slot_of(now_ms)
        first = max(self.next_slot_ms, self._slot_of(now_ms - limit_ms) + self.step_ms)
        slots = range(self._slot_of(first - 1) + self.step_ms, now_ms + 1, self.step_ms)
        for slot in slots:
            for key, count in counts.items():
                self._occupancy_at(key, slot).add(count)
        self.next_slot_ms = max(self.next_slot_ms, self._slot_of(now_ms) + self.step_ms)
        return len(slots)

    def _occupancy_at(self, key: str, slot_ms: int) -> Occupancy:
        start = slot_ms // self.interval_ms * self.interval_ms
        current = self.running.get(key)
        if current is None or current.start_ms != start:
            if current is not None:
                self.finished.setdefault((current.start_ms, current.end_ms), {})[key] = current
            current = self.running[key] = Occupancy(start, start + self.interval_ms)
        return current

    def take(self, interval: tuple[int, int]) -> dict[str, Occupancy]:
        """The finished samples of `interval` (start_ms, end_ms), forgotten here (they are being reported)."""
        return self.finished.pop(interval, {})

    def forget_until(self, end_ms: int) -> None:
        """Drop finished intervals that ended by `end_ms` (reported already)."""
        for stale in [interval for interval in self.finished if interval[1] <= end_ms]:
            del self.finished[stale]

    def take_over(self, predecessor: OccupancySamples, running_keys: set[str]) -> None:
        """A reload: the predecessor's finished samples, the running samples of `running_keys` (zones whose shape
        and counted classes did not change) and its next slot, so the gap of the hand-over is filled."""
        for interval, zones in predecessor.finished.items():
            self.finished.setdefault(interval, {}).update(zones)
        self.running.update({key: o for key, o in predecessor.running.items() if key in running_keys})
        self.next_slot_ms = self._slot_of(predecessor.next_slot_ms - 1) + self.step_ms

    def stored(self) -> dict[str, dict]:
        """Every sample kept, as state store facts ({"start_ms|key": fields}), for the next ledger after a stop."""
        pending = [*self.running.items()] + [(k, o) for done in self.finished.values() for k, o in done.items()]
        return {f"{occupancy.start_ms}|{key}": asdict(occupancy) for key, occupancy in pending}

    def restore(self, saved: Mapping[str, dict], now: float) -> None:
        """What `stored` gave, after a restart at `now`: the running interval's samples carry on."""
        start = math.floor(now * 1000) // self.interval_ms * self.interval_ms
        for stored_key, value in saved.items():
            key = stored_key.partition("|")[2]
            occupancy = Occupancy(**value)
            if (occupancy.start_ms, occupancy.end_ms) == (start, start + self.interval_ms):
                self.running[key] = occupancy
            else:
                self.finished.setdefault((occupancy.start_ms, occupancy.end_ms), {})[key] = occupancy
