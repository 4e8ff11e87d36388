"""Everything access control needs at run time, in one component the daemon's access stage runs.

Builds the adapters, the door rules and the tailgating fusion from the access
config, wires adapters -> rules + fusion and (when given the video rule
engine) camera crossings -> fusion, and runs the periodic tick (held-open
timers, welfare checks, tailgating judgement) on its own thread. Adapter link
changes and start failures go to the daemon's Health as adapter_offline /
adapter_online episodes (not while the service itself is stopping).

Each adapter starts on its own: one that cannot (serial device unplugged, port
in use) runs offline with `last_error` set and is started again by a retry
thread after a full-jitter back-off (access.retry_min_delay .. retry_max_delay),
so a USB-RS485 dongle plugged in later just works and nothing else waits on it.

`on_event` returns only once the alerts the event raised are committed, and
raises StoreUnavailable when they could not be (door_commit.py), so adapters
acknowledge only what is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from edge_agent.access.adapter_health import AdapterHealth
from edge_agent.access.door_commit import EventCommitter, StagedSink
from edge_agent.backoff import FullJitterBackoff
from edge_agent.clock import Clock
from edge_agent.config.access import AccessConfig
from edge_agent.credentials import tokenizer_for
from edge_agent.events import AlertFactory, AlertSink, CrossingFeed, DoorEvent
from edge_agent.rules.door import DoorRules
from edge_agent.rules.fusion import TailgatingFusion
from edge_agent.sources.access.base import AccessAdapter
from edge_agent.sources.access.registry import build_adapters, describe_start_error, endpoint_of
from edge_agent.store.state_store import StateStore

log = logging.getLogger(__name__)

WELFARE_SCOPE = "welfare_silence"
DENIALS_SCOPE = "denial_history"  # door id -> its door.denied_rising history (rules/denials.py)
DENIALS_SAVED_SCOPE, SAVED_AT = "denial_history_saved", "at"  # when it was last saved: a restart's downtime starts
WELFARE_SAVE_S = 60.0  # welfare silence and denial histories
RETRY_POLL_S = 0.5  # longest wait between looks at the clock, so a stepped (fake) clock is seen soon
STOP_AFTER_FAILED_START_S = 1.0


@dataclass
class PendingStart:
    """An adapter whose start failed: when to try again, and how the delay grows."""

    backoff: FullJitterBackoff
    due: float


class AccessService:
    """start(), stop(timeout), alive(), progress(), snapshot() -> telemetry `adapters` section."""

    def __init__(
        self,
        access: AccessConfig,
        factory: AlertFactory,
        sink: AlertSink,
        clock: Clock,
        timezone: str = "UTC",
        crossings: CrossingFeed | None = None,
        tick_interval: float = 1.0,
        health: AdapterHealth | None = None,
        hang_timeout: float = 30.0,
        state: StateStore | None = None,
    ):
        """`crossings`: the video side's line crossings (tailgating fusion listens); `state`: where welfare silence and
        the doors' denial histories are kept, so a restart does not reset a 24-48 h watch to zero nor forget what is
        usual at a door."""
        tokenizer = tokenizer_for(access)
        staged = StagedSink(sink)
        self.rules = DoorRules(access, factory, staged, clock, timezone, tokenizer=tokenizer)
        self.fusion = TailgatingFusion(access, factory, staged, clock)
        self.committer = EventCommitter(staged, self._decide)
        self.adapters = build_adapters(access, self.on_event, clock, tokenizer=tokenizer)
        self.health = health
        self.state = state
        if state is not None:
            self.rules.restore_welfare_silence(state.facts(WELFARE_SCOPE))
            self._restore_denials(state)
        self._stale_dropped = False
        self._keep_pending = False  # set when a reload hands the fusion's waiting crossings to the next service
        for adapter in self.adapters:
            adapter.on_link = self._link_changed
        if crossings is not None and self.fusion.active:
            crossings.add_crossing_listener(self.fusion.on_crossing)
        elif self.fusion.active:
            log.warning("doors have camera lines but no video pipeline runs: tailgating is inactive")
        self._handed_over: set[str] = set()
        self._interval = tick_interval
        self._clock = clock
        self._retry_delays = (access.retry_min_delay, access.retry_max_delay)
        self._pending: dict[str, PendingStart] = {}
        self._pending_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry_thread: threading.Thread | None = None
        self._ticks = 0
        self.tick_errors = 0
        self._hang_timeout = hang_timeout
        self._turns: dict[str, tuple[int, float]] = {}  # adapter id -> (loop turns, real time they last changed)
        self.hung: str | None = None  # which adapter thread hung, for the restart's alert

    def on_event(self, event: DoorEvent) -> None:
        """Returns once the event's alerts are committed; raises StoreUnavailable when they could not be."""
        self.committer.on_event(event)

    def _decide(self, event: DoorEvent) -> None:
        self.rules.on_event(event)
        self.fusion.on_door_event(event)

    # -- reloads (the Carried protocol of daemon/parts.py) -------------------------------------------
    def hand_over(self, successor: AccessService | None) -> None:
        """A reload replaces this service: with a successor, the fusion's waiting crossings are judged there, so this
        service's stop does not flush them."""
        if successor is not None:
            self._keep_pending = True

    def adopt(self, old: AccessService) -> list[str]:
        """Take over a running service's state at a reload: door rules, fusion, and every adapter whose config
        is unchanged, still running (its port, serial device and connection are handed over, not reopened).
        Call before `start()` and before `old.stop()`; returns the ids of the adapters taken over."""
        self.rules.adopt(old.rules)
        self.fusion.adopt(old.fusion)
        kept = []
        running = {adapter.id: adapter for adapter in old.adapters if adapter.id not in old.retrying()}
        for index, adapter in enumerate(self.adapters):
            previous = running.get(adapter.id)
            if previous is None or previous.config != adapter.config or previous.type != adapter.type:
                continue
            previous.rebind(self.on_event)
            previous.on_link = self._link_changed
            self.adapters[index] = previous
            old.adapters.remove(previous)  # old.stop() must leave it running
            kept.append(adapter.id)
        self._handed_over = set(kept)
        return kept

    def release(self) -> None:
        """The build is dropped before this service started (a reload failed half way): stop the adapters a
        predecessor handed over, still running, so their ports and devices are free for the config started next."""
        for adapter in self.adapters:
            if adapter.id in self._handed_over:
                adapter.stop(STOP_AFTER_FAILED_START_S)
        self._handed_over = set()

    def start(self) -> None:
        """Starts every adapter it can; the others run offline and are retried. Never raises for one adapter."""
        self._stopping.clear()
        self._turns.clear()
        self.hung = None
        with self._pending_lock:
            self._pending.clear()
        for adapter in self.adapters:
            if adapter.id in self._handed_over:
                continue  # already running: handed over by the previous pipeline
            self._try_start(adapter)
        self._handed_over = set()  # a restart by the supervisor starts them all afresh
        self._thread = threading.Thread(target=self._run, name="access-tick", daemon=True)
        self._thread.start()
        self._retry_thread = threading.Thread(target=self._retry_run, name="access-retry", daemon=True)
        self._retry_thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._retry_thread is not None:  # first, so no retry starts an adapter after it was stopped
            self._retry_thread.join(timeout)
        for adapter in self.adapters:
            try:
                adapter.stop(timeout)
            except Exception:
                log.exception("stopping adapter %s failed", adapter.id, extra={"adapter": adapter.id})
        with self._pending_lock:
            self._pending.clear()
        if self._thread is not None:
            self._thread.join(timeout)
        self._save_state()
        if not self._keep_pending:
            self.fusion.flush()

    def alive(self) -> bool:
        """The tick and retry threads run and every started adapter's threads run (a retried one is not dead)."""
        threads_ok = all(thread is not None and thread.is_alive() for thread in (self._thread, self._retry_thread))
        with self._pending_lock:
            waiting = set(self._pending)
        running = [adapter for adapter in self.adapters if adapter.id not in waiting]
        return threads_ok and all(adapter.alive() and not self._hung(adapter) for adapter in running)

    def _hung(self, adapter: AccessAdapter) -> bool:
        """An adapter whose own loop has not turned for `hang_timeout` s (real time: threads hang in real time)."""
        turns, now = adapter.loops, time.monotonic()
        if turns is None:
            return False  # libosdp's thread: liveness only
        seen, since = self._turns.get(adapter.id, (None, now))
        if turns != seen:
            self._turns[adapter.id] = (turns, now)
            return False
        if now - since <= self._hang_timeout:
            return False
        self.hung = f"adapter {adapter.id}: its thread has not turned for {now - since:.1f}s (hung)"
        log.error("%s", self.hung, extra={"adapter": adapter.id})
        return True

    def retrying(self) -> set[str]:
        """Ids of the adapters waiting for another start attempt."""
        with self._pending_lock:
            return set(self._pending)

    def progress(self) -> int:
        return self._ticks

    def snapshot(self) -> dict[str, dict]:
        """Per adapter its figures; one waiting for another start attempt also has `next_start_in_s`."""
        figures = {adapter.id: adapter.snapshot() for adapter in self.adapters}
        now = self._clock.monotonic()
        with self._pending_lock:
            for adapter_id, pending in self._pending.items():
                figures[adapter_id]["next_start_in_s"] = round(max(0.0, pending.due - now), 2)
        return figures

    def _link_changed(self, adapter: AccessAdapter, online: bool) -> None:
        if self.health is None or self._stopping.is_set():
            return  # a stop takes links down on purpose
        if online:
            self.health.adapter_online(adapter.id, adapter.type)
        else:
            self.health.adapter_offline(adapter.id, adapter.type, "went offline")

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.rules.tick()
                self.fusion.tick()
            except Exception:  # a rule bug must not end the door feeds
                self.tick_errors += 1
                log.exception("door rule tick failed")
            self._ticks += 1
            if self._ticks % max(1, round(WELFARE_SAVE_S / self._interval)) == 0:
                self._save_state()

    def _save_state(self) -> None:
        """Welfare silence and the denial histories that changed to the state store (a restart loses at most
        WELFARE_SAVE_S of either)."""
        if self.state is None:
            return
        try:
            now = self._clock.wall()
            for name, silence in self.rules.welfare_silence().items():
                self.state.put(WELFARE_SCOPE, name, round(silence, 1), now)
            rising = self.rules.denied_rising
            if not self._stale_dropped:  # by the running service, not at build: a reload may still be rolled back
                for door_id in set(self.state.facts(DENIALS_SCOPE)) - rising.watched_doors():
                    self.state.drop(DENIALS_SCOPE, door_id)
                self._stale_dropped = True
            for door_id, (version, fact) in rising.snapshot().items():
                self.state.put(DENIALS_SCOPE, door_id, fact, now)
                rising.mark_saved(door_id, version)
            self.state.put(DENIALS_SAVED_SCOPE, SAVED_AT, now, now)
        except Exception:  # a full disk must not stop the door feeds; the next save tries again
            log.exception("could not save welfare silence or denial histories")

    def _restore_denials(self, state: StateStore) -> None:
        """The doors' denial histories from the last run (a reload's `adopt` then replaces them with the running
        ones); those of doors no longer watched are dropped by the first save."""
        try:
            saved_at = state.facts(DENIALS_SAVED_SCOPE).get(SAVED_AT)
            self.rules.denied_rising.restore(state.facts(DENIALS_SCOPE), saved_at)
        except Exception:  # unreadable state must not keep the doors from being watched: they learn afresh
            log.exception("could not restore the doors' denial histories")

    def _try_start(self, adapter: AccessAdapter) -> bool:
        try:
            adapter.start()
        except Exception as exc:
            self._start_failed(adapter, exc)
            return False
        with self._pending_lock:
            pending = self._pending.pop(adapter.id, None)
        adapter.set_last_error(None)
        if pending is not None:
            log.info(
                "adapter %s started after %d failed attempt(s)",
                adapter.id,
                pending.backoff.attempt,
                extra={"adapter": adapter.id},
            )
        return True

    def _start_failed(self, adapter: AccessAdapter, exc: Exception) -> None:
        try:  # let go of whatever the failed start had opened
            adapter.stop(STOP_AFTER_FAILED_START_S)
        except Exception:
            log.debug("cleaning up after adapter %s failed to start", adapter.id, exc_info=True)
        error = describe_start_error(adapter, exc)
        adapter.count("start_failures")
        repeated = adapter.last_error == error
        adapter.set_last_error(error)
        with self._pending_lock:
            pending = self._pending.get(adapter.id)
            if pending is None:
                pending = self._pending[adapter.id] = PendingStart(FullJitterBackoff(*self._retry_delays), 0.0)
            delay = pending.backoff.next_delay()
            pending.due = self._clock.monotonic() + delay
        (log.debug if repeated else log.warning)(
            "adapter %s (%s) could not start: %s; offline, next attempt in %.1f s",
            adapter.id,
            adapter.type,
            error,
            delay,
            extra={"adapter": adapter.id},
        )
        if self.health is not None:
            self.health.adapter_offline(
                adapter.id,
                adapter.type,
                f"on {endpoint_of(adapter.config)} could not start: {error}; retrying with back-off",
                error=error,
            )

    def _retry_run(self) -> None:
        while not self._stopping.is_set():
            now = self._clock.monotonic()
            with self._pending_lock:
                due = [
                    adapter
                    for adapter in self.adapters
                    if adapter.id in self._pending and self._pending[adapter.id].due <= now
                ]
                next_due = min((p.due for p in self._pending.values()), default=now + RETRY_POLL_S)
            for adapter in due:
                if self._stopping.is_set():
                    return
                if self._try_start(adapter) and self._stopping.is_set():
                    adapter.stop(STOP_AFTER_FAILED_START_S)  # stop() may already have passed this adapter
            if not due:
                self._stopping.wait(min(RETRY_POLL_S, max(0.0, next_due - now)))
