"""door.denied_rising: denials at a door rising against the door's own usual rate, before they make a burst.

The burst rule (`access.denials`, 3 at one reader within 60 s) never sees someone trying cards every
minute and a half. This rule compares each door's recent count with the door's own history: a quiet
door warns after a few denials close together, a busy entrance where ten denials in ten minutes are
an ordinary morning stays silent.

**The test.** Denials at a door are rare and mostly independent (different people, different
mistakes), so the count in a window of W s is taken as Poisson with mean μ = max(r, prior_rate) ·
W / 3600, r the door's rate per hour over the `baseline` s before the window. On each counted
denial, k the window's count (this one included), the door warns when k ≥ min_count and
P(X ≥ k; μ) < p_value, the tail computed exactly (`poisson_sf`). `prior_rate` floors the rate, so a
new or quiet door needs several denials (defaults, μ = 1/6: P(X ≥ 3) = 6.8e-4, P(X ≥ 4) = 2.8e-5).
Where the model is wrong, the data is bent rather than the test:

- retries: a denial of the same credential within `retry_within` s of its previous one is the same
  person's attempt, not an independent event: not counted (the burst rule still sees it);
- new doors: r is counted over the time actually watched (at least one window), not the whole
  baseline; before any history only `prior_rate` judges (set it near a busy door's expected rate);
- restarts: the time the agent was down is left out (counted as quiet it would lower r and make the
  door touchy for a day); a backlog a controller posts after an outage is placed when it occurred.

**False alarms.** A warning starts only on a denial. At a door whose denials are Poisson at λ/h
(learned as r), a denial finds the rest of its window Poisson(μ), so false warnings start at
λ · P(X = k* − 1; μ) per hour (≤ λ · p_value · (1 + k*/μ)), k* the smallest significant count.
With the defaults (W = 600 s, p_value = 1e-4, prior 1/h): about one per 900 days at 0.5 denials/h,
per two months at 1-2/h, 41 days at 5/h, 15 days at 10/h, 9 days at 30/h (bench/sim_denied_rising.py
measured 81, 52, 30, 23 and 13.5 days at 1, 2, 5, 10 and 30/h); p_value = 1e-3 gives one a day at
30/h, 1e-5 one in three months. Real doors are burstier than Poisson: expect more at busy doors.

**The episode**: `start` when the test first passes, `end` once the window's count has not been
significant for `clear_after` s (judged on denials and on the tick), then `cooldown`. Only
configured doors are watched. **State per door**, bounded and wall-clock (it means the same after a
restart): hourly counts over the baseline, the window's exact denials (≤ MAX_RECENT), the agent's
outages (≤ MAX_GAPS), when watching began; carried over reloads (`adopt`), kept in the state store
by the access service (`snapshot` / `restore`).
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_agent.clock import Clock
from edge_agent.config.access import DeniedRisingConfig, DoorConfig
from edge_agent.events import Alert, AlertDetails, AlertFactory, DoorEvent
from edge_agent.rules.schedule import ArmingSchedule

log = logging.getLogger(__name__)

ALERT_TYPE = "door.denied_rising"
HOUR_S = 3600.0
MAX_RECENT = 1024  # denials kept exactly per door; a window holding more is an attack already warned about
MAX_GAPS = 8  # agent outages remembered per door; older ones are merged (more time left out: never touchier)
_TAIL_PRECISION = 1e-17


def poisson_sf(k: int, mu: float) -> float:
    """P(X ≥ k) for X ~ Poisson(mu), to float precision: the upper tail summed from its first term (log space,
    so a large mu does not underflow), or one minus the short lower sum when k ≤ mu (the tail is then ≥ ~½)."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    log_mu = math.log(mu)
    if k <= mu:
        lower = sum(math.exp(i * log_mu - mu - math.lgamma(i + 1)) for i in range(k))
        return min(1.0, max(0.0, 1.0 - lower))
    term = math.exp(k * log_mu - mu - math.lgamma(k + 1))
    total, i = 0.0, k
    while term > total * _TAIL_PRECISION:  # terms fall at least geometrically once i > mu
        total += term
        i += 1
        term *= mu / i
    return min(1.0, total)


