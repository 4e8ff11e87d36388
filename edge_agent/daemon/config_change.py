"""A config change that cannot strand the box: validate, switch (make before break), confirm, or revert.

`apply` is the one path for SIGHUP and remote `set-config` (and, later, the technician's page):

1. parse and validate the text completely (limits on size, nesting and aliases are the loader's);
   an invalid config changes nothing and is reported (`config_rejected`);
2. switch to it (`Agent.switch_to`: the pipeline is rebuilt make-before-break; a broker change
   replaces only the publisher);
3. confirm: within `commands.confirm_timeout` the device must be connected to its broker and
   every stage healthy. Only then is the text persisted and the outcome `applied`;
4. otherwise revert to the last known-good config, reconnect, report `config_reverted`, and
   answer `reverted` with the reason. A person on site may skip 3-4 for SIGHUP (`run --no-revert`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge_agent.config import AgentConfig, ConfigError, parse_config
from edge_agent.config.actions import command_actions_changed, secret_files_added
from edge_agent.daemon.reporting import persist_config
from edge_agent.events import Severity
from edge_agent.identity import device_id_for
from edge_agent.publish.commands import CommandError

if TYPE_CHECKING:
    from edge_agent.daemon.agent import Agent

log = logging.getLogger(__name__)

CONFIRM_POLL_S = 0.2
REMOTE_ORIGINS = ("remote", "web")  # set-config over MQTT, the technician's page: not the file on the box


@dataclass(frozen=True)
class Request:
    text: str
    origin: str  # "remote set-config", "SIGHUP /etc/edge-agent/config.yaml", ...
    persist: bool
    confirm: bool = True  # False: a person on site said --no-revert


def apply(agent: Agent, request: Request) -> dict:
    """Raises CommandError (after reporting) when the config is rejected, fails to start, or is reverted."""
    new = _validated(agent, request)
    with agent.lock:
        old, old_text = agent.config, agent.config_text
        outcome = agent.switch_to(new, request.origin)
    if not outcome.get("changed"):
        return {"outcome": "applied", **outcome}
    if request.confirm:
        problem = _confirm(agent, new.commands.confirm_timeout)
        if problem is not None:
            _revert(agent, old, old_text, request.origin, problem)
    agent.config_text = request.text
    agent.record_reload(request.origin, "applied")
    if request.persist:
        outcome.update(persist_config(agent.config_path, request.text))
    return {"outcome": "applied", **outcome}


def _validated(agent: Agent, request: Request) -> AgentConfig:
    try:
        new = parse_config(request.text, source=request.origin.split(" ", 1)[-1], environ=agent.environ)
    except ConfigError as exc:
        agent.report_rejected(request.origin, exc.report())
        raise CommandError(f"config rejected, still running the previous one: {exc.report()}") from None
    identity_changed = device_id_for(new) != agent.device_id or new.device.site != agent.config.device.site
    if request.origin.startswith("remote") and identity_changed:
        message = "device.id and device.site cannot be changed remotely (edit the file on the device)"
        agent.report_rejected(request.origin, message)
        raise CommandError(message)
    if request.origin.startswith(REMOTE_ORIGINS):
        problem = _local_only_changes(agent.config, new)
        if problem is not None:
            agent.report_rejected(request.origin, problem)
            raise CommandError(problem)
    return new


def _local_only_changes(old: AgentConfig, new: AgentConfig) -> str | None:
    """Why `new` may only come from the config file on the device (what the box runs or sends), or None."""
    commands = command_actions_changed(old, new)
    if commands:
        return (
            f"command actions {commands} would be added or changed: a program the box runs can only be set in the "
            "config file on the device (then SIGHUP or restart), not remotely or from the web page"
        )
    secrets = secret_files_added(old, new)
    if secrets:
        return (
            f"secret_headers would send files {secrets} that the running config does not: which files on the box "
            "an action may send can only be set in the config file on the device"
        )
    return None


def _confirm(agent: Agent, timeout: float) -> str | None:
    """None once the broker connection is up and every stage healthy; else why not, after `timeout` s."""
    deadline = agent.clock.monotonic() + timeout
    while True:
        problem = agent.unconfirmed()
        if problem is None:
            return None
        if agent.clock.monotonic() >= deadline or agent.stopping:
            return f"not confirmed within {timeout:g} s: {problem}"
        agent.wait(CONFIRM_POLL_S)


def _revert(agent: Agent, old: AgentConfig, old_text: str, origin: str, problem: str) -> None:
    log.error("config from %s reverted: %s", origin, problem)
    with agent.lock:
        agent.switch_to(old, f"revert of {origin}")
        agent.config_text = old_text
    agent.record_reload(origin, f"reverted: {problem}")
    agent.delivery.health.emit(
        "config_reverted", f"config from {origin} reverted to the last known-good one: {problem}", Severity.major
    )
    raise CommandError(
        f"reverted to the last known-good config: {problem}", result={"outcome": "reverted", "reason": problem}
    )
