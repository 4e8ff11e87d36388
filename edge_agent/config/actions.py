"""Local actions: what the box does itself when an alert fires (docs/actions.md). One model per kind."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from edge_agent.config.base import Name, SecretFile, Section
from edge_agent.config.policy import PATH, REMOTE, REMOTE_FIELD, local
from edge_agent.config.schedule import TimeRange
from edge_agent.events.action import TemplateError, template_fields
from edge_agent.events.alert_types import ALERT_TYPES
from edge_agent.events.disposition import DispositionState

Phase = Literal["start", "end", "instant"]
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP token (RFC 9110)
_SET_BY_THE_AGENT = {"host", "content-length", "transfer-encoding", "connection"}


def _check_template(text: str) -> str:
    try:
        template_fields(text)
    except TemplateError as exc:
        raise ValueError(f"template {text!r}: {exc}") from None
    return text


def _check_json_template(value: Any) -> Any:
    """Every string inside a JSON body template (keys stay literal) must be a valid template."""
    if isinstance(value, str):
        _check_template(value)
    elif isinstance(value, list):
        for item in value:
            _check_json_template(item)
    elif isinstance(value, dict):
        for item in value.values():
            _check_json_template(item)
    return value


class ActionTrigger(Section):
    """Which alerts run the action: by rule name or alert type (or both), and phase."""

    rule: Name | None = Field(default=None, description="Name of a video rule (`rules[].name`).")
    type: str | None = Field(
        default=None, description="Alert type, e.g. door.forced or access.denied_burst (for alerts without a rule)."
    )
    source: Name | None = Field(default=None, description="Only alerts from this camera or door id.")
    phases: list[Phase] = Field(
        default_factory=lambda: ["start", "instant"],
        min_length=1,
        description="Alert phases that run the action (with `dispositions` given: only the phases written here).",
    )
    dispositions: list[DispositionState] = Field(
        default_factory=list,
        description="Dispositions of a matching alert that run the action (e.g. `[acknowledged]` for the action "
        "that stops the siren the alert started); the run's fields are the alert's, plus `{disposition}`.",
    )

    @model_validator(mode="after")
    def _names_something(self) -> ActionTrigger:
        if self.rule is None and self.type is None:
            raise ValueError("give `rule` or `type` (or both)")
        if self.type is not None and self.type not in ALERT_TYPES:
            raise ValueError(f"unknown alert type {self.type!r} (known: {', '.join(sorted(ALERT_TYPES))})")
        return self


class RateLimit(Section):
    remote_change: ClassVar[str] = REMOTE

    count: int = Field(default=30, ge=1, le=10_000, description="At most this many runs…")
    per: float = Field(default=60.0, gt=0, description="…in any window of this many seconds; the rest are refused.")


class _Action(Section):
    name: Name = Field(description="Action name, carried in its `action` records.")
    on: list[ActionTrigger] = Field(
        default_factory=list,
        json_schema_extra=local("what makes the box act"),
        description="Alerts that run it; empty = only a remote `run-action` (needs remote).",
    )
    schedule: list[TimeRange] = Field(
        default_factory=list,
        json_schema_extra=REMOTE_FIELD,
        description="When the action may run (site time); empty = always.",
    )
    cooldown: float = Field(
        default=0.0,
        ge=0,
        json_schema_extra=REMOTE_FIELD,
        description="Seconds after a run in which further triggers are refused (`cooldown`).",
    )
    rate_limit: RateLimit = Field(
        default_factory=RateLimit, json_schema_extra=REMOTE_FIELD, description="Runs allowed per window."
    )
    timeout: float = Field(default=5.0, gt=0, le=300, description="Seconds one try may take.")
    retries: int = Field(default=0, ge=0, le=10, description="Further tries after a failed or timed-out one.")
    retry_delay: float = Field(default=0.5, ge=0, le=60, description="Seconds between tries.")
    queue_size: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="Runs waiting for this action's worker; when full, a trigger is recorded as `dropped`.",
    )
    remote: bool = Field(
        default=False,
        json_schema_extra=local("whether the platform may run it with run-action"),
        description="Allow the platform to run it with the `run-action` command.",
    )
    enabled: bool = Field(default=True, description="Set false to keep it configured but idle.")


class HttpAction(_Action):
    kind: Literal["http"] = Field(description="An HTTP request to a device on the LAN.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(default="POST", description="HTTP method.")
    url: str = Field(
        json_schema_extra=local(
            "where an http action sends and what: a remote sender could aim it at any device on the LAN"
        ),
        description="http:// or https:// URL of the LAN device; `{field}` templates only in the path and query "
        "(filled in percent-encoded), never in the scheme, host or port.",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra=local("what an http action sends: fixed headers may hold credentials"),
        description="Fixed request headers.",
    )
    secret_headers: dict[str, SecretFile] = Field(
        default_factory=dict,
        json_schema_extra=PATH,
        description="Headers whose value is read from a file (tokens); never logged.",
    )
    body: Any = Field(
        default=None,
        description="JSON body template: any JSON value whose strings may hold `{field}`; a string that is exactly "
        "one `{field}` keeps the field's type (a number stays a number). Sent as application/json.",
    )
    body_text: str | None = Field(
        default=None, description="Plain-text body template instead of `body` (sent as text/plain; charset=utf-8)."
    )
    verify_tls: bool = Field(default=True, description="Verify an https target's certificate.")
    ca_file: Path | None = Field(
        default=None, json_schema_extra=PATH, description="CA bundle for an https target with its own CA."
    )
    retries: int = Field(default=2, ge=0, le=10, description="Further tries after a failed or timed-out one.")

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        _check_template(value)
        scheme, rest = value.split("://", 1) if "://" in value else ("", value)
        if scheme not in ("http", "https"):
            raise ValueError(f"url must start with http:// or https://, found {value!r}")
        authority = rest.split("/", 1)[0].split("?", 1)[0]
        if not authority or "{" in authority or "}" in authority:
            raise ValueError(f"url {value!r}: the host and port must be fixed (templates only after the first '/')")
        if "@" in authority:
            raise ValueError(f"url {value!r}: put credentials in secret_headers, not in the URL")
        if urlsplit(f"{scheme}://{authority}").hostname is None:
            raise ValueError(f"url {value!r} has no host")
        return value

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name) or any(c in text for c in "\r\n\0"):
                raise ValueError(f"header {name!r}: not an HTTP header name, or its value holds a line break")
            _check_template(text)
        return value

    @field_validator("secret_headers")
    @classmethod
    def _secret_names(cls, value: dict) -> dict:
        for name in value:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"secret header name {name!r} is not an HTTP header name")
        return value

    @field_validator("body")
    @classmethod
    def _json_body(cls, value: Any) -> Any:
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"body must be JSON data: {exc}") from None
        return _check_json_template(value)

    @field_validator("body_text")
    @classmethod
    def _text_body(cls, value: str | None) -> str | None:
        return None if value is None else _check_template(value)

    @model_validator(mode="after")
    def _one_body(self) -> HttpAction:
        if self.body is not None and self.body_text is not None:
            raise ValueError("give `body` or `body_text`, not both")
        names = [name.lower() for name in [*self.headers, *self.secret_headers]]
        reserved = sorted(set(names) & _SET_BY_THE_AGENT)
        if reserved:
            raise ValueError(f"headers {reserved} are set by the agent; leave them out")
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"headers {twice} are given more than once (headers and secret_headers)")
        if self.ca_file is not None and not self.url.startswith("https://"):
            raise ValueError("ca_file is for an https:// url")
        return self


class CommandAction(_Action):
    remote_change_locked: ClassVar[str] = "a program the box runs"

    kind: Literal["command"] = Field(description="Run a program on the box (no shell); file-only (see set-config).")
    argv: list[str] = Field(
        min_length=1,
        description="Executable (absolute path, no template) and its arguments, each one argv entry: no shell, so "
        "`{field}` values are never parsed as commands. Start option-free data with `--` where the program allows.",
    )
    timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds the program may run; then it is killed.")

    @field_validator("argv")
    @classmethod
    def _argv_shape(cls, value: list[str]) -> list[str]:
        program = value[0]
        if not program.startswith("/") or "{" in program:
            raise ValueError(f"argv[0] must be an absolute path without templates, found {program!r}")
        for arg in value[1:]:
            if "\0" in arg:
                raise ValueError("arguments may not hold NUL characters")
            _check_template(arg)
        return value


LedColor = Literal["black", "red", "green", "amber", "blue", "magenta", "cyan", "white"]


class OsdpOutputSetting(Section):
    number: int = Field(default=0, ge=0, le=255, description="The reader's output (relay) number.")
    state: Literal["on", "off"] = Field(default="on", description="Drive it on (for `duration`) or off.")
    duration: float = Field(
        default=5.0,
        ge=0,
        le=25.5,
        description="on: seconds before the reader turns it off by itself (0 = stay on until an `off`); "
        "sent in the reader's 100 ms units, at most 25.5 s (libosdp's Python binding sends 8 bits of the timer).",
    )


class OsdpLedSetting(Section):
    number: int = Field(default=0, ge=0, le=255, description="The reader's LED number.")
    color: LedColor = Field(default="red", description="Colour while on.")
    flash: bool = Field(default=True, description="Flash (on/off every 500 ms) rather than steady.")
    duration: float = Field(default=5.0, gt=0, le=25.5, description="Seconds before it returns to its normal state.")


class OsdpBuzzerSetting(Section):
    on_time: float = Field(default=0.5, gt=0, le=25.5, description="Seconds on per beep.")
    off_time: float = Field(default=0.5, ge=0, le=25.5, description="Seconds off between beeps.")
    count: int = Field(default=3, ge=1, le=255, description="Beeps.")


class OsdpOutputAction(_Action):
    remote_change_locked: ClassVar[str] = "a physical effect at a door: relays, LEDs and buzzers"

    kind: Literal["osdp_output"] = Field(description="Drive a reader's output, LED or buzzer over OSDP.")
    adapter: Name = Field(description="Id of the `osdp` access adapter whose control panel sends the command.")
    reader: int = Field(ge=0, le=126, description="OSDP address of the reader (PD) on that adapter.")
    output: OsdpOutputSetting | None = Field(default=None, description="Drive one of the reader's outputs.")
    led: OsdpLedSetting | None = Field(default=None, description="Light one of the reader's LEDs.")
    buzzer: OsdpBuzzerSetting | None = Field(default=None, description="Sound the reader's buzzer.")
    timeout: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Seconds one try may take: the reader must acknowledge each of its commands (output, LED, "
        "buzzer, sent in that order) within it.",
    )

    @model_validator(mode="after")
    def _does_something(self) -> OsdpOutputAction:
        if self.output is None and self.led is None and self.buzzer is None:
            raise ValueError("give at least one of `output`, `led` or `buzzer`")
        return self


ActionConfig = Annotated[HttpAction | CommandAction | OsdpOutputAction, Field(discriminator="kind")]


def action_reference_problems(config) -> list[tuple[tuple, str]]:
    """(key path, message) for names actions use that the config does not define."""
    problems = []
    rules = {rule.name for rule in config.rules}
    escalating = {name for rule in config.rules if rule.escalate for name in rule.escalate.actions}
    defined = {action.name for action in config.actions}
    for index, rule in enumerate(config.rules):
        for a_index, name in enumerate(rule.escalate.actions if rule.escalate else ()):
            if name not in defined:
                problems.append(
                    (
                        ("rules", index, "escalate", "actions", a_index),
                        f"unknown action {name!r} (known: {sorted(defined)})",
                    )
                )
    osdp = {a.id: a for a in config.access.adapters if a.type == "osdp"}
    seen: set[str] = set()
    for index, action in enumerate(config.actions):
        where = ("actions", index)
        if action.name in seen:
            problems.append(((*where, "name"), f"action name {action.name!r} is used twice"))
        seen.add(action.name)
        if not action.on and not action.remote and action.name not in escalating:
            problems.append(
                (
                    where,
                    f"action {action.name!r} has no `on` triggers, is not `remote` and no rule escalates to it: "
                    "nothing would run it",
                )
            )
        for t_index, trigger in enumerate(action.on):
            if trigger.rule is not None and trigger.rule not in rules:
                problems.append(
                    ((*where, "on", t_index, "rule"), f"unknown rule {trigger.rule!r} (known: {sorted(rules)})")
                )
        if action.kind == "osdp_output":
            adapter = osdp.get(action.adapter)
            if adapter is None:
                problems.append(((*where, "adapter"), f"no osdp adapter {action.adapter!r} (known: {sorted(osdp)})"))
            elif action.reader not in {reader.address for reader in adapter.readers}:
                known = sorted(reader.address for reader in adapter.readers)
                problems.append(
                    ((*where, "reader"), f"adapter {action.adapter!r} has no reader {action.reader} (known: {known})")
                )
    return problems
