"""Periodic counts for the platform: line in/out and zone occupancy per wall-clock-aligned interval.

Line crossings are written through to the durable state store (scope `line_counts`, key
`camera/line`) as they happen, bucketed by the interval of the frame's wall time, so a
restart or reload mid-interval loses none; the store, not memory, is the truth, which also
keeps an old and a new pipeline that briefly overlap during a reload from double counting.
A line's value: {"in", "out" (cumulative), "since", "geometry", "intervals": {start_ms:
{"end_ms", "in", "out"}}}. Cumulative counters reset when the line's points, in_side or
classes change (they would count something else); margin and min_frames changes keep them.

Zone occupancy is sampled every `counts.sample_every` s from the rule engine's last
processed frame (peak, mean over the samples); samples are kept in memory and saved to the
store when the stage stops, so a clean reload or restart carries them over.

An interval is reported `REPORT_DELAY` s after its end (crossings still in the detector queue
at the boundary belong to it), as one `counts` message in the outbox (class event) whose
event_id is derived from (device, interval), so reporting an interval again after a crash
between the outbox commit and the store update is a duplicate the outbox and platform drop.
A crossing that arrives after its interval was reported goes into the next one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import weakref
from dataclasses import asdict, dataclass
from typing import Protocol

from edge_agent.clock import Clock, iso_utc
from edge_agent.config import AgentConfig
from edge_agent.events import AlertFactory, Counts, LineCrossing, Topics
from edge_agent.events.ids import stable_event_id
from edge_agent.events.messages import LineCount, ZoneOccupancy
from edge_agent.rules.engine import RuleEngine
from edge_agent.store.outbox import Outbox
from edge_agent.store.state_store import StateStore

log = logging.getLogger(__name__)

LINES_SCOPE = "line_counts"
ZONES_SCOPE = "zone_occupancy"
META_SCOPE = "counts"
REPORTED_UNTIL = "reported_until_ms"  # end of the last reported interval
REPORT_DELAY = 5.0

# One lock per state store: every read-modify-write of the counters goes through it, whichever
# pipeline (old or new, during a reload) makes it.
_store_locks: weakref.WeakKeyDictionary[StateStore, threading.Lock] = weakref.WeakKeyDictionary()
_store_locks_guard = threading.Lock()


def _lock_for(state: StateStore) -> threading.Lock:
    with _store_locks_guard:
        return _store_locks.setdefault(state, threading.Lock())


def interval_bounds_ms(wall: float, interval: float) -> tuple[int, int]:
    """The [start, end) interval holding `wall`, aligned to the UTC epoch, in milliseconds."""
    length = round(interval * 1000)
    start = math.floor(wall * 1000 / length) * length
    return start, start + length


def line_geometry(line) -> str:
    shape = {"points": line.points, "in_side": line.in_side, "classes": sorted(line.classes)}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class _Occupancy:
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


class CountsServices(Protocol):
    """Where the ledger keeps and sends its figures: the daemon's `Services` (this layer sits below the daemon)."""

    factory: AlertFactory  # its device id
    topics: Topics
    outbox: Outbox
    state: StateStore
    clock: Clock


