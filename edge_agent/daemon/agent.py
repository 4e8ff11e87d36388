"""The running agent: delivery + supervised pipeline, signals, systemd notification, reloads with rollback.

Reload (SIGHUP or remote set-config): the new config is parsed and validated completely
first; an invalid one changes nothing and is reported (log + `agent.health` alert). A
valid one replaces the running pipeline; if the new pipeline fails to start (a stage
raises, or dies within `supervisor.start_grace` seconds), it is torn down and the
previous config is started again, and that is reported too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
from collections.abc import Mapping
from pathlib import Path

from edge_agent import __version__
from edge_agent.clock import Clock, SystemClock, iso_utc
from edge_agent.config import AgentConfig, ConfigError, read_config_text
from edge_agent.config.hidden import as_written
from edge_agent.config.redaction import redact
from edge_agent.daemon import config_change
from edge_agent.daemon.action_stages import run_action
from edge_agent.daemon.core_watch import CoreWatch
from edge_agent.daemon.delivery import Delivery, store_sections
from edge_agent.daemon.notify import SystemdNotifier
from edge_agent.daemon.pipeline import PipelineParts, build_pipeline
from edge_agent.daemon.reload import (
    Running,
    end_episodes,
    end_orphans,
    hand_over,
    held_episodes,
    settle_previous_run,
    start_pipeline,
)
from edge_agent.daemon.reporting import agent_counters, status_report
from edge_agent.daemon.supervisor import Supervisor, SupervisorGaveUp
from edge_agent.events import Severity
from edge_agent.identity import device_id_for
from edge_agent.publish.commands import CommandDispatcher, CommandError, CommandServer

log = logging.getLogger(__name__)


class StartFailed(RuntimeError):
    """A config was valid but its pipeline did not start."""


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
        self.config_text = config_text
        self.config = config
        self.clock = clock or SystemClock()
        self.environ = os.environ if environ is None else environ
        self.notifier = notifier or SystemdNotifier(self.environ)
        self.device_id = device_id_for(config)
        self.started_at = self.clock.wall()
        self.delivery: Delivery | None = None
        self.pipeline: PipelineParts | None = None
        self.supervisor: Supervisor | None = None
        self.core: CoreWatch | None = None  # the publisher and command server: they outlive reloads
        self.last_reload: dict | None = None
        self.exit_code = 0
        self.lock = threading.RLock()  # one config switch (or supervision round) at a time
        self.no_revert = no_revert
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._hup = threading.Event()
        self._healthy = False
        self.commands = CommandServer(
            CommandDispatcher(self, self.clock),
            command_prefix="",  # set when the delivery is built (topics depend on the config)
            reply=self._reply,
            reply_topic=lambda name: self.delivery.topics.command_reply(name),
        )

    # -- lifecycle -----------------------------------------------------------------------
    def run(self) -> int:
        self._install_signals()
        try:
            self._start_delivery(self.config)
            ends = settle_previous_run(self.delivery, self.config)
            self._start_pipeline(self.config, ends)
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
                healthy = self.supervisor.check() if self.supervisor else False
                healthy = self._check_core() and healthy
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

    def _check_core(self) -> bool:
        """The publisher and command server are watched here, not in the pipeline: they outlive reloads."""
        if self.delivery is None:
            return False
        if self.core is None or self.core.delivery is not self.delivery:  # a reload built a new delivery
            self.core = CoreWatch(self.delivery, self.commands, self.config.supervisor, self.clock)
        return self.core.check()

    def _shutdown(self) -> None:
        self.notifier.stopping("stopping")
        log.info("stopping")
        self.commands.stop(timeout=2.0)
        with self.lock:
            self._stop_pipeline()
            self._stop_delivery()
        self.notifier.close()
        log.info("stopped")

    # -- building blocks -----------------------------------------------------------------
    def _start_delivery(self, config: AgentConfig, health=None) -> None:
        self.device_id = device_id_for(config)
        delivery = Delivery.build(config, self.device_id, self.clock, health)
        self.commands.command_prefix = delivery.topics.base + "/cmd/"
        delivery.start(self.commands.on_message)
        self.delivery = delivery

    def _stop_delivery(self):
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
            sup.stall_timeout, sup.max_restarts, sup.restart_window, self.clock, self.delivery.health
        )
        parts = build_pipeline(
            config,
            self.delivery,
            self.clock,
            lambda: {**supervisor.snapshot(), **(self.core.snapshot() if self.core is not None else {})},
            self.environ,
            self.counters,
        )
        return Running(config, parts, supervisor)

    def _start_pipeline(self, config: AgentConfig, ended_without_a_pipeline=()) -> None:
        running = self._new_running(config)
        start_pipeline(running, self.delivery.sink, ended_without_a_pipeline)
        self.supervisor, self.pipeline = running.supervisor, running.parts
        try:
            self._await_start(running.supervisor, config.supervisor.start_grace)
        except BaseException:
            self._stop_pipeline()
            raise

    def _await_start(self, supervisor: Supervisor, grace: float) -> None:
        """A stage that dies within `grace` seconds of starting fails the start."""
        deadline = self.clock.monotonic() + grace
        while self.clock.monotonic() < deadline:
            if not supervisor.healthy():
                problems = {name: s["last_error"] or s["status"] for name, s in supervisor.snapshot().items()}
                raise StartFailed(f"a stage died while starting: {problems}")
            self._stopping.wait(0.1)

    def _stop_pipeline(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.pipeline is not None:
            self.pipeline.close()
        self.supervisor = self.pipeline = None

    def _reply(self, topic: str, payload: str) -> None:
        if self.delivery is not None:
            self.delivery.reply(topic, payload)

    # -- config changes ----------------------------------------------------------------------
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

    def switch_to(self, new: AgentConfig, origin: str) -> dict:
        """Run `new` instead of the current config (the caller holds `lock`). Raises CommandError when it cannot;
        the previous config then runs (never nothing: if even that fails the agent exits for systemd)."""
        old = self.config
        if new == old:
            return {"changed": False}
        self.notifier.reloading(f"reloading ({origin})")
        if store_sections(new) != store_sections(old):
            self._restart_all(new, origin)
            how = "restarted_all"
        else:
            if new.mqtt != old.mqtt:
                self._replace_publisher(new)
            if new.model_copy(update={"mqtt": old.mqtt}) != old:
                self._hand_over(new, origin)
            how = "make_before_break"
        self.config = new
        log.info("config from %s running (%s)", origin, how)
        self.notifier.ready(self._status_line())
        return {"changed": True, "switch": how}

    def _replace_publisher(self, new: AgentConfig) -> None:
        try:
            self.delivery.replace_publisher(new.mqtt, self.commands.on_message)
        except Exception as exc:  # a TLS file missing, say: the old connection still runs
            raise CommandError(f"the new broker settings cannot be used; nothing changed: {exc}") from None
        self.core = None  # the next round watches the new publisher (the old watch would "restart" the stopped one)

    def _hand_over(self, new: AgentConfig, origin: str) -> None:
        try:
            incoming = self._new_running(new)
        except Exception as exc:  # the running pipeline never noticed
            self.report_rejected(origin, f"the new config failed to build: {exc}")
            raise CommandError(f"the new config failed to build; the running one goes on: {exc}") from None
        outgoing = Running(self.config, self.pipeline, self.supervisor)
        try:
            hand_over(outgoing, incoming, self.delivery)
        except Exception as exc:
            self.supervisor = self.pipeline = None
            self._roll_back(outgoing, origin, exc)
        self.supervisor, self.pipeline = incoming.supervisor, incoming.parts
        try:
            self._await_start(incoming.supervisor, new.supervisor.start_grace)
        except StartFailed as exc:
            try:  # the state goes back the way it came
                back = self._new_running(outgoing.config)
                hand_over(incoming, back, self.delivery)
                self.supervisor, self.pipeline = back.supervisor, back.parts
            except Exception:
                self.supervisor = self.pipeline = None
                self._roll_back(Running(outgoing.config, incoming.parts, incoming.supervisor), origin, exc)
            self._report_rolled_back(origin, exc)

    def _roll_back(self, previous: Running, origin: str, error: Exception) -> None:
        """The hand-over failed half way (the old pipeline is stopped): start the previous config afresh."""
        log.error("config from %s failed to start (%s); starting the previous one again", origin, error)
        try:
            self._start_pipeline(previous.config)
        except Exception as exc:  # nothing left to run: let systemd restart us from the file
            log.critical("the previous config failed to start again: %s", exc)
            self.exit_code = os.EX_SOFTWARE
            self.request_stop()
            raise CommandError(f"the new config failed to start and so did the previous one: {exc}") from None
        end_orphans(previous.parts, self.pipeline, previous.config, self.delivery)
        self._report_rolled_back(origin, error)

    def _restart_all(self, new: AgentConfig, origin: str) -> None:
        """Identity, state directory, outbox or topic prefix changed: a new store, so break before make."""
        outgoing = self.pipeline
        self._stop_pipeline()
        ends = end_episodes(self.delivery, held_episodes(outgoing), "config_changed") if outgoing else []
        health = self._stop_delivery()
        try:
            self._start_delivery(new, health)
            self._start_pipeline(new, ends)
        except Exception as exc:
            log.error("config from %s failed to start (%s); starting the previous one again", origin, exc)
            self._stop_pipeline()
            self._stop_delivery()
            try:
                self._start_delivery(self.config, health)
                self._start_pipeline(self.config, ends)
            except Exception as again:
                log.critical("the previous config failed to start again: %s", again)
                self.exit_code = os.EX_SOFTWARE
                self.request_stop()
                raise CommandError(f"the new config failed to start and so did the previous one: {again}") from None
            self._report_rolled_back(origin, exc)

    def _report_rolled_back(self, origin: str, error: Exception):
        message = f"config from {origin} failed to start and was rolled back: {error}"
        self.record_reload(origin, f"rolled back: {error}")
        self.delivery.health.emit("config_rolled_back", message)
        self.notifier.ready(self._status_line())
        raise CommandError(f"the new config failed to start and was rolled back: {error}") from None

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

    def record_reload(self, origin: str, outcome: str) -> None:
        self.last_reload = {"at": iso_utc(self.clock.wall()), "origin": origin, "outcome": outcome[:1000]}

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    # -- what commands and telemetry see -------------------------------------------------------
    def status_report(self) -> dict:
        with self.lock:
            return status_report(self)

    def counters(self) -> dict:
        """The agent's own counters for telemetry `system.agent`."""
        return agent_counters(self)

    def latest_frame(self, camera_id: str):  # read-only, for the technician's page: the pipeline still gets it
        return self.pipeline.latest_frame(camera_id) if self.pipeline is not None else None

    def redacted_config(self) -> dict:
        """The running config for get-config: inline secrets starred, `${ENV}` values shown as written (never
        their values: the daemon's environment stays on the box)."""
        return redact(as_written(self.config.model_dump(mode="json"), self.config.env_references))

    def resend_since(self, wall: float) -> int:
        return self.delivery.outbox.requeue_since(wall)

    def run_action(self, name: str, event_id: str | None, request_id: str | None) -> dict:
        pipeline = self.pipeline  # not under the lock: the reply may wait for the run's outcome
        return run_action(pipeline.actions() if pipeline and pipeline.actions else None, name, event_id, request_id)

    def config_digest(self) -> str:
        return hashlib.sha256(self.config_text.encode()).hexdigest()

    def _status_line(self) -> str:
        cameras = sum(1 for camera in self.config.cameras if camera.enabled)
        return f"running: {cameras} camera(s), {len(self.config.access.adapters)} access adapter(s)"
