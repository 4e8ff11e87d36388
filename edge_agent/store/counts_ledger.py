"""Periodic counts for the platform: line in/out and zone occupancy per wall-clock-aligned interval.

Line crossings are written through to the durable state store (scope `line_counts`, key
`camera/line`) as they happen, bucketed by the interval of the frame's wall time, so a
restart or reload mid-interval loses none; the store, not memory, is the truth, which also
keeps an old and a new pipeline that briefly overlap during a reload from double counting.
A line's value: {"in", "out" (cumulative), "since", "geometry", "intervals": {start_ms:
{"end_ms", "in", "out"}}}. Cumulative counters reset when the line's points, in_side or
classes change (they would count something else); margin and min_frames changes keep them.

Zone occupancy is sampled once per `counts.sample_every` slot of the wall clock from the rule
engine's last processed frame (peak, mean over the samples; store/occupancy_samples.py). The
samples are kept in memory: a reload's new ledger adopts them from the old one (the Carried
protocol of daemon/parts.py, once the old video stopped), and a clean stop saves them to the
store for the next ledger.

`complete` says the agent watched the whole interval: the ledger keeps the spans it and its
predecessors watched without a break. A reload continues the span unless it counts something
new (a zone, line, zone class or interval length); a clean stop saves the span with its end, so
an interval that ended before the stop is still complete when the next process reports it.

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
from typing import Protocol

from edge_agent.clock import Clock, iso_utc
from edge_agent.config import AgentConfig
from edge_agent.events import AlertFactory, Counts, LineCrossing, Topics
from edge_agent.events.ids import stable_event_id
from edge_agent.events.messages import LineCount, ZoneOccupancy
from edge_agent.rules.engine import RuleEngine
from edge_agent.store.occupancy_samples import Occupancy, OccupancySamples
from edge_agent.store.outbox import Outbox
from edge_agent.store.state_store import StateStore

log = logging.getLogger(__name__)

LINES_SCOPE = "line_counts"
ZONES_SCOPE = "zone_occupancy"
META_SCOPE = "counts"
REPORTED_UNTIL = "reported_until_ms"  # end of the last reported interval
WATCHED = "watched"  # [[since, until], ...]: spans watched without a break by earlier runs, saved on a clean stop
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
        self.zone_shapes = {
            f"{c.id}/{name}": json.dumps(zone.points)
            for c in config.cameras
            if c.enabled
            for name, zone in c.zones.items()
        }
        self.observed_since = self.clock.wall()  # the running span of watching began
        self.reported = 0
        self.write_errors = 0
        self._lock = _lock_for(self.state)
        self._samples = OccupancySamples(self.config.interval, self.config.sample_every, self.observed_since)
        self._watched: list[tuple[float, float]] = []  # earlier spans watched without a break, [since, until]
        self._retired = False  # saved, or adopted by a successor: it samples, reports and saves no more
        self._reconcile_lines()
        self._restore()

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
        with self._lock:
            if self._retired:
                return
            counts = self.engine.zone_occupancy(self.config.zone_classes)
            self._samples.add(now, {f"{c}/{z}": counts.get(c, {}).get(z, 0) for c, z in self.zones})

    def save(self) -> None:
        """When the build is dropped (a stop, or a reload to a build without counts): the samples and the watched spans
        into the store, for the next ledger. Not when a successor adopted them; once only."""
        now = self.clock.wall()
        with self._lock:
            if self._retired:
                return
            self._retired = True
            for key, value in self._samples.stored().items():
                self.state.put(ZONES_SCOPE, key, value, now)
            reported_until = self.state.facts(META_SCOPE).get(REPORTED_UNTIL, 0)
            spans = [*self._watched, (self.observed_since, now)]
            self.state.put(META_SCOPE, WATCHED, [list(s) for s in spans if s[1] * 1000 > reported_until], now)

    def _restore(self) -> None:
        with self._lock:
            saved = self.state.facts(ZONES_SCOPE)
            self.state.drop(ZONES_SCOPE)
            watched = self.state.facts(META_SCOPE).get(WATCHED, [])
        self._samples.restore(saved, self.clock.wall())
        self._watched = [(since, until) for since, until in watched]

    # -- reloads (the Carried protocol of daemon/parts.py) -------------------------------------------
    def hand_over(self, successor: CountsLedger | None) -> None:
        """A reload replaces this build. Nothing to give yet: this ledger samples on until the old video has stopped,
        then the successor adopts its samples; without a successor `save` keeps them when the build is dropped."""

    def adopt(self, predecessor: CountsLedger) -> list[str]:
        """Take over the predecessor's samples, watched spans and next sampling slot (the predecessor then samples,
        reports and saves no more). The watching goes on unbroken when this build counts nothing the predecessor did
        not; otherwise it restarts now and the running interval is reported incomplete. Returns the zones whose
        running samples carried on (those whose shape and counted classes did not change)."""
        if predecessor.state is not self.state:  # another store: the predecessor saves into its own
            return []
        now = self.clock.wall()
        with self._lock:
            if predecessor._retired:
                return []
            predecessor._retired = True
            same_classes = self.config.zone_classes == predecessor.config.zone_classes
            kept = {
                k for k, shape in self.zone_shapes.items() if same_classes and predecessor.zone_shapes.get(k) == shape
            }
            self._samples.take_over(predecessor._samples, kept)
            self._watched = list(predecessor._watched)
            if self._counted() <= predecessor._counted():
                self.observed_since = predecessor.observed_since
            else:
                self._watched.append((predecessor.observed_since, now))
                log.info("counts: this reload counts something new; the running interval is reported incomplete")
        return sorted(kept)

    def _counted(self) -> set:
        """What this ledger counts: a reload that adds to it breaks the watching."""
        lines = {("line", key, line_geometry(line)) for key, line in self.lines.items()}
        zones = {("zone", key, shape) for key, shape in self.zone_shapes.items()}
        return (
            lines | zones | {("classes", tuple(sorted(self.config.zone_classes))), ("interval", self.config.interval)}
        )

    # -- reports -------------------------------------------------------------------------------
    def report_due(self, now: float) -> int:
        """Store the counts message of every finished, unreported interval; returns how many."""
        ready_before = round((now - REPORT_DELAY) * 1000)
        stored = 0
        with self._lock:
            if self._retired:  # its successor reports from now on
                return 0
            reported_until = self.state.facts(META_SCOPE).get(REPORTED_UNTIL, 0)
            lines = self.state.facts(LINES_SCOPE)
            for start, end in self._due(lines, reported_until, ready_before):
                self._store_report(start, end, lines, self._samples.take((start, end)))
                for key, fact in lines.items():
                    if fact["intervals"].pop(str(start), None) is not None:
                        self.state.put(LINES_SCOPE, key, fact, now)
                reported_until = max(reported_until, end)
                self.state.put(META_SCOPE, REPORTED_UNTIL, reported_until, now)
                stored += 1
            self._samples.forget_until(reported_until)
        self.reported += stored
        return stored

    def _spans(self) -> list[tuple[float, float]]:
        """The spans watched without a break: earlier ones, and the running one."""
        return [*self._watched, (self.observed_since, math.inf)]

    def _due(self, lines: dict, reported_until: int, ready_before: int) -> list[tuple[int, int]]:
        due = {(int(s), b["end_ms"]) for fact in lines.values() for s, b in fact["intervals"].items()}
        due |= set(self._samples.finished)
        for since, until in self._spans():  # every interval watched, crossings or not
            start, end = interval_bounds_ms(since, self.config.interval)
            start, end = max((start, end), interval_bounds_ms(reported_until / 1000, self.config.interval))
            while end <= ready_before and start < until * 1000:
                due.add((start, end))
                start, end = end, end + (end - start)
        return sorted((s, e) for s, e in due if e <= ready_before and e > reported_until)

    def _store_report(self, start: int, end: int, lines: dict, zones: dict[str, Occupancy]) -> None:
        message = Counts(
            event_id=stable_event_id(end, self.device_id, "counts", str(start), str(end)),
            device_id=self.device_id,
            site=self.site,
            interval_start=iso_utc(start / 1000),
            interval_end=iso_utc(end / 1000),
            complete=any(since <= start / 1000 and end / 1000 <= until for since, until in self._spans()),
            lines=[_line_count(key, fact, start, end) for key, fact in sorted(lines.items())],
            zones=self._zone_figures(zones),
            created_at=iso_utc(self.clock.wall()),
        )
        payload = message.model_dump_json(by_alias=True)
        if self.outbox.enqueue(self.topic, payload, "event", event_id=message.event_id) is None:
            log.warning("counts for %s were refused by the outbox (counted in its drops)", message.interval_start)

    def _zone_figures(self, finished: dict[str, Occupancy]) -> list[ZoneOccupancy]:
        figures = []
        for camera, zone in self.zones:
            occupancy = finished.get(f"{camera}/{zone}") or Occupancy(0, 0)
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