class CountsLedger:
    """Crossings into the state store, occupancy samples, and the counts message of each finished interval."""

    def __init__(self, config: AgentConfig, services: CountsServices, engine: RuleEngine):
        self.config = config.counts
        self.state = services.state
        self.outbox = services.outbox
        self.topic = services.topics.counts
        self.device_id = services.factory.device_id
        self.site = config.device.site
        self.clock = services.clock
        self.engine = engine
        # a disabled camera's lines keep their totals (and report zero); only its zones are left out
        self.lines = {f"{c.id}/{name}": line for c in config.cameras for name, line in c.lines.items()}
        self.zones = [(c.id, zone) for c in config.cameras if c.enabled for zone in c.zones]
        self.observed_since = self.clock.wall()
        self.reported = 0
        self.write_errors = 0
        self._lock = _lock_for(self.state)
        self._occupancy: dict[str, _Occupancy] = {}  # camera/zone → the interval being sampled
        self._finished: dict[tuple[int, int], dict[str, _Occupancy]] = {}
        self._reconcile_lines()
        self._restore_occupancy()

    # -- crossings (camera threads) -----------------------------------------------------------
    def on_crossing(self, crossing: LineCrossing) -> None:
        key = f"{crossing.camera_id}/{crossing.line}"
        try:
            with self._lock:
                reported_until = self.state.facts(META_SCOPE).get(REPORTED_UNTIL, 0)
                start, end = interval_bounds_ms(max(crossing.at, reported_until / 1000), self.config.interval)
                fact = self.state.facts(LINES_SCOPE).get(key) or self._new_line(key, crossing.at)
                bucket = fact["intervals"].setdefault(str(start), {"end_ms": end, "in": 0, "out": 0})
                bucket[crossing.direction] += 1
                fact[crossing.direction] += 1
                self.state.put(LINES_SCOPE, key, fact, crossing.at)
        except Exception:
            self.write_errors += 1  # the in-memory counter (telemetry) still has it
            raise

    def _new_line(self, key: str, now: float) -> dict:
        line = self.lines.get(key)
        return {"in": 0, "out": 0, "since": now, "geometry": line and line_geometry(line), "intervals": {}}

    def _reconcile_lines(self) -> None:
        """New lines start at zero; a changed geometry restarts the cumulative counters; removed lines go."""
        now = self.clock.wall()
        with self._lock:
            stored = self.state.facts(LINES_SCOPE)
            for key in set(stored) - set(self.lines):
                self.state.drop(LINES_SCOPE, key)
            for key, line in self.lines.items():
                fact = stored.get(key)
                if fact is None:
                    self.state.put(LINES_SCOPE, key, self._new_line(key, now), now)
                elif fact.get("geometry") != line_geometry(line):
                    # unreported intervals keep their crossings; the totals restart from them
                    pending = fact["intervals"].values()
                    fact["in"] = sum(b["in"] for b in pending)
                    fact["out"] = sum(b["out"] for b in pending)
                    fact["since"] = min((int(s) / 1000 for s in fact["intervals"]), default=now)
                    fact["geometry"] = line_geometry(line)
                    self.state.put(LINES_SCOPE, key, fact, now)
                    log.info("counting line %s changed shape: its cumulative counters restart", key)

    # -- zone occupancy (the stage's thread) ---------------------------------------------------
    def sample(self, now: float) -> None:
        start, end = interval_bounds_ms(now, self.config.interval)
        counts = self.engine.zone_occupancy(self.config.zone_classes)
        for camera, zone in self.zones:
            key = f"{camera}/{zone}"
            current = self._occupancy.get(key)
            if current is None or current.start_ms != start:
                if current is not None:
                    self._finished.setdefault((current.start_ms, current.end_ms), {})[key] = current
                current = self._occupancy[key] = _Occupancy(start, end)
            current.add(counts.get(camera, {}).get(zone, 0))

    def save_occupancy(self) -> None:
        now = self.clock.wall()
        pending = [*self._occupancy.items()] + [(k, o) for done in self._finished.values() for k, o in done.items()]
        with self._lock:
            for key, occupancy in pending:
                self.state.put(ZONES_SCOPE, f"{occupancy.start_ms}|{key}", asdict(occupancy), now)

    def _restore_occupancy(self) -> None:
        with self._lock:
            saved = self.state.facts(ZONES_SCOPE)
            self.state.drop(ZONES_SCOPE)
        current = interval_bounds_ms(self.clock.wall(), self.config.interval)
        for stored_key, value in saved.items():
            key = stored_key.partition("|")[2]
            occupancy = _Occupancy(**value)
            if (occupancy.start_ms, occupancy.end_ms) == current:
                self._occupancy[key] = occupancy  # sampling carries on
            else:
                self._finished.setdefault((occupancy.start_ms, occupancy.end_ms), {})[key] = occupancy

    # -- reports -------------------------------------------------------------------------------
    def report_due(self, now: float) -> int:
        """Store the counts message of every finished, unreported interval; returns how many."""
        ready_before = round((now - REPORT_DELAY) * 1000)
        stored = 0
        with self._lock:
            reported_until = self.state.facts(META_SCOPE).get(REPORTED_UNTIL, 0)
            lines = self.state.facts(LINES_SCOPE)
            for start, end in self._due(lines, reported_until, ready_before):
                self._store_report(start, end, lines)
                for key, fact in lines.items():
                    if fact["intervals"].pop(str(start), None) is not None:
                        self.state.put(LINES_SCOPE, key, fact, now)
                self._finished.pop((start, end), None)
                reported_until = max(reported_until, end)
                self.state.put(META_SCOPE, REPORTED_UNTIL, reported_until, now)
                stored += 1
            for stale in [interval for interval in self._finished if interval[1] <= reported_until]:
                del self._finished[stale]
        self.reported += stored
        return stored

    def _due(self, lines: dict, reported_until: int, ready_before: int) -> list[tuple[int, int]]:
        due = {(int(s), b["end_ms"]) for fact in lines.values() for s, b in fact["intervals"].items()}
        due |= set(self._finished)
        start, end = interval_bounds_ms(self.observed_since, self.config.interval)
        start, end = max((start, end), interval_bounds_ms(reported_until / 1000, self.config.interval))
        while end <= ready_before:  # every interval this ledger watched, crossings or not
            due.add((start, end))
            start, end = end, end + (end - start)
        return sorted((s, e) for s, e in due if e <= ready_before and e > reported_until)

    def _store_report(self, start: int, end: int, lines: dict) -> None:
        message = Counts(
            event_id=stable_event_id(end, self.device_id, "counts", str(start), str(end)),
            device_id=self.device_id,
            site=self.site,
            interval_start=iso_utc(start / 1000),
            interval_end=iso_utc(end / 1000),
            complete=self.observed_since <= start / 1000,
            lines=[_line_count(key, fact, start, end) for key, fact in sorted(lines.items())],
            zones=self._zone_figures(self._finished.get((start, end), {})),
            created_at=iso_utc(self.clock.wall()),
        )
        payload = message.model_dump_json(by_alias=True)
        if self.outbox.enqueue(self.topic, payload, "event", event_id=message.event_id) is None:
            log.warning("counts for %s were refused by the outbox (counted in its drops)", message.interval_start)

    def _zone_figures(self, finished: dict[str, _Occupancy]) -> list[ZoneOccupancy]:
        figures = []
        for camera, zone in self.zones:
            occupancy = finished.get(f"{camera}/{zone}") or _Occupancy(0, 0)
            mean = occupancy.total / occupancy.samples if occupancy.samples else 0.0
            figures.append(
                ZoneOccupancy(
                    camera=camera,
                    zone=zone,
                    current=occupancy.current,
                    peak=occupancy.peak,
                    mean=round(mean, 3),
                    samples=occupancy.samples,
                )
            )
        return figures


def _line_count(key: str, fact: dict, start: int, end: int) -> LineCount:
    camera, _, line = key.partition("/")
    bucket = fact["intervals"].get(str(start), {"in": 0, "out": 0})
    later = [b for s, b in fact["intervals"].items() if int(s) >= end]  # counted after this interval ended
    return LineCount(
        camera=camera,
        line=line,
        in_=bucket["in"],
        out=bucket["out"],
        total_in=fact["in"] - sum(b["in"] for b in later),
        total_out=fact["out"] - sum(b["out"] for b in later),
        total_since=iso_utc(fact["since"]),
    )
