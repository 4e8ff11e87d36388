"""The running agent: signals, the supervision loop, systemd notification, config switches reported.

What runs (delivery, pipeline, supervisor) is the agent's `Runtime` (daemon/runtime.py), switched under the
agent's lock. A config change (SIGHUP, remote set-config, the page's Apply: daemon/config_change.py) is parsed and
validated completely first; an invalid one changes nothing and is reported (log + `agent.health` alert). A valid
one is switched to by `switch_to`, which reports how the switch ended: the new config runs; it was refused before
anything stopped; it failed to start and the previous config runs again (`config_rolled_back`); or even that
failed and the agent exits for systemd.

The outside (commands, the technician's page) sees the agent only through its face (`face`, daemon/face.py).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Mapping
from pathlib import Path

from edge_agent import __version__
from edge_agent.clock import Clock, SystemClock, iso_utc
from edge_agent.config import AgentConfig, ConfigError, read_config_text
from edge_agent.daemon import config_change
from edge_agent.daemon.core_watch import CoreWatch
from edge_agent.daemon.delivery import Delivery
from edge_agent.daemon.face import AgentFace
from edge_agent.daemon.notify import SystemdNotifier
from edge_agent.daemon.parts import PipelineParts
from edge_agent.daemon.reporting import StatusFacts, status_report
from edge_agent.daemon.runtime import Outcome, Runtime
from edge_agent.daemon.supervisor import Supervisor, SupervisorGaveUp
from edge_agent.enrolment.first_boot import enrolled
from edge_agent.events import Severity
from edge_agent.publish.commands import CommandDispatcher, CommandError, CommandServer

log = logging.getLogger(__name__)


class Agent:
    def __init__(
        self,
        config_path: Path,
        config_text: str,
        config: AgentConfig,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
        notifier: SystemdNotifier | None = None,
        no_revert: bool = False,
    ):
        """`no_revert`: a person on site ran `run --no-revert`; a SIGHUP reload is not confirmed or reverted."""
        self.config_path = Path(config_path)
        self._config, self._config_text = config, config_text  # switch_to and confirmed replace them
        self.clock = clock or SystemClock()
        self.environ = os.environ if environ is None else environ
        self.notifier = notifier or SystemdNotifier(self.environ)
        self.started_at = self.clock.wall()
        self.last_reload: dict | None = None
        self.exit_code = 0
        self.lock = threading.RLock()  # one config switch (or supervision round) at a time
        self.no_revert = no_revert
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._hup = threading.Event()
        self._healthy = False
        self.face = AgentFace(self)  # what commands and the technician's page see
        self.commands = CommandServer(
            CommandDispatcher(self.face, self.clock),
            command_prefix="",  # set when the delivery is built (topics depend on the config)
            reply=self._reply,
        )
        self.runtime = Runtime(
            config, self.clock, self.environ, self.commands, self.counters, self._stopping, started_at=self.started_at
        )

    # -- what runs (read-only; the runtime's current parts) -------------------------------------------------
    @property
    def config(self) -> AgentConfig:
        return self._config

    @property
    def config_text(self) -> str:
        return self._config_text

    @property
    def device_id(self) -> str:
        return self.runtime.device_id

    @property
    def delivery(self) -> Delivery | None:
        return self.runtime.delivery

    @property
    def pipeline(self) -> PipelineParts | None:
        return self.runtime.pipeline

    @property
    def supervisor(self) -> Supervisor | None:
        return self.runtime.supervisor

    @property
    def core(self) -> CoreWatch | None:
        return self.runtime.core

    # -- lifecycle -----------------------------------------------------------------------
    def run(self) -> int:
        self._install_signals()
        try:
            self.runtime.start(self.config)
        except Exception as exc:
            log.error("the agent could not start: %s", exc)
            self._shutdown()
            return os.EX_SOFTWARE
        self.commands.start()
        self.notifier.ready(self._status_line())
        log.info("edge-agent %s running as %s: %s", __version__, self.device_id, self._status_line())
        self._loop()
        self._shutdown()
        return self.exit_code

    def request_stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def request_reload(self) -> None:
        self._hup.set()
        self._wake.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # embedded use (tests): the caller stops us
        signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
        signal.signal(signal.SIGINT, lambda *_: self.request_stop())
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())

    def _loop(self) -> None:
        interval = min(1.0, self.notifier.watchdog_interval or 1.0)
        while not self._stopping.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            if self._stopping.is_set():
                break
            if self._hup.is_set():
                self._hup.clear()
                self.reload_from_file()
            self.tick()

    def tick(self) -> bool:
        """One supervision round; the systemd watchdog is fed only when every stage is healthy."""
        with self.lock:
            try:
                healthy = self.runtime.check(self.config)
            except SupervisorGaveUp as exc:
                log.error("stopping: %s", exc)
                self.exit_code = os.EX_SOFTWARE
                self.request_stop()
                return False
        if healthy:
            self.notifier.watchdog()
        if healthy != self._healthy:
            self._healthy = healthy
            self.notifier.status(self._status_line() if healthy else "degraded: restarting a stage")
        return healthy

    def _shutdown(self) -> None:
        self.notifier.stopping("stopping")
        log.info("stopping")
        self.commands.stop(timeout=2.0)
        with self.lock:
            self.runtime.stop()
        self.notifier.close()
        log.info("stopped")

    def _reply(self, topic: str, payload: str, correlation_data: bytes | None = None) -> None:
        if self.delivery is not None:
            self.delivery.reply(topic, payload, correlation_data)

    # -- config changes (the ConfigHost of daemon/config_change.py) -------------------------------------------
    def reload_from_file(self) -> None:
        origin = f"SIGHUP {self.config_path}"
        try:
            text = read_config_text(self.config_path)  # bounded: a huge file is refused, not read whole
            config_change.apply(self, config_change.Request(text, origin, persist=False, confirm=not self.no_revert))
        except ConfigError as exc:
            self.report_rejected(origin, exc.report())
        except CommandError:
            pass  # already logged and reported

    def apply_config_text(self, text: str, origin: str, persist: bool) -> dict:
        """Validate, switch, confirm or revert (daemon/config_change.py); raises CommandError when not applied."""
        return config_change.apply(self, config_change.Request(text, origin, persist))

    def parse_config(
        self, text: str, source: str, remote: bool, check_files: bool = True, keep_hidden: bool = False
    ) -> AgentConfig:
        """`text` parsed as this agent applies it (daemon/config_change.py `parse_for`)."""
        parsed = config_change.parse_for(self.config, self.environ, text, source, remote, check_files, keep_hidden)
        return enrolled(parsed)  # an enrolled box's id, site and mTLS come from its certificate, not the file

    def use_renewed_certificate(self) -> None:
        """enrolment/renewal.py replaced the identity file: a new publisher reads it (same outbox, nothing lost)."""
        with self.lock:
            if self.delivery is not None:
                self.runtime.replace_publisher(self.config)

    def switch_to(self, new: AgentConfig, origin: str) -> config_change.Switched:
        """Run `new` instead of the running config, one switch at a time. Raises CommandError when it cannot; the
        previous config then runs (never nothing: if even that fails the agent exits for systemd)."""
        with self.lock:
            previous = self.config
            if new == previous:
                return config_change.Switched(None, previous)
            self.notifier.reloading(f"reloading ({origin})")
            how, outcome = self.runtime.switch(previous, new, origin)
            if outcome.runs != "new":
                raise self._not_switched(outcome, origin)
            self._config = new
            log.info("config from %s running (%s)", origin, how)
            self.notifier.ready(self._status_line())
            return config_change.Switched(how, previous)

    def confirmed(self, text: str, origin: str) -> None:
        with self.lock:
            self._config_text = text
            self.record_reload(origin, "applied")

    def _not_switched(self, outcome: Outcome, origin: str) -> CommandError:
        """Report a switch that did not end with the new config running; returns the error for the caller."""
        error = outcome.error
        if outcome.runs == "not_built":
            self.report_rejected(origin, f"the new config failed to build: {error}")
            return CommandError(f"the new config failed to build; the running one goes on: {error}")
        if outcome.runs == "publisher_refused":
            return CommandError(f"the new broker settings cannot be used; nothing changed: {error}")
        if outcome.runs == "rolled_back":
            self.record_reload(origin, f"rolled back: {error}")
            self.delivery.health.emit(
                "config_rolled_back", f"config from {origin} failed to start and was rolled back: {error}"
            )
            self.notifier.ready(self._status_line())
            return CommandError(f"the new config failed to start and was rolled back: {error}")
        log.critical("the previous config failed to start again: %s", error)  # stranded: nothing runs
        self.exit_code = os.EX_SOFTWARE
        self.request_stop()  # systemd restarts us from the file
        return CommandError(f"the new config failed to start and so did the previous one: {error}")

    def unconfirmed(self) -> str | None:
        """Why the running config is not yet confirmed (broker not connected, a stage unhealthy), or None."""
        with self.lock:
            if self.delivery is None or not self.delivery.publisher.connected:
                error = self.delivery.publisher.last_error if self.delivery else None
                return f"not connected to the broker ({error or 'no connection yet'})"
            if self.supervisor is None or not self.supervisor.healthy():
                return "a stage is not healthy"
        return None

    def report_rejected(self, origin: str, reason: str) -> None:
        log.error("config from %s rejected; keeping the running config:\n%s", origin, reason)
        self.record_reload(origin, f"rejected: {reason}")
        if self.delivery is not None:
            self.delivery.health.emit("config_rejected", f"config from {origin} rejected: {reason}", Severity.minor)

    def report_reverted(self, origin: str, problem: str) -> None:
        self.record_reload(origin, f"reverted: {problem}")
        message = f"config from {origin} reverted to the last known-good one: {problem}"
        self.delivery.health.emit("config_reverted", message, Severity.major)

    def record_reload(self, origin: str, outcome: str) -> None:
        self.last_reload = {"at": iso_utc(self.clock.wall()), "origin": origin, "outcome": outcome[:1000]}

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # -- what the face and telemetry read -----------------------------------------------------------------------
    def status_report(self) -> dict:
        """The `status` reply, read under the lock: never half way through a switch."""
        with self.lock:
            supervisor, core = self.supervisor, self.runtime.current_core()
            facts = StatusFacts(
                device_id=self.device_id,
                config=self.config,
                config_text=self.config_text,
                config_file=self.config_path,
                started_at=self.started_at,
                now=self.clock.wall(),
                last_reload=self.last_reload,
                healthy=bool(supervisor and supervisor.healthy()) and (core is None or core.healthy()),
                stages={**(supervisor.snapshot() if supervisor else {}), **(core.snapshot() if core else {})},
                adapter_figures=self.pipeline.adapter_figures() if self.pipeline is not None else None,
                delivery=self.delivery.status() if self.delivery is not None else None,
            )
        return status_report(facts)

    def counters(self) -> dict:
        """The agent's own counters for telemetry `system.agent`."""
        return {**self.commands.figures(), "sd_notify_failures": self.notifier.failures}

    def _status_line(self) -> str:
        cameras = sum(1 for camera in self.config.cameras if camera.enabled)
        return f"running: {cameras} camera(s), {len(self.config.access.adapters)} access adapter(s)"
