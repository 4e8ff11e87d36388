"""crowd.forecast: warn that a zone is filling before its count reaches `capacity`.

Signal. Every processed frame gives the zone's count: qualifying tracks whose foot is inside,
as every zone rule counts. The counts are averaged into one-second buckets by the frame's
monotonic time, so a replay at any speed sees clip seconds and the detector's frame rate does
not change what a trend is. The last `window` buckets are the history; nothing is judged until
it is full (the warm-up).

Gaps. Frames stop for two reasons. The motion gate skips detection only while nothing moves and
no track is live: the count did not change, so up to `max_gap` seconds are bridged by repeating
the last bucket. A longer gap is an outage (camera, detector); the count before it says nothing
about the count after it, so the history and the warm-up start again.

Fit. Holt's linear trend (double exponential smoothing: a level and a per-second trend) is fitted
to the history afresh each second, started from the window's least-squares line, so the forecast
depends on the last `window` seconds only and needs no run-in. It follows a steady rise without
lag, which a moving average would not. The forecast is `level + trend * horizon`. The smoothing
defaults (alpha 0.1, beta 0.05) are low because people arrive one at a time: on a staircase of
one arrival every 20 s, alpha 0.3 / beta 0.1 swing the one-minute forecast by 4.5 people between
arrivals, the defaults by 1.1.

Sustained rise. A forecast alone is no warning: a trend follows every step and every wobble, and
projected a minute ahead, one person more in ten seconds reads as six more to come. So the
window itself must show a build-up:

1. *A staircase, not a step.* The window is cut into four equal parts; each part's mean must
   exceed the previous part's by at least half its fair share of the overall rise (last part's
   mean minus first part's). A single jump, however large, lifts at most the two steps around
   the part it falls in and leaves at least one level, so a group walking in at once, or a count
   that jumps to a new level and stays, never passes; arrivals spread over the window do.
2. *More than noise.* The overall rise must be at least one whole object, and at least
   `NOISE_FACTOR` times the scatter of the buckets around their least-squares line. A count
   wavering around a flat level lines up four rising parts now and then by chance (one window in
   24 if the parts were independent), but rarely by two and a half times its own scatter.

Persistence. Both tests together still pass on a chance run of noise now and then (without a
hold, bench/bench_forecast.py sees 5 false starts in 20 hours of counts wandering +-1-2 around a
flat level). So the warning condition (a sustained rise, the forecast at or above `capacity`, the
count still below it) must hold `hold` s before the start, lapses shorter than `clear_after`
forgiven, as `crowd` and `occupancy` hold their counts. A build-up persists; a chance run rarely
does. With the defaults the bench sees none in 67 hours of +-1-2 noise; on swings of +-3 held up
to 10 s it sees one in 11 hours, each where the count climbed four or five step by step over a
minute, which no test on one window can tell from a crowd arriving (bench/README.md).

Episodes. Start: the warning condition held `hold` s. Hold: the level or the forecast at or
above capacity (a full zone is the `occupancy` rule's alarm; this warning stays up until the
crowd is forecast to fall below capacity). End: both below capacity for `clear_after` s. The
shared `Lifecycle` gives cooldowns, schedules and the episode ledger as for every rule;
`RuleEngine.adopt` keeps the history across a reload that leaves the rule's config alone.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_agent.clock import iso_utc
from edge_agent.config.rules import FORECAST_SEGMENTS
from edge_agent.events import Track
from edge_agent.rules.episode import FrameContext
from edge_agent.rules.video import ZoneRule

MIN_RISE = 1.0  # objects: a rise over the window smaller than one whole object is counting noise
NOISE_FACTOR = 2.5  # the rise must stand this many times above the buckets' scatter around their trend line
STEP_SHARE = 0.5  # each part's rise must be at least this fraction of its fair share of the overall rise


class OccupancyHistory:
    """The zone count as one-second means: the last `window` of them, gaps bridged or restarting the history."""

    def __init__(self, window: int, max_gap: float):
        self.max_gap = max_gap
        self.values: deque[float] = deque(maxlen=window)
        self._second: int | None = None
        self._last_now = float("-inf")
        self._sum = 0
        self._frames = 0

    @property
    def full(self) -> bool:
        return len(self.values) == self.values.maxlen

    def add(self, now: float, count: int) -> bool:
        """Count one frame; True when it closed the bucket before it (the history moved on)."""
        second = math.floor(now)
        if self._second is not None and second <= self._second:
            self._sum, self._frames, self._last_now = self._sum + count, self._frames + 1, now
            return False
        closed = self._second is not None
        if closed:
            if now - self._last_now > self.max_gap:
                self.values.clear()
            else:
                mean = self._sum / self._frames
                self.values.extend([mean] * (second - self._second))  # the bucket, then any bridged ones
        self._second, self._sum, self._frames, self._last_now = second, count, 1, now
        return closed


def least_squares_line(values: Sequence[float]) -> tuple[float, float, float]:
    """(value at the first bucket, slope per bucket, scatter of the buckets around the line)."""
    series = np.asarray(values, dtype=float)
    steps = np.arange(series.size, dtype=float)
    slope, intercept = np.polyfit(steps, series, 1)
    return float(intercept), float(slope), float(np.std(series - (slope * steps + intercept)))


def holt(values: Sequence[float], alpha: float, beta: float) -> tuple[float, float]:
    """Holt's linear trend over `values`: (level, trend per step) after the last.

    Started from the least-squares line through all of them, the usual start, so the trend needs
    no run-in however small `beta` is; the recursion then weights the recent buckets.
    """
    level, trend, _ = least_squares_line(values)
    remaining = iter(values)
    next(remaining)
    for value in remaining:
        previous = level
        level = alpha * value + (1 - alpha) * (level + trend)
        trend = beta * (level - previous) + (1 - beta) * trend
    return level, trend


def sustained_rise(values: Sequence[float]) -> bool:
    """A build-up through the whole window: rising part by part, and by more than the noise (module doc)."""
    series = np.asarray(values, dtype=float)
    parts = [part.mean() for part in np.array_split(series, FORECAST_SEGMENTS)]
    rise = parts[-1] - parts[0]
    if rise < MIN_RISE:
        return False
    fair_share = rise / (FORECAST_SEGMENTS - 1)
    if any(later - earlier < STEP_SHARE * fair_share for earlier, later in zip(parts, parts[1:])):
        return False
    return rise >= NOISE_FACTOR * least_squares_line(series)[2]


@dataclass(frozen=True, slots=True)
class Outlook:
    """The fit as of the last closed bucket."""

    level: float  # objects now, smoothed
    trend: float  # objects per second
    forecast: float  # objects `horizon` s ahead
    rising: bool  # the history shows a sustained rise

    def seconds_to(self, capacity: int) -> float:
        """Seconds until the fitted trend reaches `capacity` (0 when the level is there already); only while rising."""
        return 0.0 if self.level >= capacity else (capacity - self.level) / self.trend


class CrowdForecastRule(ZoneRule):
    """Raises a start when the zone's count is forecast to reach capacity within `horizon` s (module doc)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.history = OccupancyHistory(self.config.window, self.config.max_gap)
        self.outlook: Outlook | None = None
        self._since: float | None = None  # when the warning condition began to hold
        self._last_met = float("-inf")

    def update(self, ctx: FrameContext, tracks: Sequence[Track]) -> None:
        inside = self.inside(tracks)
        count = len(inside)
        if self.history.add(ctx.now, count):
            self.outlook = self._judge()
        capacity, outlook = self.config.capacity, self.outlook
        full = outlook is not None and max(outlook.level, outlook.forecast) >= capacity  # now or within the horizon
        warns = full and outlook.rising and count < capacity
        if warns:
            self._since = ctx.now if self._since is None else self._since
            self._last_met = ctx.now
        elif ctx.now - self._last_met > self.config.clear_after:
            self._since = None
        starts = warns and ctx.now - self._since >= self.config.hold
        self.lifecycle.update(
            ctx,
            starts=starts,
            holds=full,
            objects=inside,
            count=count,
            armed=self.schedule.armed(ctx.wall),
            facts=self._facts(ctx, outlook) if starts else None,
            message=self._message(ctx, outlook, count) if starts else None,
        )

    def _judge(self) -> Outlook | None:
        if not self.history.full:
            return None  # warming up, or after a gap: no trend yet
        values = self.history.values
        level, trend = holt(values, self.config.alpha, self.config.beta)
        rising = trend > 0 and sustained_rise(values)
        return Outlook(level, trend, level + trend * self.config.horizon, rising)

    def _facts(self, ctx: FrameContext, outlook: Outlook) -> dict:
        return {
            "capacity": self.config.capacity,
            "horizon_s": self.config.horizon,
            "window_s": self.config.window,
            "forecast_count": round(outlook.forecast, 1),
            "forecast_at": iso_utc(ctx.wall + outlook.seconds_to(self.config.capacity)),
            "rate_per_min": round(outlook.trend * 60, 2),
        }

    def _message(self, ctx: FrameContext, outlook: Outlook, count: int) -> str:
        reach = iso_utc(ctx.wall + outlook.seconds_to(self.config.capacity))
        return (
            f"{self.zone.name} filling: {count} now, rising {outlook.trend * 60:.1f}/min, "
            f"forecast to reach capacity {self.config.capacity} by {reach}"
        )
