"""One configured action and the worker thread that runs it, behind its own bounded queue.

Each action has its own worker, so a target that hangs delays only that action's own runs; a
run's tries are bounded by the kind's timeout, and a worker stuck past every bound is reported
dead to the supervisor, which replaces the runner (the stuck thread is abandoned: Python cannot
kill it).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from edge_agent.actions.base import ActionKind, Attempt
from edge_agent.actions.limits import ActionLimits
from edge_agent.actions.recorder import Job, RecordMaker, Tries
from edge_agent.actions.triggers import triggers_match
from edge_agent.clock import Clock
from edge_agent.events import Alert
from edge_agent.events.action import ActionRecord

log = logging.getLogger(__name__)

STUCK_MARGIN_S = 10.0  # beyond a run's own bound (tries × (timeout + retry_delay)) before a worker counts as stuck


@dataclass
class Action:
    """A configured, enabled action: its kind, limits and counters; these outlive a worker restart."""

    config: object  # an ActionConfig (config/actions.py)
    kind: ActionKind
    limits: ActionLimits
    outcomes: Counter = field(default_factory=Counter)
    off_schedule: int = 0  # triggers that came outside the schedule (not recorded, only counted)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def tries(self) -> int:
        return 1 + self.config.retries

    @property
    def run_bound(self) -> float:
        """The longest one run may take: every try timing out, with the delays between."""
        return self.tries * self.config.timeout + self.config.retries * self.config.retry_delay

    def matches(self, alert: Alert) -> bool:
        return triggers_match(self.config.on, alert)


Finish = Callable[[Action, Job, ActionRecord], None]


class ActionWorker:
    def __init__(self, action: Action, records: RecordMaker, finish: Finish, clock: Clock):
        self.action = action
        self.records = records
        self.clock = clock
        self._finish = finish
        self.queue: queue.Queue[Job] = queue.Queue(maxsize=action.config.queue_size)
        self._stopping = threading.Event()
        self._running_since: float | None = None  # monotonic start of the run in progress
        self._thread = threading.Thread(target=self._loop, name=f"action-{action.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stuck_for(self) -> float | None:
        """Seconds the run in progress has exceeded its bound by more than STUCK_MARGIN_S, else None."""
        since = self._running_since
        if since is None:
            return None
        over = self.clock.monotonic() - since - self.action.run_bound
        return over if over > STUCK_MARGIN_S else None

    def offer(self, job: Job) -> bool:
        """Queue `job`; False when the queue is full."""
        try:
            self.queue.put_nowait(job)
            return True
        except queue.Full:
            return False

    def request_stop(self) -> None:
        """No further tries or runs; `stop` then waits for the run in progress."""
        self._stopping.set()

    def stop(self, timeout: float) -> list[Job]:
        """Stop after the run in progress (no further tries); returns the jobs still queued, not run."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        left = []
        while True:
            try:
                left.append(self.queue.get_nowait())
            except queue.Empty:
                return left

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._running_since = self.clock.monotonic()
            try:
                self._execute(job)
            except Exception:  # a bug must not end the worker: the run is recorded as failed
                log.exception("action %s: run failed inside the agent", self.action.name)
                error = Attempt(ok=False, error="internal error in the agent (see its log)")
                tries = Tries(0, error, self.clock.monotonic(), self.clock.wall())
                self._finish(self.action, job, self._record(job, "failed", tries))
            finally:
                self._running_since = None

    def _execute(self, job: Job) -> None:
        config = self.action.config
        first_at, first_wall = self.clock.monotonic(), self.clock.wall()
        count = 0
        while True:
            count += 1
            attempt = self._try(job)
            if attempt.ok or attempt.refused or count >= self.action.tries or self._stopping.wait(config.retry_delay):
                break
        outcome = "ok" if attempt.ok else "timeout" if attempt.timed_out else "failed"
        if not attempt.ok:
            log.warning(
                "action %s: %s after %d tr%s: %s",
                self.action.name,
                outcome,
                count,
                "y" if count == 1 else "ies",
                attempt.error,
            )
        self._finish(self.action, job, self._record(job, outcome, Tries(count, attempt, first_at, first_wall)))

    def _try(self, job: Job) -> Attempt:
        try:
            return self.action.kind.run(job.fields, self.action.config.timeout)
        except Exception as exc:  # a kind should not raise; if it does, the try failed
            log.exception("action %s: its %s kind raised", self.action.name, self.action.config.kind)
            return Attempt(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])

    def _record(self, job: Job, outcome: str, tries: Tries | None = None) -> ActionRecord:
        return self.records.make(self.action.name, self.action.config.kind, job, outcome, tries)