@dataclass(frozen=True)
class Verdict:
    count: int
    expected: float  # denials the usual rate predicts in the window
    baseline_per_hour: float  # the rate learned from the door's history (before the prior floor)
    p_value: float
    significant: bool
    reasons: dict[str, int]


@dataclass
class DoorHistory:
    watched_since: float
    hours: dict[int, int] = field(default_factory=dict)  # hour number (epoch s // 3600) -> denials counted
    recent: list[tuple[float, str]] = field(default_factory=list)  # (time, deny reason) in the window, by time
    gaps: list[tuple[float, float]] = field(default_factory=list)  # the agent was down: not watched
    version: int = 1  # bumped on every change; `saved` is the version last written to the state store
    saved: int = 0

    def as_fact(self) -> dict[str, Any]:
        return {
            "watched_since": self.watched_since,
            "hours": sorted([hour, count] for hour, count in self.hours.items()),
            "recent": [[at, reason] for at, reason in self.recent],
            "gaps": [list(gap) for gap in self.gaps],
        }

    @classmethod
    def from_fact(cls, fact: dict[str, Any]) -> DoorHistory:
        """Raises KeyError, TypeError or ValueError for a value this version did not write."""
        return cls(
            watched_since=float(fact["watched_since"]),
            hours={int(hour): int(count) for hour, count in fact["hours"]},
            recent=sorted((float(at), str(reason)) for at, reason in fact["recent"])[-MAX_RECENT:],
            gaps=[(float(begin), float(end)) for begin, end in fact["gaps"]][-MAX_GAPS:],
        )

    def add_gap(self, begin: float, end: float) -> None:
        self.gaps.append((begin, end))
        if len(self.gaps) > MAX_GAPS:
            (first, _), (_, second_end) = self.gaps[0], self.gaps[1]
            self.gaps[:2] = [(first, second_end)]


@dataclass
class Episode:
    start: Alert
    started_at: float
    last_significant: float
    peak: int


