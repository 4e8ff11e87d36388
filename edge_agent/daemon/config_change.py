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
from edge_agent.config.errors import dotted
from edge_agent.config.hidden import hidden_values
from edge_agent.config.policy import refused_message, remote_change_problems
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
    text = new.kept_text or request.text  # with the secrets it kept as ********** put back (config/hidden.py)
    agent.config_text = text
    agent.record_reload(request.origin, "applied")
    if request.persist:
        outcome.update(persist_config(agent.config_path, text))
    return {"outcome": "applied", **outcome}


def _validated(agent: Agent, request: Request) -> AgentConfig:
    remote = request.origin.startswith(REMOTE_ORIGINS)
    # remote text keeps only the running config's own ${ENV} references (config/yaml_source.py)
    inherited = agent.config.env_references if remote else None
    new = _parsed(agent, request, inherited, check_files=not remote)  # remote: no file opened before the allow-list
    identity_changed = device_id_for(new) != agent.device_id or new.device.site != agent.config.device.site
    if request.origin.startswith("remote") and identity_changed:
        message = "device.id and device.site cannot be changed remotely (edit the file on the device)"
        agent.report_rejected(request.origin, message)
        raise CommandError(message)
    if remote:  # the allow-list on the config fields (config/policy.py), before anything is built or sent
        problems = remote_change_problems(agent.config, new)
        if problems:
            message = refused_message(problems)
            agent.report_rejected(request.origin, message)
            raise CommandError(message, result={"outcome": "refused", "fields": [dotted(p) for p, _ in problems]})
        new = _parsed(agent, request, inherited, check_files=True)  # its paths are the running config's
    return new


def _parsed(agent: Agent, request: Request, inherited, check_files: bool) -> AgentConfig:
    source = request.origin.split(" ", 1)[-1]
    # a remote command's text may keep what get-config hides only as get-config shows it (no guessing oracle); the
    # page's text is the file on the box plus an edit of zones, lines and rules, which hold no such value
    hidden = hidden_values(agent.config, agent.config.env_references) if request.origin.startswith("remote") else None
    try:
        return parse_config(request.text, source, agent.environ, inherited, check_files=check_files, hidden=hidden)
    except ConfigError as exc:
        agent.report_rejected(request.origin, exc.report())
        raise CommandError(f"config rejected, still running the previous one: {exc.report()}") from None


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
