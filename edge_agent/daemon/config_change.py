"""A config change that cannot strand the box: validate, switch (make before break), confirm, or revert.

`apply` is the one path for SIGHUP, remote `set-config` and the technician's page's Apply. It runs on the
caller's thread against `ConfigHost`, the part of the agent a change needs (a Protocol: this module does not
import the agent, which imports it):

1. parse and validate the text completely (limits on size, nesting and aliases are the loader's);
   an invalid config changes nothing and is reported (`config_rejected`);
2. switch to it (`Agent.switch_to`, which holds the agent's lock: the pipeline is rebuilt make-before-break; a
   broker change replaces only the publisher);
3. confirm: within `commands.confirm_timeout` the device must be connected to its broker and
   every stage healthy. Only then does the text become the running one (`confirmed`: the status's
   `config_sha256`), is it persisted and the outcome `applied`;
4. otherwise revert to the last known-good config, reconnect, report `config_reverted`, and
   answer `reverted` with the reason. A person on site may skip 3-4 for SIGHUP (`run --no-revert`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edge_agent.clock import Clock
from edge_agent.config import AgentConfig, ConfigError, parse_config
from edge_agent.config.errors import dotted
from edge_agent.config.hidden import hidden_values
from edge_agent.config.policy import refused_message, remote_change_problems
from edge_agent.daemon.reporting import persist_config
from edge_agent.identity import device_id_for
from edge_agent.publish.commands import CommandError

log = logging.getLogger(__name__)

CONFIRM_POLL_S = 0.2
NOT_PERSISTED = {"persisted": False}  # every set-config result says whether the file now holds the config
REMOTE_ORIGINS = ("remote", "web")  # set-config over MQTT, the technician's page: not the file on the box


@dataclass(frozen=True)
class Request:
    text: str
    origin: str  # "remote set-config", "SIGHUP /etc/edge-agent/config.yaml", ...
    persist: bool
    confirm: bool = True  # False: a person on site said --no-revert


@dataclass(frozen=True)
class Switched:
    """What a switch did: `how` it changed (None: the config was the same), and the config that ran before it."""

    how: str | None
    previous: AgentConfig

    def reply(self) -> dict:
        return {"changed": False} if self.how is None else {"changed": True, "switch": self.how}


class ConfigHost(Protocol):
    """What a config change needs of the running agent (daemon/agent.py `Agent`, which is not imported here)."""

    clock: Clock
    device_id: str
    config_path: Path

    @property
    def config(self) -> AgentConfig: ...

    @property
    def stopping(self) -> bool: ...

    def parse_config(
        self, text: str, source: str, remote: bool, check_files: bool = True, keep_hidden: bool = False
    ) -> AgentConfig: ...

    def switch_to(self, new: AgentConfig, origin: str) -> Switched:
        """Run `new` (one switch at a time: the agent holds its own lock); raises CommandError when it cannot."""

    def unconfirmed(self) -> str | None: ...

    def confirmed(self, text: str, origin: str) -> None:
        """The switch held: `text` is the running config's text from now on, and the change is recorded `applied`
        (together, under the agent's lock: a status never shows the new digest with the old outcome)."""

    def wait(self, seconds: float) -> None: ...

    def report_rejected(self, origin: str, reason: str) -> None: ...

    def report_reverted(self, origin: str, problem: str) -> None: ...

    def record_reload(self, origin: str, outcome: str) -> None: ...


def apply(host: ConfigHost, request: Request) -> dict:
    """Raises CommandError (after reporting) when the config is rejected, fails to start, or is reverted."""
    new = _validated(host, request)
    switched = host.switch_to(new, request.origin)
    if switched.how is None:  # nothing to switch; the file still gets the text when asked (`persisted` always says)
        outcome = {"outcome": "applied", **switched.reply()}
        return outcome | (
            persist_config(host.config_path, new.kept_text or request.text) if request.persist else NOT_PERSISTED
        )
    if request.confirm:
        problem = _confirm(host, new.commands.confirm_timeout)
        if problem is not None:
            _revert(host, switched, request.origin, problem)
    text = new.kept_text or request.text  # with the secrets it kept as ********** put back (config/hidden.py)
    host.confirmed(text, request.origin)
    outcome = {"outcome": "applied", **switched.reply()}
    return outcome | (persist_config(host.config_path, text) if request.persist else NOT_PERSISTED)


def _validated(host: ConfigHost, request: Request) -> AgentConfig:
    remote = request.origin.startswith(REMOTE_ORIGINS)
    new = _parsed(host, request, remote, check_files=not remote)  # remote: no file opened before the allow-list
    identity_changed = device_id_for(new) != host.device_id or new.device.site != host.config.device.site
    if request.origin.startswith("remote") and identity_changed:
        message = "device.id and device.site cannot be changed remotely (edit the file on the device)"
        host.report_rejected(request.origin, message)
        raise CommandError(message, result={"outcome": "refused", "fields": ["device"], **NOT_PERSISTED})
    if remote:  # the allow-list on the config fields (config/policy.py), before anything is built or sent
        problems = remote_change_problems(host.config, new)
        if problems:
            message = refused_message(problems)
            host.report_rejected(request.origin, message)
            fields = [dotted(p) for p, _ in problems]
            raise CommandError(message, result={"outcome": "refused", "fields": fields, **NOT_PERSISTED})
        new = _parsed(host, request, remote, check_files=True)  # its paths are the running config's
    return new


def parse_for(
    running: AgentConfig,
    environ,
    text: str,
    source: str,
    remote: bool,
    check_files: bool = True,
    keep_hidden: bool = False,
) -> AgentConfig:
    """`text` parsed as the agent running `running` applies it (`ConfigHost.parse_config`): remote text keeps only
    the running config's `${ENV}` references; `keep_hidden` (a remote command's text) keeps what get-config hides
    only as it shows it (config/hidden.py)."""
    refs = running.env_references
    return parse_config(
        text,
        source=source,
        environ=environ,
        inherited=refs if remote else None,
        check_files=check_files,
        hidden=hidden_values(running, refs) if keep_hidden else None,
    )


def _parsed(host: ConfigHost, request: Request, remote: bool, check_files: bool) -> AgentConfig:
    """Remote text keeps only the running config's own ${ENV} references (config/yaml_source.py), and a remote
    command's text what get-config hides only as get-config shows it (config/hidden.py: no guessing oracle; the
    page's text is the file on the box plus an edit of zones, lines and rules, which hold no such value)."""
    source = request.origin.split(" ", 1)[-1]
    keep_hidden = request.origin.startswith("remote")
    try:
        return host.parse_config(request.text, source, remote, check_files=check_files, keep_hidden=keep_hidden)
    except ConfigError as exc:
        host.report_rejected(request.origin, exc.report())
        problems = [issue.format(source) for issue in exc.issues]  # every one, not the first (config/loader.py)
        raise CommandError(
            f"config rejected, still running the previous one: {exc.report()}",
            result={"outcome": "rejected", "problems": problems, **NOT_PERSISTED},
        ) from None


def _confirm(host: ConfigHost, timeout: float) -> str | None:
    """None once the broker connection is up and every stage healthy; else why not, after `timeout` s."""
    deadline = host.clock.monotonic() + timeout
    while True:
        problem = host.unconfirmed()
        if problem is None:
            return None
        if host.clock.monotonic() >= deadline or host.stopping:
            return f"not confirmed within {timeout:g} s: {problem}"
        host.wait(CONFIRM_POLL_S)


def _revert(host: ConfigHost, switched: Switched, origin: str, problem: str) -> None:
    log.error("config from %s reverted: %s", origin, problem)
    host.switch_to(switched.previous, f"revert of {origin}")
    host.report_reverted(origin, problem)
    raise CommandError(
        f"reverted to the last known-good config: {problem}",
        result={"outcome": "reverted", "reason": problem, **NOT_PERSISTED},
    )
