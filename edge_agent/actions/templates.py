"""Filling an action's templates with alert fields: text, URL, header, JSON body and argv.

A template is literal text and `{field}` names (edge_agent/events/action.py `template_parts`); a
value is only ever inserted as data: percent-encoded in a URL, a JSON value in a body, one argv
entry for a program, a header value stripped of control characters. No `str.format`, no `eval`,
no shell: an alert's content (a zone name, a message) cannot become syntax anywhere.

A program's arguments need one more rule, because a program gives meaning to an argument's
*shape*: `-x` is an option and `/etc/x` or `..` a path, shell or no shell. Field
values reach argv from people the installer does not control: zone, line, rule, camera and door
names can be changed by a remote `set-config`, door and reader ids arrive from controllers, and an
`agent.health` message quotes the config text it rejected. So `render_argv` refuses, naming the
argument and the field, a value that starts with `-` or contains `/`, is `.` or `..`, or holds
NUL, and the program is not run (`ArgvRefused`). What the installer wrote around a value is kept
as written: `--zone={zone}` is an option the installer chose, and only its value is checked.
Refusing beats the alternatives: escaping cannot exist for argv (`--` is not understood by every
program and does not cover paths), and passing values on stdin instead would break the scripts
installers have written against argv and hide from `edge-agent actions render` what the program
gets. Names in the config cannot take these shapes at all (config/base.py `Name`); this check is
what holds for every field, whatever route its value came by. docs/actions.md#command says the same.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from edge_agent.actions.base import Fields
from edge_agent.events.action import template_parts

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def value_text(value: Any) -> str:
    """A field's value as text: None (the alert has no such fact) is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_text(template: str, fields: Fields, encode=value_text) -> str:
    """`template` with every `{field}` replaced by `encode(value)`; literal text is kept as written."""
    return "".join(piece if kind == "text" else encode(fields.get(piece)) for kind, piece in template_parts(template))


def render_url(template: str, fields: Fields) -> str:
    """A URL (or its path and query): every value percent-encoded whole, so `/`, `?`, `&`, `#` and line breaks
    in a value stay inside its own path segment or query value."""
    return render_text(template, fields, lambda value: quote(value_text(value), safe=""))


def render_header(template: str, fields: Fields) -> bytes:
    """A header value as UTF-8: control characters in values (CR, LF, NUL…) become spaces, so a value can never
    end the header or start another."""
    return render_text(template, fields, lambda value: _CONTROL.sub(" ", value_text(value))).encode("utf-8")


def render_json(template: Any, fields: Fields) -> Any:
    """A JSON body template filled in: a string that is exactly one `{field}` becomes that value with its JSON
    type (a count stays a number, a missing fact is null); any other string is text with values inserted.
    Keys are never templated."""
    if isinstance(template, str):
        parts = template_parts(template)
        if len(parts) == 1 and parts[0][0] == "field":
            return fields.get(parts[0][1])
        return render_text(template, fields)
    if isinstance(template, list):
        return [render_json(item, fields) for item in template]
    if isinstance(template, dict):
        return {key: render_json(item, fields) for key, item in template.items()}
    return template


class ArgvRefused(ValueError):
    """A field's value would have made an argument an option or a path: nothing is run. The message names the
    argument, its template, the field and why, for the action record and `edge-agent actions render`."""


def argument_value_problem(text: str) -> str | None:
    """Why a field's value may not be put into a program's argument, or None when it may."""
    if text.startswith("-"):
        return "starts with '-', so the program could take it for an option"
    if "/" in text:
        return "contains '/', so it could name a path"
    if text in (".", ".."):
        return f"is {text!r}, a path"
    if "\0" in text:
        return "contains NUL, which no argument can carry"
    return None


def render_argv(argv: list[str], fields: Fields) -> list[str]:
    """One argument per configured entry, whatever a value holds (spaces, quotes, `;`, `$()`); the program
    (argv[0]) is never templated. Raises ArgvRefused when a value could become an option or a path."""
    rendered = [argv[0]]
    for position, template in enumerate(argv[1:], 1):
        for kind, name in template_parts(template):
            text = value_text(fields.get(name)) if kind == "field" else ""
            problem = argument_value_problem(text)
            if problem:
                shown = repr(text) if len(text) <= 60 else repr(text[:57]) + "..."
                raise ArgvRefused(
                    f"refused, not run: argument {position} ({template!r}): the value of {{{name}}}, {shown}, {problem}"
                )
        rendered.append(render_text(template, fields))
    return rendered