class DenialRising:
    """Per configured door: its denial history and its warning episode. Thread-safe; called by DoorRules."""

    def __init__(
        self,
        config: DeniedRisingConfig,
        doors: dict[str, DoorConfig],
        factory: AlertFactory,
        emit: Callable[[Alert], None],
        clock: Clock,
        timezone: str = "UTC",
    ):
        self.config = config
        self._timezone = timezone
        self._schedule = ArmingSchedule(config.schedule, timezone)
        self._door_configs = doors if config.enabled else {}
        self._factory = factory
        self._emit = emit
        self._clock = clock
        self._lock = threading.RLock()
        now = clock.wall()
        self._doors = {door_id: DoorHistory(watched_since=now) for door_id in self._door_configs}
        self._last_denied: dict[str, dict[str, float]] = {door_id: {} for door_id in self._door_configs}
        self._episodes: dict[str, Episode] = {}
        self._cooldown_until: dict[str, float] = {}
        self._suppressing: set[str] = set()
        self.retries = 0  # denials not counted as retries of one attempt
        self.suppressed = 0  # warnings not started because of the cooldown

    # -- denials and time -----------------------------------------------------------------

    def observe(self, event: DoorEvent) -> None:
        """An access.denied: counted (unless a retry or older than the baseline), then the door is judged; only a
        denial that joins the window may start a warning (a retry or a backlog changes no count)."""
        with self._lock:
            history = self._doors.get(event.door)
            if history is None:
                return
            now = self._clock.wall()
            at = min(event.occurred_at(self._door_configs[event.door].clock_offset), now)
            joins_window = False
            if self._is_retry(event, at, now):
                self.retries += 1
            elif at >= now - self.config.window - self.config.baseline:
                self._count(history, at, event.reason or "unspecified", now)
                joins_window = at >= now - self.config.window
            self._judge(event.door, now, may_start=joins_window)

    def tick(self) -> None:
        """Ends warnings whose window has been unremarkable for `clear_after` s, or whose schedule disarmed."""
        with self._lock:
            now = self._clock.wall()
            for door_id in list(self._episodes):
                self._judge(door_id, now, may_start=False)

    def _is_retry(self, event: DoorEvent, at: float, now: float) -> bool:
        if event.credential_token is None or self.config.retry_within <= 0:
            return False
        seen = self._last_denied[event.door]
        for token in [token for token, last in seen.items() if now - last > self.config.retry_within]:
            del seen[token]
        previous = seen.get(event.credential_token)
        seen[event.credential_token] = at if previous is None else max(previous, at)
        if len(seen) > MAX_RECENT:
            del seen[min(seen, key=seen.get)]
        return previous is not None and abs(at - previous) <= self.config.retry_within

    def _count(self, history: DoorHistory, at: float, reason: str, now: float) -> None:
        hour = int(at // HOUR_S)
        history.hours[hour] = history.hours.get(hour, 0) + 1
        if at >= now - self.config.window:
            bisect.insort(history.recent, (at, reason))
            if len(history.recent) > MAX_RECENT:
                del history.recent[0]
        history.version += 1

    def verdict(self, door_id: str) -> Verdict | None:
        """The door's test as of now (None for a door not watched)."""
        with self._lock:
            history = self._doors.get(door_id)
            return None if history is None else self._verdict(history, self._clock.wall())

    def _verdict(self, history: DoorHistory, now: float) -> Verdict:
        config = self.config
        window_start = now - config.window
        learned_from = window_start - config.baseline
        self._prune(history, window_start, learned_from)
        count = len(history.recent)
        in_span = sum(
            n if hour * HOUR_S >= learned_from else n * max(0.0, (hour * HOUR_S + HOUR_S - learned_from) / HOUR_S)
            for hour, n in history.hours.items()
        )  # the hour that straddles the span's start is taken pro rata
        learned = max(0.0, in_span - count)  # the window's denials are in the hourly counts too
        since = max(history.watched_since, learned_from)
        down = sum(max(0.0, min(end, window_start) - max(begin, since)) for begin, end in history.gaps)
        watched = max(0.0, window_start - since - down)
        per_hour = learned * HOUR_S / max(watched, config.window)
        expected = max(per_hour, config.prior_rate) * config.window / HOUR_S
        p_value = poisson_sf(count, expected)
        return Verdict(
            count=count,
            expected=expected,
            baseline_per_hour=per_hour,
            p_value=p_value,
            significant=count >= config.min_count and p_value < config.p_value,
            reasons=dict(Counter(reason for _, reason in history.recent)),
        )

    @staticmethod
    def _prune(history: DoorHistory, window_start: float, learned_from: float) -> None:
        old = bisect.bisect_left(history.recent, (window_start, ""))
        if old:
            del history.recent[:old]
        for hour in [hour for hour in history.hours if (hour + 1) * HOUR_S <= learned_from]:
            del history.hours[hour]
        history.gaps[:] = [gap for gap in history.gaps if gap[1] > learned_from]

    # -- the episode ------------------------------------------------------------------------------

    def _judge(self, door_id: str, now: float, *, may_start: bool) -> None:
        verdict = self._verdict(self._doors[door_id], now)
        episode = self._episodes.get(door_id)
        armed = self._schedule.armed(now)
        if episode is not None:
            if not armed:
                episode.last_significant = now  # the condition stood until the schedule ended it
                self._end(door_id, episode, verdict, now, reason="disarmed")
            elif verdict.significant:
                episode.last_significant = now
                episode.peak = max(episode.peak, verdict.count)
            elif now - episode.last_significant >= self.config.clear_after:
                self._end(door_id, episode, verdict, now)
            return
        if not (verdict.significant and armed):
            self._suppressing.discard(door_id)
        elif may_start and now < self._cooldown_until.get(door_id, float("-inf")):
            if door_id not in self._suppressing:
                self._suppressing.add(door_id)
                self.suppressed += 1
        elif may_start:
            self._start(door_id, verdict, now)

    def _start(self, door_id: str, verdict: Verdict, now: float) -> None:
        details = AlertDetails(
            door=door_id,
            count=verdict.count,
            message=f"{verdict.count} denials within {self.config.window:g} s at {door_id}, where its usual rate "
            f"predicts {verdict.expected:.2g}",
            extra=self._facts(verdict),
        )
        alert = self._alert("start", details, now)
        self._episodes[door_id] = Episode(alert, now, now, verdict.count)

    def _end(self, door_id: str, episode: Episode, verdict: Verdict, now: float, reason: str | None = None) -> None:
        duration = max(0.0, episode.last_significant - episode.started_at)
        details = AlertDetails(
            door=door_id,
            reason=reason,
            count=verdict.count,
            peak_count=episode.peak,
            duration_s=round(duration, 1),
            message=f"denials at {door_id} back to usual after {duration:.0f} s (at most {episode.peak} within "
            f"{self.config.window:g} s)",
            extra=self._facts(verdict),
        )
        self._alert("end", details, episode.started_at, episode.last_significant, episode.start.event_id)
        del self._episodes[door_id]
        self._cooldown_until[door_id] = now + self.config.cooldown

    def _facts(self, verdict: Verdict) -> dict[str, Any]:
        return {
            "window_s": self.config.window,
            "expected": round(verdict.expected, 4),
            "baseline_per_hour": round(verdict.baseline_per_hour, 3),
            "p_value": float(f"{verdict.p_value:.3g}"),
            "reasons": verdict.reasons or None,
        }

    def _alert(self, phase: str, details: AlertDetails, started_at: float, ended_at=None, related=None) -> Alert:
        alert = self._factory.make(
            ALERT_TYPE,
            self.config.severity,
            ("door", details.door),
            phase=phase,
            details=details,
            started_at=started_at,
            ended_at=ended_at,
            related_event_id=related,
        )
        self._emit(alert)
        return alert

    # -- reloads and restarts ---------------------------------------------------------------------

    def adopt(self, old: DenialRising) -> None:
        """Over a reload: the history of every door still watched, and its warning and cooldown when this rule's
        config is unchanged. A warning not taken stays open in `old`; the daemon ends it (`config_changed`)."""
        with self._lock, old._lock:
            same_rule = (old.config, old._timezone) == (self.config, self._timezone)
            for door_id, history in old._doors.items():
                if door_id not in self._doors:
                    continue
                self._doors[door_id] = history
                self._last_denied[door_id] = old._last_denied[door_id]
                if same_rule:
                    if door_id in old._episodes:
                        self._episodes[door_id] = old._episodes[door_id]
                    if door_id in old._cooldown_until:
                        self._cooldown_until[door_id] = old._cooldown_until[door_id]
            self.retries, self.suppressed = old.retries, old.suppressed

    def open_episode_ids(self) -> set[str]:
        with self._lock:
            return {episode.start.event_id for episode in self._episodes.values()}

    def snapshot(self, changed_only: bool = True) -> dict[str, tuple[int, dict[str, Any]]]:
        """{door: (version, history as a JSON-able fact)} of the doors changed since `mark_saved` (or all)."""
        with self._lock:
            now = self._clock.wall()
            found = {}
            for door_id, history in self._doors.items():
                if changed_only and history.version == history.saved:
                    continue
                self._prune(history, now - self.config.window, now - self.config.window - self.config.baseline)
                found[door_id] = (history.version, history.as_fact())
            return found

    def mark_saved(self, door_id: str, version: int) -> None:
        with self._lock:
            history = self._doors.get(door_id)
            if history is not None:
                history.saved = max(history.saved, version)

    def watched_doors(self) -> set[str]:
        return set(self._doors)

    def restore(self, facts: dict[str, Any], saved_at: float | None) -> None:
        """After a restart: each watched door's stored history, with the time since `saved_at` (the last save of
        the previous run) left out as not watched. An unreadable value is logged and that door starts afresh."""
        with self._lock:
            now = self._clock.wall()
            for door_id, fact in facts.items():
                if door_id not in self._doors:
                    continue
                try:
                    history = DoorHistory.from_fact(fact)
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("door %s: stored denial history unreadable (%r); learning it afresh", door_id, exc)
                    continue
                if saved_at is not None and now > saved_at:
                    history.add_gap(max(saved_at, history.watched_since), now)
                self._doors[door_id] = history
