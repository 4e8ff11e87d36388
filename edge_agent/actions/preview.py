"""What the configured actions are, and exactly what one would send for an alert, without sending it.

The API under `edge-agent actions list|render`. `render_action` builds the action's kind the way the
daemon does (kinds.py: programs checked, secret files read, so a build error shows here too) and
asks the kind's own code for what it sends — `HttpKind.request`, the `render_argv` that
`CommandKind.run` calls, the `planned_commands` `OsdpOutputKind` sends — so the picture cannot
drift from the real run: an argument `render_argv` refuses (a value that could be an option or a
path) is shown as that refusal, word for word the error the run's record would carry. Secret header
values are masked; everything else is shown as sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from edge_agent.actions.base import ActionEnv, Fields
from edge_agent.actions.kinds import build_kind
from edge_agent.actions.templates import ArgvRefused, render_argv
from edge_agent.config.redaction import REDACTED, header_shown, only_fields, redact_body, redact_url

OSDP_COMMANDS = {1: ("osdp_OUT", 0x68), 2: ("osdp_LED", 0x69), 3: ("osdp_BUZ", 0x6A)}  # libosdp command -> wire
LED_COLOURS = ("black", "red", "green", "amber", "blue", "magenta", "cyan", "white")  # OSDP colour codes 0..7
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# -- list ----------------------------------------------------------------------------------------


def describe_action(config) -> dict:
    """One action's settings as plain data: kind, target, triggers, limits, remote flag."""
    return {
        "name": config.name,
        "kind": config.kind,
        "enabled": config.enabled,
        "remote": config.remote,
        "target": target_of(config),
        "on": [trigger.model_dump(exclude_none=True) for trigger in config.on],
        "schedule": [window.model_dump() for window in config.schedule],
        "cooldown": config.cooldown,
        "rate_limit": config.rate_limit.model_dump(),
        "timeout": config.timeout,
        "retries": config.retries,
        "queue_size": config.queue_size,
    }


def target_of(config) -> str:
    if config.kind == "http":
        return f"{config.method} {redact_url(config.url)}"
    if config.kind == "command":
        return config.argv[0]
    return f"osdp adapter {config.adapter} reader {config.reader}"


def describe_text(configs: Sequence) -> str:
    if not configs:
        return "no actions configured"
    blocks = []
    for config in configs:
        item = describe_action(config)
        state = "" if config.enabled else " [disabled: enabled: false]"
        schedule = ", ".join(_window_text(w) for w in item["schedule"]) or "always"
        rate = item["rate_limit"]
        blocks.append(
            "\n".join(
                [
                    f"{config.name} ({config.kind}){state}: {item['target']}",
                    f"  on:       {'; '.join(_trigger_text(t) for t in item['on']) or '-'}",
                    f"  limits:   schedule {schedule}; cooldown {config.cooldown:g} s; "
                    f"rate {rate['count']} per {rate['per']:g} s; queue {config.queue_size}",
                    f"  tries:    {1 + config.retries} of at most {config.timeout:g} s each",
                    f"  remote:   {'yes (run-action allowed)' if config.remote else 'no'}",
                ]
            )
        )
    return "\n".join(blocks)


def _trigger_text(trigger: dict) -> str:
    named = [f"{key} {trigger[key]}" for key in ("rule", "type", "source") if key in trigger]
    return f"{' '.join(named)} [{', '.join(trigger['phases'])}]"


def _window_text(window: dict) -> str:
    days = window["days"]
    on_days = "" if len(days) == 7 else f" {','.join(days)}"
    return f"{window['start']}-{window['end']}{on_days}"


# -- render --------------------------------------------------------------------------------------


def render_action(config, fields: Fields, env: ActionEnv | None = None, on_the_box: bool = False) -> dict:
    """What one try of the action sends for these alert fields, as plain data; nothing is sent.
    Raises ActionBuildError (a missing program, an unreadable secret file) as the daemon would.
    Header values: secret-named ones masked always; `on_the_box` (the CLI, run by someone who can read the file
    anyway) shows the others, the page masks every one but a few plain headers."""
    kind = build_kind(config, env or ActionEnv())
    try:
        shown = {"action": config.name, "kind": config.kind, "timeout": config.timeout, "tries": 1 + config.retries}
        if config.kind == "http":
            return shown | _http_parts(kind, fields, on_the_box)
        if config.kind == "command":
            return shown | _command_parts(config, fields)
        return shown | {"adapter": config.adapter, "reader": config.reader, "commands": _osdp_parts(config)}
    finally:
        kind.close()


