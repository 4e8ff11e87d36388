"""Everything access control needs at run time, in one component for the daemon.

Builds the adapters, the door rules and the tailgating fusion from the access
config, wires adapters -> rules + fusion and (when given the video rule
engine) camera crossings -> fusion, and runs the periodic tick (held-open
timers, welfare checks, tailgating judgement) on its own thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from edge_agent.clock import Clock
from edge_agent.config.access import AccessConfig
from edge_agent.events import AlertFactory, AlertSink, DoorEvent
from edge_agent.sources.access.registry import build_adapters, tokenizer_for

log = logging.getLogger(__name__)


class AccessService:
    """start(), stop(timeout), alive(), progress(), snapshot() -> telemetry `adapters` section."""

    def __init__(self, access: AccessConfig, factory: AlertFactory, sink: AlertSink, clock: Clock,
                 timezone: str = "UTC", crossing_source: Any = None, tick_interval: float = 1.0):
        from edge_agent.rules.door import DoorRules
        from edge_agent.rules.fusion import TailgatingFusion

        tokenizer = tokenizer_for(access)
        self.rules = DoorRules(access, factory, sink, clock, timezone, tokenizer=tokenizer)
        self.fusion = TailgatingFusion(access, factory, sink, clock)
        self.adapters = build_adapters(access, self.on_event, clock, tokenizer=tokenizer)
        if crossing_source is not None and self.fusion.active:
            crossing_source.add_crossing_listener(self.fusion.on_crossing)
        elif self.fusion.active:
            log.warning("doors have camera lines but no video pipeline runs: tailgating is inactive")
        self._interval = tick_interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticks = 0
        self.tick_errors = 0

    def on_event(self, event: DoorEvent) -> None:
        self.rules.on_event(event)
        self.fusion.on_door_event(event)

    def start(self) -> None:
        self._stopping.clear()
        started = []
        try:
            for adapter in self.adapters:
                adapter.start()
                started.append(adapter)
        except BaseException:
            for adapter in started:
                adapter.stop(1.0)
            raise
        self._thread = threading.Thread(target=self._run, name="access-tick", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        for adapter in self.adapters:
            try:
                adapter.stop(timeout)
            except Exception:
                log.exception("stopping adapter %s failed", adapter.id, extra={"adapter": adapter.id})
        if self._thread is not None:
            self._thread.join(timeout)
        self.fusion.flush()

    def alive(self) -> bool:
        thread_ok = self._thread is not None and self._thread.is_alive()
        return thread_ok and all(adapter.alive() for adapter in self.adapters)

    def progress(self) -> int:
        return self._ticks

    def snapshot(self) -> dict[str, dict]:
        return {adapter.id: adapter.snapshot() for adapter in self.adapters}

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.rules.tick()
                self.fusion.tick()
            except Exception:  # a rule bug must not end the door feeds
                self.tick_errors += 1
                log.exception("door rule tick failed")
            self._ticks += 1
