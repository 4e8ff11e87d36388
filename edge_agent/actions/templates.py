"""Filling an action's templates with alert fields: text, URL, header, JSON body and argv.

A template is literal text and `{field}` names (edge_agent/events/action.py `template_parts`); a
value is only ever inserted as data: percent-encoded in a URL, a JSON value in a body, one argv
entry for a program, a header value stripped of control characters. No `str.format`, no `eval`,
no shell: an alert's content (a zone name, a message) cannot become syntax anywhere.
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


def render_argv(argv: list[str], fields: Fields) -> list[str]:
    """One argument per configured entry, whatever a value holds (spaces, quotes, `;`, `$()`); the program
    (argv[0]) is never templated. NUL, which no argument can carry, is dropped."""
    return [argv[0], *(render_text(arg, fields, lambda value: value_text(value).replace("\0", "")) for arg in argv[1:])]
