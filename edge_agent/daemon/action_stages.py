"""The `actions` stage: the pipeline's action runner, listening to every stored alert, and `run-action`.

The runner belongs to the pipeline, so a reload builds a new one (kinds built, programs checked,
secret files read: a bad action refuses the config whole). Its stage starts before any other of
the pipeline (and, in a reload, before the new video stages), and starting it makes the runner
the delivery's one after-store listener (`EpisodeSink.listen`): the swap is one assignment, so an
alert reaches exactly one runner across a hand-over, and a rollback's rebuilt pipeline takes the
listener back the same way. Stopping records what was queued as `stopped`, and so every alert
stored until the runs in progress have finished, then detaches it (if still attached). The
supervisor sees the stage dead when a worker thread died or a run hangs past all its timeouts,
and renews the runner on the same actions (their limits and counts carry on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_agent.actions.base import ActionEnv, OsdpOutputs
from edge_agent.actions.runner import ActionRefused, ActionRunner, build_actions
from edge_agent.config import AgentConfig
from edge_agent.daemon.delivery import Services
from edge_agent.daemon.stage_kinds import ComponentStage, Stages
from edge_agent.daemon.supervisor import StageSpec
from edge_agent.publish.commands import CommandError

if TYPE_CHECKING:
    from edge_agent.access.service import AccessService

log = logging.getLogger(__name__)

ACTIONS_STAGE = "actions"
MAX_REMOTE_WAIT_S = 60.0  # a `run-action` reply waits at most this long for the outcome


@dataclass
class ActionParts:
    """What the actions build yields: its stage, and the current runner (the supervisor may renew it)."""

    stages: Stages
    runner: Callable[[], ActionRunner | None]


def action_stages(config: AgentConfig, services: Services, access: Callable[[], AccessService | None]) -> ActionParts:
    """`access`: the pipeline's AccessService, read when an osdp_output action runs (adapters restart and are
    handed over on reload)."""
    env = ActionEnv(osdp_adapter=lambda adapter_id: _osdp_adapter(access(), adapter_id))
    actions = build_actions(config.actions, env, config.device.timezone)
    disabled = [action.name for action in config.actions if not action.enabled]
    identity = (services.factory.device_id, config.device.site)
    sink, clock = services.sink, services.clock
    runners: list[ActionRunner] = []  # the current one last (the supervisor may renew it)

    def make_stage() -> ComponentStage:
        runner = ActionRunner(actions, services.outbox, services.topics, identity, clock, disabled)
        runners.append(runner)
        del runners[:-1]

        def start() -> None:
            runner.start()
            sink.listen(runner.offer)

        def stop(timeout: float) -> None:
            runner.stop(timeout)  # still listening: an alert stored while runs finish gets a `stopped` record
            sink.unlisten(runner.offer)

        return ComponentStage(
            ACTIONS_STAGE, runner, alive=runner.alive, start=start, stop=stop, why_dead=runner.why_dead
        )

    stages = Stages([StageSpec(ACTIONS_STAGE, make_stage)], closers=[lambda: [a.kind.close() for a in actions]])
    return ActionParts(stages, lambda: runners[-1] if runners else None)


def _osdp_adapter(access: AccessService | None, adapter_id: str) -> OsdpOutputs | None:
    for adapter in access.adapters if access is not None else ():
        if adapter.id == adapter_id and hasattr(adapter, "send_command"):
            return adapter
    return None


def run_action(runner: ActionRunner | None, name: str, event_id: str | None, request_id: str | None) -> dict:
    """The `run-action` command: queue the run, wait (bounded) for its outcome. Raises CommandError unless `ok`."""
    if runner is None:
        raise CommandError(f"no action named {name!r}: no actions are configured (or the pipeline is not running)")
    try:
        job = runner.run_remote(name, event_id, request_id)
    except ActionRefused as exc:
        raise CommandError(str(exc)) from None
    except ValueError as exc:  # the stored alert did not parse
        raise CommandError(f"alert {event_id} cannot be read back: {exc}"[:500]) from None
    wait = min(runner.outcome_within(name), MAX_REMOTE_WAIT_S)
    if not job.done.wait(wait):
        raise CommandError(
            f"action {name!r} gave no outcome within {wait:g} s; its record will be published on actions/{name}",
            result={"action": name, "outcome": "pending", "record_event_id": job.record_id},
        )
    record = job.record
    result = {
        "action": name,
        "outcome": record.outcome,
        "record_event_id": record.event_id,
        "attempts": record.attempts,
        **record.model_dump(include={"error", "status_code", "exit_code", "alert_event_id"}, exclude_none=True),
    }
    if record.outcome != "ok":
        raise CommandError(f"action {name!r}: {record.outcome}" + (f": {record.error}" if record.error else ""), result)
    return result