def kind_environment() -> dict[str, str]:
    from edge_agent.actions.command import ENVIRONMENT

    return dict(ENVIRONMENT)


def _command_parts(config, fields: Fields) -> dict:
    """The argv as run, or (argv None) the refusal the run would record instead of running."""
    try:
        argv, refused = render_argv(config.argv, fields), None
    except ArgvRefused as exc:
        argv, refused = None, str(exc)
    return {"argv": argv, "refused": refused, "environment": kind_environment(), "cwd": "/"}


def _http_parts(kind, fields: Fields, on_the_box: bool) -> dict:
    request = kind.request(fields)
    secret_files = {name: str(path) for name, path in kind.config.secret_headers.items()}
    # fixed headers other than plain ones are masked like secret ones: a credential may sit in a header of any name,
    # and the page's Render must not show what get-config hides (docs/security.md)
    headers = [
        [
            name,
            f"<secret from {secret_files[name]}>"
            if name in request.secret
            else header_shown(
                name,
                value.decode("utf-8", "replace"),
                template=kind.config.headers.get(name),
                only_secret_named=on_the_box,
            ),
        ]
        for name, value in request.headers
    ]
    body = _body_shown(kind.config, request.body, on_the_box)
    return {
        "method": request.method,
        "url": redact_url(request.url),
        "headers": headers,
        "body": body,
        "body_bytes": None if request.body is None else len(request.body),
    }


def _body_shown(config, body: bytes | None, on_the_box: bool) -> str | None:
    """The body as the tools show it: credential-named JSON keys masked; a text body only when it is made of
    `{field}`s alone or on the box (the CLI)."""
    if body is None:
        return None
    text = body.decode("utf-8", "replace")
    if config.body is not None:
        return json.dumps(redact_body(json.loads(body)), ensure_ascii=False)
    return text if on_the_box or only_fields(config.body_text) else REDACTED


def _osdp_parts(config) -> list[dict]:
    from edge_agent.actions.osdp_output import planned_commands  # needs libosdp: only for this kind

    parts = []
    for label, command in planned_commands(config):
        wire, code = OSDP_COMMANDS[int(command["command"])]
        settings = {key: value for key, value in command.items() if key != "command"}
        for key in ("on_color", "off_color"):
            if key in settings:
                settings[key] = LED_COLOURS[int(settings[key])]
        parts.append({"label": label, "command": wire, "code": f"0x{code:02X}", "fields": settings})
    return parts


def rendering_text(shown: dict) -> str:
    """`render_action`'s result for people: the request, argv or OSDP commands, exactly as sent."""
    tries = f"{shown['tries']} tr{'y' if shown['tries'] == 1 else 'ies'}"
    lines = [f"action:  {shown['action']} ({shown['kind']}; up to {tries} of at most {shown['timeout']:g} s each)"]
    if shown["kind"] == "http":
        lines.append(f"request: {shown['method']} {shown['url']}")
        lines.append("headers:")
        lines += [f"  {name}: {value}" for name, value in shown["headers"]]
        if shown["body"] is None:
            lines.append("body:    none")
        else:
            lines.append(f"body ({shown['body_bytes']} bytes):")
            lines.append(_printable(shown["body"]))
    elif shown["kind"] == "command":
        if shown["refused"]:
            lines.append(f"argv:    {shown['refused']} (the run would fail with this error)")
        else:
            lines.append(f"argv:    {json.dumps(shown['argv'], ensure_ascii=False)}")
        environment = " ".join(f"{key}={value}" for key, value in shown["environment"].items())
        lines.append(f"run:     no shell, no stdin, working directory {shown['cwd']}, environment {environment}")
    else:
        lines.append(f"target:  reader {shown['reader']} on osdp adapter {shown['adapter']}")
        lines.append("commands, in order, each acknowledged before the next (nothing from the alert is sent):")
        for number, command in enumerate(shown["commands"], 1):
            settings = json.dumps(command["fields"])
            lines.append(f"  {number}. {command['label']}: {command['command']} ({command['code']}) {settings}")
    return "\n".join(lines)


def _printable(text: str) -> str:
    """The body as sent, except control characters other than newline and tab, shown as \\xNN so a terminal
    does not act on them (use --json for the exact string)."""
    return _UNPRINTABLE.sub(lambda match: f"\\x{ord(match.group(0)):02x}", text)
