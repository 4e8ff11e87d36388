"""Ready-made supervisor stages (a loop in a thread, a wrapper for a started component, a fault injector) and
`Stages`, what each stage builder yields."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from edge_agent.daemon.supervisor import Probe, StageSpec

log = logging.getLogger(__name__)


@dataclass
class Stages:
    """What one stage builder yields besides its own typed handles (daemon/parts.py): the stage specs for the
    supervisor, its counters for telemetry `system.agent`, and what to release when the build is dropped."""

    specs: list[StageSpec] = field(default_factory=list)
    counters: dict[str, Callable[[], int]] = field(default_factory=dict)
    closers: list[Callable[[], None]] = field(default_factory=list)


class LoopStage:
    """Calls `step()` every `interval` seconds in its own thread; every finished step is progress.

    An exception from `step` ends the thread, which the supervisor sees as a crash.
    """

    def __init__(self, name: str, step: Callable[[], None], interval: float, first_delay: float | None = None):
        self.name = name
        self._step = step
        self._interval = interval
        self._first_delay = interval if first_delay is None else first_delay
        self._stopping = threading.Event()
        self._beats = 0
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"stage-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def poll(self) -> Probe:
        return Probe(alive=self._thread.is_alive() or self._stopping.is_set(), progress=self._beats, error=self._error)

    def _run(self) -> None:
        delay = self._first_delay
        try:
            while not self._stopping.wait(delay):
                self._step()
                self._beats += 1
                delay = self._interval
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            log.exception("stage %s crashed", self.name, extra={"stage": self.name})


class ComponentStage:
    """Adapts a component with its own threads (camera source, publisher, adapter) to the supervisor.

    `alive()` says whether its threads still run; `progress()` returns a token that
    changes while it works, or None when the component has no observable progress
    (then only liveness is checked).
    """

    def __init__(
        self,
        name: str,
        component,
        alive: Callable[[], bool] | None = None,
        progress: Callable[[], Hashable] | None = None,
        start: Callable[[], None] | None = None,
        stop: Callable[[float], None] | None = None,
        why_dead: Callable[[], str | None] | None = None,
    ):
        self.name = name
        self._why_dead = why_dead or (lambda: None)
        self.component = component
        self._alive = alive or (lambda: True)
        self._progress = progress
        self._start = start or component.start
        self._stop = stop or component.stop
        self._ticks = 0

    def start(self) -> None:
        self._start()

    def stop(self, timeout: float) -> None:
        self._stop(timeout)

    def poll(self) -> Probe:
        if not self._alive():
            return Probe(alive=False, error=self._why_dead() or f"{self.name} is no longer running")
        if self._progress is None:
            self._ticks += 1  # no observable progress: liveness only
            return Probe(alive=True, progress=self._ticks)
        return Probe(alive=True, progress=self._progress())


class InjectedFault(RuntimeError):
    pass


class FaultInjectionStage(LoopStage):
    """A test hook: a stage that beats, then stalls or crashes once after `after` seconds.

    Enabled only by the EDGE_AGENT_FAULT environment variable (see `fault_from_env`),
    so the daemon's restart path can be exercised end to end by a test.
    """

    def __init__(self, name: str, mode: str, after: float, armed: Callable[[], bool]):
        super().__init__(name, self._tick, interval=0.1)
        self._mode = mode
        self._after = after
        self._armed = armed  # shared across instances: only the first one fails
        self._waited = 0.0

    def _tick(self) -> None:
        self._waited += 0.1
        if self._waited < self._after or not self._armed():
            return
        if self._mode == "crash":
            raise InjectedFault("injected crash")
        log.warning("fault injection: stage %s stalls now", self.name)
        self._stopping.wait()  # stuck: no more beats until told to stop


def fault_from_env(value: str | None) -> Callable[[], FaultInjectionStage] | None:
    """`stall:SECONDS` or `crash:SECONDS` → a factory for a stage that fails once; else None."""
    if not value:
        return None
    mode, _, seconds = value.partition(":")
    if mode not in ("stall", "crash"):
        raise ValueError(f"EDGE_AGENT_FAULT must be stall:SECONDS or crash:SECONDS, found {value!r}")
    remaining = [1]

    def armed() -> bool:
        if remaining[0] > 0:
            remaining[0] -= 1
            return True
        return False

    after = float(seconds or 1.0)
    return lambda: FaultInjectionStage("fault-injection", mode, after, armed)
