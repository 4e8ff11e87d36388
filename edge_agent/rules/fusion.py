"""Tailgating: door grants joined with camera line crossings at the same door.

Each inward person crossing at a door's camera line needs an access grant at
that door no more than `window` s before it (or `early_tolerance` s after,
for clock jitter); one grant covers one crossing, matched earliest-first.
A crossing no grant covers raises a tailgating alert carrying both counts
over the window before it (e.g. 1 grant, 2 crossings within 8 s). A crossing
is judged `settle` s after it happened, so a grant that arrives a little late
still counts. Grant times are the controller's stamps plus the door's
clock_offset; crossing times are the frames' wall times.

Time moves with the later of our wall clock and the newest crossing seen, so
a replay (frames stamped on the clip's timeline) is judged on clip time;
`flush()` judges whatever is still pending (end of a replay, shutdown).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from edge_agent.clock import Clock
from edge_agent.config.access import AccessConfig, DoorConfig
from edge_agent.events import AlertDetails, AlertFactory, AlertSink, DoorEvent, LineCrossing

log = logging.getLogger(__name__)

MAX_REMEMBERED = 512  # per door: grants and crossings kept for matching and counting


@dataclass
class Grant:
    at: float
    token: str | None
    reader: str | None
    used: bool = False


@dataclass
class DoorLane:
    """One door's recent grants and inward crossings."""

    door: DoorConfig
    grants: deque = field(default_factory=lambda: deque(maxlen=MAX_REMEMBERED))
    pending: deque = field(default_factory=lambda: deque(maxlen=MAX_REMEMBERED))
    crossings: deque = field(default_factory=lambda: deque(maxlen=MAX_REMEMBERED))  # times of all inward crossings


class TailgatingFusion:
    def __init__(self, access_cfg: AccessConfig, alert_factory: AlertFactory, sink: AlertSink, clock: Clock):
        self.config = access_cfg.tailgating
        self.factory = alert_factory
        self.sink = sink
        self.clock = clock
        self._lock = threading.Lock()
        self._lanes: dict[str, DoorLane] = {}
        self._by_line: dict[tuple[str, str], DoorLane] = {}
        for door in access_cfg.doors:
            if door.camera_line is not None:
                lane = DoorLane(door)
                self._lanes[door.id] = lane
                self._by_line[(door.camera_line.camera, door.camera_line.line)] = lane
        self._latest_crossing = float("-inf")
        self.covered = 0
        self.tailgating = 0

    def adopt(self, old: TailgatingFusion) -> None:
        """Carry recent grants and crossings waiting for judgement over a reload, for doors whose lane is kept."""
        with self._lock, old._lock:
            for door_id, lane in self._lanes.items():
                previous = old._lanes.get(door_id)
                if previous is not None and previous.door.camera_line == lane.door.camera_line:
                    lane.grants.extend(previous.grants)
                    lane.pending.extend(previous.pending)
                    lane.crossings.extend(previous.crossings)
            self._latest_crossing = old._latest_crossing
            self.covered, self.tailgating = old.covered, old.tailgating

    @property
    def active(self) -> bool:
        return self.config.enabled and bool(self._lanes)

    def on_door_event(self, event: DoorEvent) -> None:
        if not self.config.enabled or event.type != "access.granted" or event.direction == "out":
            return
        lane = self._lanes.get(event.door)
        if lane is None:
            return
        with self._lock:
            lane.grants.append(Grant(event.occurred_at(lane.door.clock_offset), event.credential_token, event.reader))
            self._judge(self._now())

    def on_crossing(self, crossing: LineCrossing) -> None:
        if not self.config.enabled or crossing.direction != "in" or crossing.class_name != "person":
            return
        lane = self._by_line.get((crossing.camera_id, crossing.line))
        if lane is None:
            return
        with self._lock:
            self._latest_crossing = max(self._latest_crossing, crossing.at)
            lane.pending.append(crossing)
            lane.crossings.append(crossing.at)
            self._judge(self._now())

    def tick(self) -> None:
        with self._lock:
            self._judge(self._now())

    def flush(self) -> None:
        with self._lock:
            self._judge(float("inf"))

    def _now(self) -> float:
        return max(self.clock.wall(), self._latest_crossing)

    def _judge(self, now: float) -> None:
        config = self.config
        for lane in self._lanes.values():
            ready = sorted(
                (c for c in lane.pending if c.at + config.early_tolerance + config.settle <= now), key=lambda c: c.at
            )
            for crossing in ready:
                lane.pending.remove(crossing)
                grant = self._cover(lane, crossing.at)
                if grant is not None:
                    grant.used = True
                    self.covered += 1
                else:
                    self._alert(lane, crossing)
            horizon = now - config.window - config.early_tolerance - config.settle - 60.0
            while lane.grants and lane.grants[0].at < horizon:
                lane.grants.popleft()
            while lane.crossings and lane.crossings[0] < horizon:
                lane.crossings.popleft()

    def _cover(self, lane: DoorLane, at: float) -> Grant | None:
        """The earliest unused grant whose window holds a crossing at `at`."""
        candidates = [
            g
            for g in lane.grants
            if not g.used and g.at - self.config.early_tolerance <= at <= g.at + self.config.window
        ]
        return min(candidates, key=lambda g: g.at, default=None)

    def _alert(self, lane: DoorLane, crossing: LineCrossing) -> None:
        config = self.config
        start = crossing.at - config.window
        grants = sum(1 for g in lane.grants if start <= g.at <= crossing.at + config.early_tolerance)
        crossings = sum(1 for t in lane.crossings if start <= t <= crossing.at)
        self.tailgating += 1
        details = AlertDetails(
            door=lane.door.id,
            line=crossing.line,
            direction="in",
            object_class=crossing.class_name,
            track_ids=[crossing.track_id],
            grants=grants,
            crossings=crossings,
            message=f"{crossings} inward crossing(s) but {grants} grant(s) within {config.window:g} s",
            extra={"camera": crossing.camera_id, "window_s": config.window},
        )
        alert = self.factory.make(
            "tailgating", config.severity, ("door", lane.door.id), started_at=crossing.at, details=details
        )
        self.sink.emit(alert)
        log.info(
            "tailgating at door %s: %d crossing(s), %d grant(s)",
            lane.door.id,
            crossings,
            grants,
            extra={"door": lane.door.id},
        )
