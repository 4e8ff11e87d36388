"""The JSON Schema of a video rule, for the Edit page's generated rule forms.

Straight from the config models (the same schema `docs/schemas` and `docs/configuration.md` come from), so a new rule
field, its type, range, default and description appear on the page without page work. Only the definitions a rule
reaches are sent.
"""

from __future__ import annotations

import functools
import json

from edge_agent.config import AgentConfig


@functools.cache
def rule_schema() -> dict:
    """{"items": the rules' item schema (oneOf by `type`), "$defs": every definition it refers to}."""
    schema = AgentConfig.model_json_schema()
    items = schema["properties"]["rules"]["items"]
    definitions = schema.get("$defs", {})
    reached: dict[str, dict] = {}
    pending = _refs(items)
    while pending:
        name = pending.pop()
        if name in reached or name not in definitions:
            continue
        reached[name] = definitions[name]
        pending |= _refs(definitions[name])
    return {"items": items, "$defs": reached}


def _refs(node) -> set[str]:
    text = json.dumps(node)
    prefix = '"$ref": "#/$defs/'
    found, start = set(), text.find(prefix)
    while start != -1:
        end = text.index('"', start + len(prefix))
        found.add(text[start + len(prefix) : end])
        start = text.find(prefix, end)
    return found
