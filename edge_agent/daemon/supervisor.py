"""The supervisor: starts stages, restarts the ones that stall or crash, and knows if all is well.

A stage is anything with `start()`, `stop(timeout)` and `poll()`. `poll()` returns a
`Probe`: whether the stage is alive, a progress token that changes while it works,
and an error if it died. A stage whose token does not change for `stall_timeout`
seconds is stalled. Python cannot kill a stuck thread, so a restart asks the old
instance to stop, abandons it if it does not, and starts a *fresh* instance from the
stage's factory (threads cannot be started twice).

Restarts are rate limited per stage: more than `max_restarts` within `restart_window`
seconds and the supervisor gives up, so the agent exits and systemd restarts the whole
process (Restart=on-failure). Each restart raises an `agent.health` alert.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Protocol

from edge_agent.clock import Clock
from edge_agent.events import Severity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Probe:
    alive: bool
    progress: Hashable = None
    error: str | None = None


class StageHealth(Protocol):
    """Where restarts are reported (daemon/health.py's Health)."""

    def stage_event(self, stage: str, reason: str, description: str, restarts: int, severity: Severity) -> None: ...


class Stage(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self, timeout: float) -> None: ...

    def poll(self) -> Probe: ...


@dataclass
class StageSpec:
    """How to make a stage. `stall_timeout` overrides the supervisor default (None = default)."""

    name: str
    factory: Callable[[], Stage]
    stall_timeout: float | None = None


@dataclass
class StageState:
    spec: StageSpec
    stage: Stage | None = None
    last_progress: Hashable = None
    progress_at: float = 0.0
    restarts: deque = field(default_factory=deque)  # monotonic times of recent restarts
    total_restarts: int = 0
    status: str = "new"  # new | running | restarting | failed | stopped
    last_error: str | None = None


class SupervisorGaveUp(RuntimeError):
    """A stage failed more often than the restart budget allows."""


class Supervisor:
    def __init__(
        self,
        stall_timeout: float,
        max_restarts: int,
        restart_window: float,
        clock: Clock,
        health: StageHealth | None = None,
        stop_timeout: float = 5.0,
    ):
        self.stall_timeout = stall_timeout
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.clock = clock
        self.health = health
        self.stop_timeout = stop_timeout
        self._states: list[StageState] = []
        self._lock = threading.RLock()
        self.gave_up: str | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self, specs: list[StageSpec]) -> None:
        """Start every stage in order; if one fails to start, stop those already started and raise."""
        with self._lock:
            started: list[StageState] = []
            try:
                for spec in specs:
                    state = StageState(spec=spec)
                    self._start_instance(state)
                    started.append(state)
            except BaseException:
                for state in reversed(started):
                    self._stop_instance(state)
                raise
            self._states.extend(started)

    def stop_stages(self, names: set[str]) -> None:
        """Stop and forget the named stages (reverse start order); the others run on."""
        with self._lock:
            for state in reversed([state for state in self._states if state.spec.name in names]):
                self._stop_instance(state)
                state.status = "stopped"
            self._states = [state for state in self._states if state.spec.name not in names]

    def stop(self) -> None:
        """Stop every stage in reverse start order."""
        with self._lock:
            for state in reversed(self._states):
                self._stop_instance(state)
                state.status = "stopped"
            self._states.clear()

    # -- monitoring ------------------------------------------------------------------
    def check(self) -> bool:
        """Look at every stage once, restarting the failed ones. True when all are healthy.

        Raises SupervisorGaveUp when a stage exhausts its restart budget.
        """
        with self._lock:
            healthy = True
            for state in self._states:
                problem = self._problem(state)
                if problem is None:
                    continue
                healthy = False
                self._restart(state, problem)
            return healthy

    def healthy(self) -> bool:
        with self._lock:
            return self.gave_up is None and all(self._problem(state) is None for state in self._states)

    def snapshot(self) -> dict[str, dict]:
        """Per stage: status, restarts, seconds since progress, last error (for status and telemetry)."""
        now = self.clock.monotonic()
        with self._lock:
            return {
                state.spec.name: {
                    "status": state.status,
                    "restarts": state.total_restarts,
                    "idle_s": round(now - state.progress_at, 1),
                    "last_error": state.last_error,
                }
                for state in self._states
            }

    def stage(self, name: str) -> Stage | None:
        with self._lock:
            for state in self._states:
                if state.spec.name == name:
                    return state.stage
        return None

    # -- internals -------------------------------------------------------------------
    def _problem(self, state: StageState) -> tuple[str, str] | None:
        """(reason, description) when the stage needs a restart, else None."""
        try:
            probe = state.stage.poll()
        except Exception as exc:  # a broken probe is a broken stage
            return "stage_crashed", f"poll failed: {exc!r}"
        now = self.clock.monotonic()
        if not probe.alive:
            return "stage_crashed", probe.error or "stage stopped running"
        if probe.progress != state.last_progress:
            state.last_progress = probe.progress
            state.progress_at = now
            return None
        timeout = state.spec.stall_timeout or self.stall_timeout
        idle = now - state.progress_at
        if idle > timeout:
            return "stage_stalled", f"no progress for {idle:.1f}s (limit {timeout:g}s)"
        return None

    def _restart(self, state: StageState, problem: tuple[str, str]) -> None:
        reason, description = problem
        name = state.spec.name
        now = self.clock.monotonic()
        while state.restarts and now - state.restarts[0] > self.restart_window:
            state.restarts.popleft()
        state.last_error = description
        if len(state.restarts) >= self.max_restarts:
            state.status = "failed"
            self.gave_up = (
                f"stage {name} failed {len(state.restarts) + 1} times within {self.restart_window:g}s: {description}"
            )
            log.error("giving up: %s", self.gave_up, extra={"stage": name})
            self._report(name, "stage_gave_up", description, state, Severity.critical)
            raise SupervisorGaveUp(self.gave_up)
        state.restarts.append(now)
        state.total_restarts += 1
        log.warning("restarting stage %s (%s): %s", name, reason, description, extra={"stage": name})
        state.status = "restarting"
        self._stop_instance(state)
        try:
            self._start_instance(state)
        except Exception as exc:
            state.last_error = f"restart failed: {exc!r}"
            state.status = "restarting"  # the next check tries again, within the budget
            log.error("stage %s failed to restart: %r", name, exc, extra={"stage": name})
        self._report(name, reason, description, state, Severity.major)

    def _start_instance(self, state: StageState) -> None:
        state.stage = state.spec.factory()
        state.stage.start()
        state.last_progress = object()  # the first poll always counts as progress
        state.progress_at = self.clock.monotonic()
        state.status = "running"

    def _stop_instance(self, state: StageState) -> None:
        if state.stage is None:
            return
        try:
            state.stage.stop(self.stop_timeout)
        except Exception as exc:
            log.warning("stage %s did not stop cleanly: %r", state.spec.name, exc, extra={"stage": state.spec.name})

    def _report(self, name: str, reason: str, description: str, state: StageState, severity: Severity) -> None:
        if self.health is not None:
            self.health.stage_event(name, reason, description, state.total_restarts, severity)
