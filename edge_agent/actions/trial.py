"""Run one action once, now, for an alert a person chose: `edge-agent actions run`.

The run goes through the daemon's own worker (worker.py: tries, retries, timeouts, the record) on
a worker of its own, so what a technician sees is what the daemon would do. Schedule, cooldown
and rate limit are not applied (a person asked for this run, as with `run-action`), and the record
is handed back, not stored in the outbox: a trial is not a response to a real alert.
`osdp_output` actions are refused here: they speak through the running agent's OSDP control
panel, which owns the serial bus; use the `run-action` command of the running agent instead.
"""

from __future__ import annotations

from edge_agent.actions.base import ActionEnv
from edge_agent.actions.kinds import build_kind
from edge_agent.actions.limits import ActionLimits
from edge_agent.actions.recorder import Job, RecordMaker
from edge_agent.actions.worker import Action, ActionWorker
from edge_agent.clock import Clock, SystemClock
from edge_agent.events import Alert, new_event_id
from edge_agent.events.action import ActionRecord, alert_fields

GRACE_S = 5.0  # beyond the run's own bound before giving up on the worker (it bounds itself; this is a backstop)


class TrialRefused(ValueError):
    """This action cannot be tried from the command line; says what to do instead."""


def needs_the_daemon(config) -> str | None:
    """Why `config` cannot run outside the daemon, or None when it can."""
    if config.kind != "osdp_output":
        return None
    how = (
        "send the running agent a `run-action` command (docs/actions.md#remote-run-action)"
        if config.remote
        else "mark it `remote: true` and send the running agent a `run-action` command "
        "(docs/actions.md#remote-run-action), or trigger its rule"
    )
    return (
        f"action {config.name!r} drives reader {config.reader} through the OSDP control panel of the running "
        f"agent (adapter {config.adapter!r}), which owns the serial bus; a second process cannot use it. To fire "
        f"it now, {how}. `edge-agent actions render {config.name}` shows the commands it sends."
    )


def run_once(config, alert: Alert, identity: tuple[str, str], clock: Clock | None = None) -> ActionRecord:
    """Run the action `config` once for `alert`, with its tries and retries; the outcome record.
    Raises TrialRefused (osdp_output) or ActionBuildError (a missing program, an unreadable secret file)."""
    why_not = needs_the_daemon(config)
    if why_not:
        raise TrialRefused(why_not)
    clock = clock or SystemClock()
    kind = build_kind(config, ActionEnv())
    action = Action(config, kind, ActionLimits(config.schedule, "UTC", config.cooldown, config.rate_limit))
    worker = ActionWorker(action, RecordMaker(*identity, clock), _keep_record, clock)
    job = Job(new_event_id(), "alert", alert, alert_fields(alert, config.name), clock.monotonic())
    worker.start()
    try:
        worker.offer(job)
        if not job.done.wait(action.run_bound + GRACE_S):
            raise TimeoutError(f"action {config.name!r} gave no outcome within {action.run_bound + GRACE_S:g} s")
    finally:
        worker.stop(GRACE_S)
        kind.close()
    return job.record


def _keep_record(_action: Action, job: Job, record: ActionRecord) -> None:
    """What the runner's `_finish` does for a run, minus storing the record."""
    job.record = record
    job.done.set()
