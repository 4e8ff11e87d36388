"""What runs now, and how it is switched: the delivery, the pipeline and its supervisor, the core watch.

The `Agent` owns one `Runtime` and calls it under its lock. `switch` tries one of three ways to a new config and
says how it ended with an `Outcome` (it returns on every path: nothing here raises to report a rollback); the
agent reports the outcome (daemon/agent.py `switch_to`). The ways:

- a new store (`device`, `outbox` or `mqtt.topic_prefix` changed): break before make, the previous config
  started again if the new one fails;
- only `mqtt` changed: a new publisher on the same outbox (built first: a bad TLS file changes nothing);
- anything else: make before break (daemon/reload.py `hand_over`); a new pipeline that dies within
  `supervisor.start_grace` hands the state back to a rebuilt previous one the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from edge_agent.clock import Clock
from edge_agent.config import AgentConfig
from edge_agent.daemon.core_watch import CoreWatch
from edge_agent.daemon.delivery import Delivery, store_sections
from edge_agent.daemon.health import Health
from edge_agent.daemon.parts import PipelineParts
from edge_agent.daemon.pipeline import build_pipeline
from edge_agent.daemon.reload import Running, end_episodes, end_orphans, hand_over, settle_previous_run, start_pipeline
from edge_agent.daemon.supervisor import Supervisor
from edge_agent.daemon.telemetry import Section
from edge_agent.events import Alert
from edge_agent.identity import device_id_for
from edge_agent.publish.commands import CommandServer

log = logging.getLogger(__name__)

Runs = Literal["new", "not_built", "publisher_refused", "rolled_back", "stranded"]


class StartFailed(RuntimeError):
    """A config was valid but its pipeline did not start."""


@dataclass(frozen=True)
class Outcome:
    """How a switch ended. `runs`: "new" (the new config runs); "not_built" (it failed to build, the running one goes
    on untouched); "publisher_refused" (its broker settings cannot be used; nothing changed); "rolled_back" (it
    failed to start; the previous config runs again); "stranded" (even that failed: nothing runs). `error`: why."""

    runs: Runs
    error: str = ""


NEW_RUNS = Outcome("new")


class Runtime:
    def __init__(
        self,
        config: AgentConfig,
        clock: Clock,
        environ: Mapping[str, str],
        commands: CommandServer,
        agent_figures: Section,
        stopping: threading.Event,
        started_at: float | None = None,
    ):
        """`agent_figures`: the agent's own counters for telemetry; `stopping`: set when the agent stops (a start
        grace is not waited out then); `started_at`: the agent's start, the one the status message and reply show."""
        self.device_id = device_id_for(config)
        self.started_at = started_at
        self.delivery: Delivery | None = None
        self.pipeline: PipelineParts | None = None
        self.supervisor: Supervisor | None = None
        self.core: CoreWatch | None = None  # the publisher and command server: they outlive reloads
        self._clock = clock
        self._environ = environ
        self._commands = commands
        self._agent_figures = agent_figures
        self._stopping = stopping

    # -- start, watch, stop ----------------------------------------------------------------------
    def start(self, config: AgentConfig) -> None:
        """The delivery, the last run's open episodes settled, the pipeline; raises (having stopped all) if not."""
        try:
            self._start_delivery(config)
            ends = settle_previous_run(self.delivery, config)
            self._start_pipeline(config, ends)
        except Exception:
            self.stop()
            raise

    def check(self, config: AgentConfig) -> bool:
        """One supervision round over the pipeline's stages and the core (raises SupervisorGaveUp past a budget)."""
        healthy = self.supervisor.check() if self.supervisor else False
        return self._check_core(config) and healthy

    def _check_core(self, config: AgentConfig) -> bool:
        """The publisher and command server are watched here, not in the pipeline: they outlive reloads."""
        if self.delivery is None:
            return False
        if self.core is None or self.core.delivery is not self.delivery:  # a reload built a new delivery
            self.core = CoreWatch(self.delivery, self._commands, config.supervisor, self._clock)
        return self.core.check()

    def current_core(self) -> CoreWatch | None:
        """The core watch of the current delivery (None right after a reload renewed it, until the next round)."""
        return self.core if self.core is not None and self.core.delivery is self.delivery else None

    def stop(self) -> None:
        self._stop_pipeline()
        self._stop_delivery()

    # -- building blocks ---------------------------------------------------------------------------
    def _start_delivery(self, config: AgentConfig, health: Health | None = None) -> None:
        self.device_id = device_id_for(config)
        delivery = Delivery.build(config, self.device_id, self._clock, health, started_at=self.started_at)
        self._commands.command_prefix = delivery.topics.base + "/cmd/"
        delivery.start(self._commands.on_message)
        self.delivery = delivery

    def _stop_delivery(self) -> Health | None:
        """Stops the outbox and publisher; returns their Health, whose open episodes the next delivery continues."""
        if self.delivery is None:
            return None
        health = self.delivery.health
        self.delivery.stop(timeout=10.0)
        self.delivery = None
        return health

    def _new_running(self, config: AgentConfig) -> Running:
        """Build (not start) a pipeline: loads and verifies the model, reads key files, constructs adapters."""
        sup = config.supervisor
        supervisor = Supervisor(
            sup.stall_timeout, sup.max_restarts, sup.restart_window, self._clock, self.delivery.health
        )
        parts = build_pipeline(
            config,
            self.delivery,
            self._clock,
            lambda: {**supervisor.snapshot(), **(self.core.snapshot() if self.core is not None else {})},
            self._environ,
            self._agent_figures,
        )
        return Running(config, parts, supervisor)

    def _start_pipeline(self, config: AgentConfig, ended_without_a_pipeline: Sequence[Alert] = ()) -> None:
        """Build and start a pipeline, then wait out its start grace; raises (having stopped it) if it fails."""
        running = self._new_running(config)
        start_pipeline(running, self.delivery.sink, ended_without_a_pipeline)
        self._runs(running)
        problem = self._start_problem(running.supervisor, config.supervisor.start_grace)
        if problem is not None:
            self._stop_pipeline()
            raise StartFailed(problem)

    def _start_problem(self, supervisor: Supervisor, grace: float) -> str | None:
        """Why a pipeline failed its start (a stage died within `grace` seconds of starting), or None."""
        deadline = self._clock.monotonic() + grace
        while self._clock.monotonic() < deadline:
            if not supervisor.healthy():
                problems = {name: s["last_error"] or s["status"] for name, s in supervisor.snapshot().items()}
                return f"a stage died while starting: {problems}"
            self._stopping.wait(0.1)
        return None

    def _runs(self, running: Running | None) -> None:
        self.supervisor, self.pipeline = (running.supervisor, running.parts) if running else (None, None)

    def _stop_pipeline(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.pipeline is not None:
            self.pipeline.close()
        self._runs(None)

    # -- switching ---------------------------------------------------------------------------------------
    def switch(self, old: AgentConfig, new: AgentConfig, origin: str) -> tuple[str, Outcome]:
        """Run `new` instead of `old`: (how, Outcome). A changed broker gets a new publisher first; a pipeline change
        then makes before it breaks."""
        if store_sections(new) != store_sections(old):
            return "restarted_all", self._restart_all(old, new, origin)
        if new.mqtt != old.mqtt:
            outcome = self._replace_publisher(new)
            if outcome.runs != "new":
                return "make_before_break", outcome
        if new.model_copy(update={"mqtt": old.mqtt}) == old:
            return "make_before_break", NEW_RUNS
        return "make_before_break", self._hand_over(old, new, origin)

    def replace_publisher(self, new: AgentConfig) -> Outcome:
        """A new publisher for the same config: it reads the TLS files again (a renewed certificate)."""
        return self._replace_publisher(new)

    def _replace_publisher(self, new: AgentConfig) -> Outcome:
        try:
            self.delivery.replace_publisher(new.mqtt, self._commands.on_message)
        except Exception as exc:  # a TLS file missing, say: the old connection still runs
            return Outcome("publisher_refused", str(exc))
        self.core = None  # the next round watches the new publisher (the old watch would "restart" the stopped one)
        return NEW_RUNS

    def _hand_over(self, old: AgentConfig, new: AgentConfig, origin: str) -> Outcome:
        try:
            incoming = self._new_running(new)
        except Exception as exc:  # the running pipeline never noticed
            return Outcome("not_built", str(exc))
        outgoing = Running(old, self.pipeline, self.supervisor)
        try:
            hand_over(outgoing, incoming, self.delivery)
        except Exception as exc:  # both pipelines are stopped
            return self._start_again(outgoing, origin, str(exc))
        self._runs(incoming)
        problem = self._start_problem(incoming.supervisor, new.supervisor.start_grace)
        if problem is None:
            return NEW_RUNS
        try:  # the state goes back the way it came
            back = self._new_running(old)
            hand_over(incoming, back, self.delivery)
        except Exception:  # both pipelines are stopped
            return self._start_again(Running(old, incoming.parts, incoming.supervisor), origin, problem)
        self._runs(back)
        return Outcome("rolled_back", problem)

    def _start_again(self, previous: Running, origin: str, error: str) -> Outcome:
        """A hand-over failed half way (both pipelines are stopped): start the previous config afresh, and end the
        episodes its old pipeline held that the fresh one does not."""
        self._runs(None)
        log.error("config from %s failed to start (%s); starting the previous one again", origin, error)
        try:
            self._start_pipeline(previous.config)
        except Exception as exc:
            return Outcome("stranded", str(exc))
        end_orphans(previous.parts, self.pipeline, previous.config, self.delivery)
        return Outcome("rolled_back", error)

    def _restart_all(self, old: AgentConfig, new: AgentConfig, origin: str) -> Outcome:
        """Identity, state directory, outbox or topic prefix changed: a new store, so break before make."""
        outgoing = self.pipeline
        self._stop_pipeline()
        ends = end_episodes(self.delivery, outgoing.held_episodes(), "config_changed") if outgoing else []
        health = self._stop_delivery()
        try:
            self._start_delivery(new, health)
            self._start_pipeline(new, ends)
            return NEW_RUNS
        except Exception as exc:
            error = str(exc)
        log.error("config from %s failed to start (%s); starting the previous one again", origin, error)
        self.stop()
        try:
            self._start_delivery(old, health)
            self._start_pipeline(old, ends)
        except Exception as exc:
            return Outcome("stranded", str(exc))
        return Outcome("rolled_back", error)
