"""The action runner: hears every stored alert, runs the actions it matches, records every outcome.

`offer(alert)` is called by the thread that stored the alert, right after the outbox commit
(store/episodes.py `EpisodeSink`), so it never blocks and never raises: it matches the alert
against each action's triggers, checks the schedule (site time), cooldown and rate limit, and
puts a job on that action's own bounded queue. A full queue, a cooldown and the rate limit are
refusals (`dropped`, `cooldown`, `rate_limited`), recorded like runs; a trigger outside the
schedule is only counted. One worker per action runs its jobs (worker.py); one recorder thread
stores the records in the outbox (recorder.py). `run_remote` is the `run-action` command's way in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from edge_agent.actions.base import ActionEnv
from edge_agent.actions.kinds import build_kind
from edge_agent.actions.limits import ActionLimits
from edge_agent.actions.recorder import Job, Recorder, RecordMaker, RecordStore
from edge_agent.actions.triggers import disposition_match
from edge_agent.actions.worker import Action, ActionWorker
from edge_agent.clock import Clock
from edge_agent.events import Alert, Topics, new_event_id
from edge_agent.events.action import TEMPLATE_FIELDS, ActionRecord, alert_fields

log = logging.getLogger(__name__)

ALERT_CLASSES = ("alarm", "event")


class ActionRefused(ValueError):
    """A `run-action` request that cannot run (unknown or non-remote action, no such alert); says why."""


def build_actions(configs: Sequence, env: ActionEnv, timezone: str) -> list[Action]:
    """The enabled actions of a config, their kinds built (programs checked, secret and CA files read).
    Raises ActionBuildError; kinds built before the failure are closed."""
    actions: list[Action] = []
    try:
        for config in configs:
            if config.enabled:
                limits = ActionLimits(config.schedule, timezone, config.cooldown, config.rate_limit)
                actions.append(Action(config, build_kind(config, env), limits))
    except BaseException:
        for action in actions:
            action.kind.close()
        raise
    return actions


class ActionRunner:
    def __init__(
        self,
        actions: Sequence[Action],
        store: RecordStore,
        topics: Topics,
        identity: tuple[str, str],
        clock: Clock,
        disabled: Sequence[str] = (),
    ):
        """`identity`: (device_id, site) for the records; `disabled`: names configured with `enabled: false`."""
        self.actions = {action.name: action for action in actions}
        self.store = store
        self.clock = clock
        self.disabled = set(disabled)
        self.records = RecordMaker(identity[0], identity[1], clock)
        self.recorder = Recorder(store, topics)
        self.workers = {
            name: ActionWorker(action, self.records, self._finish, clock) for name, action in self.actions.items()
        }
        self.offer_errors = 0
        self._accepting = False
        self._admit_lock = threading.Lock()  # a job is queued before stop's final drain, or refused `stopped`
        self._count_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.recorder.start()
        for worker in self.workers.values():
            worker.start()
        self._accepting = True

    def stop(self, timeout: float = 5.0) -> None:
        """Runs in progress finish their current try; queued runs are recorded as `stopped`."""
        with self._admit_lock:
            self._accepting = False
        for worker in self.workers.values():
            worker.request_stop()  # all at once: each then finishes only its run in progress
        deadline = self.clock.monotonic() + timeout  # one wait for all: a stuck run is abandoned, not waited for
        for worker in self.workers.values():
            for job in worker.stop(max(0.0, deadline - self.clock.monotonic())):
                self._finish(worker.action, job, self._refusal(worker.action, job, "stopped"))
        self.recorder.stop(timeout)

    def alive(self) -> bool:
        return self.why_dead() is None

    def why_dead(self) -> str | None:
        if not self.recorder.alive():
            return "the action recorder thread is not running"
        for name, worker in self.workers.items():
            if not worker.alive():
                return f"action {name}: its worker thread is not running"
            stuck = worker.stuck_for()
            if stuck is not None:
                return f"action {name}: a run has gone {stuck:.0f} s past its timeouts"
        return None

    # -- the way in ----------------------------------------------------------------------------
    def offer(self, alert: Alert) -> None:
        """Queue a run of every action `alert` triggers (or record why not). Never blocks, never raises."""
        for action in self.actions.values():
            try:
                if action.config.on and action.matches(alert):
                    self._offer_to(action, alert)
            except Exception:  # the alert is stored; an action's trouble must not reach the rule that raised it
                self.offer_errors += 1
                log.exception("offering alert %s to action %s failed", alert.event_id, action.name)

    def _offer_to(self, action: Action, alert: Alert) -> None:
        if not action.limits.armed(self.clock.wall()):
            with self._count_lock:
                action.off_schedule += 1
            return
        job = Job(new_event_id(), "alert", alert, alert_fields(alert, action.name), self.clock.monotonic())
        self._admit(action, job, cooldown=True)

    def offer_disposition(self, alert: Alert, state: str) -> list[Job]:
        """Queue a run of every action bound to disposition `state` of alerts like `alert` (`on: [{dispositions}]`).
        Schedule and cooldown do not apply (an answer always stops what the alert started); the rate limit does."""
        jobs = []
        for action in self.actions.values():
            if disposition_match(action.config.on, alert, state):
                fields = {**alert_fields(alert, action.name), "disposition": state}
                jobs.append(Job(new_event_id(), "disposition", alert, fields, self.clock.monotonic()))
                self._admit(action, jobs[-1], cooldown=False)
        return jobs

    def offer_escalation(self, alert: Alert, names: Sequence[str]) -> list[Job]:
        """Queue a run of each named action for an unanswered `alert` (a rule's `escalate.actions`); a name not
        running (disabled) is skipped. Schedule and cooldown do not apply, the rate limit does."""
        jobs = []
        for name in names:
            action = self.actions.get(name)
            if action is not None:
                jobs.append(Job(new_event_id(), "escalation", alert, alert_fields(alert, name), self.clock.monotonic()))
                self._admit(action, jobs[-1], cooldown=False)
        return jobs

    def run_remote(self, name: str, event_id: str | None, request_id: str | None) -> Job:
        """Queue a `run-action` run (schedule and cooldown do not apply; the rate limit does). The returned job's
        `done` is set when its record exists. Raises ActionRefused saying why it cannot run."""
        action = self._remote_action(name)
        alert = self._stored_alert(event_id) if event_id else None
        fields = alert_fields(alert, name) if alert else self._no_alert_fields(name)
        job = Job(new_event_id(), "remote", alert, fields, self.clock.monotonic(), request_id=request_id)
        self._admit(action, job, cooldown=False)
        return job

    def run_for_technician(self, name: str, alert: Alert | None, fields: dict) -> Job:
        """Queue a run a logged-in technician asked for on the page (web/action_panel.py): any enabled action, remote
        or not (the person is at the box, as with `edge-agent actions run`); schedule and cooldown do not apply, the
        rate limit does. `alert`: a stored alert the record names, or None when `fields` come from a sample."""
        action = self.actions.get(name)
        if action is None:
            raise ActionRefused(f"action {name!r} is not running (disabled, or not in the running config)")
        job = Job(new_event_id(), "technician", alert, fields, self.clock.monotonic())
        self._admit(action, job, cooldown=False)
        return job

    def outcome_within(self, name: str) -> float:
        """Seconds a run just queued for `name` may take to have its record: the runs ahead of it (queued, and the
        one in progress) and its own, each at most the action's bound for all its tries, and a second."""
        return (self.workers[name].queue.qsize() + 1) * self.actions[name].run_bound + 1.0

    def _admit(self, action: Action, job: Job, cooldown: bool) -> None:
        with self._admit_lock:
            refusal = action.limits.admit(job.offered_at, cooldown=cooldown) if self._accepting else "stopped"
            if refusal is None and not self.workers[action.name].offer(job):
                action.limits.withdraw(job.offered_at)
                refusal = "dropped"
        if refusal is not None:
            self._finish(action, job, self._refusal(action, job, refusal))

    def _remote_action(self, name: str) -> Action:
        action = self.actions.get(name)
        if action is None:
            if name in self.disabled:
                raise ActionRefused(f"action {name!r} is disabled (enabled: false)")
            known = ", ".join(sorted(self.actions)) or "none"
            raise ActionRefused(f"no action named {name!r} (configured: {known})")
        if not action.config.remote:
            raise ActionRefused(f"action {name!r} may not be run remotely: its config does not say `remote: true`")
        return action

    def _stored_alert(self, event_id: str) -> Alert:
        row = self.store.get(event_id)
        if row is None:
            raise ActionRefused(f"no alert {event_id} in the outbox (delivered alerts are kept for a while only)")
        if getattr(row, "cls", None) not in ALERT_CLASSES or "/alerts/" not in getattr(row, "topic", ""):
            raise ActionRefused(f"{event_id} is not an alert (it was published on {row.topic})")
        return Alert.model_validate_json(row.payload)

    def _no_alert_fields(self, name: str) -> dict:
        fields = dict.fromkeys(TEMPLATE_FIELDS)
        fields.update(action=name, device_id=self.records.device_id, site=self.records.site)
        return fields

    # -- outcomes ------------------------------------------------------------------------------
    def _refusal(self, action: Action, job: Job, outcome: str) -> ActionRecord:
        return self.records.make(action.name, action.config.kind, job, outcome)

    def _finish(self, action: Action, job: Job, record: ActionRecord) -> None:
        with self._count_lock:  # workers, the recorder's callers and offering threads all count
            action.outcomes[record.outcome] += 1
        job.record = record
        self.recorder.put(record)
        job.done.set()

    def _outcomes(self, action: Action) -> dict[str, int]:
        with self._count_lock:
            return dict(action.outcomes)

    def snapshot(self) -> dict:
        """Telemetry `system.actions`: per action its outcome counts, queue depth and off-schedule triggers."""
        return {
            "by_action": {
                name: {
                    "kind": action.config.kind,
                    "queued": self.workers[name].queue.qsize(),
                    "off_schedule": action.off_schedule,
                    "outcomes": self._outcomes(action),
                }
                for name, action in self.actions.items()
            },
            "records_stored": self.recorder.stored,
            "records_lost": self.recorder.lost,
            "offer_errors": self.offer_errors,
        }
