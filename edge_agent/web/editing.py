"""What the Edit page may change (zones, lines, rules), merged back into the running config's text.

The browser gets and returns only the cameras' zones and lines and the video rules, never the
rest of the file (it may hold inline secrets). The merged text goes through the same parser as
`check-config`, and applying it through the agent's own reload path (confirm or revert).
Comments in the YAML are not kept by the merge; the diff the page shows says exactly what changes.
"""

from __future__ import annotations

import difflib

import yaml

from edge_agent.config import ConfigError, parse_config


class BadEdit(ValueError):
    """The request is not shaped like an edit at all (the page never sends one)."""


def editable(config_text: str) -> dict:
    raw = yaml.safe_load(config_text) or {}
    cameras = [
        {"id": camera.get("id"), "zones": camera.get("zones") or {}, "lines": camera.get("lines") or {}}
        for camera in raw.get("cameras") or []
        if isinstance(camera, dict)
    ]
    return {"cameras": cameras, "rules": raw.get("rules") or []}


def merged_text(config_text: str, edit: dict) -> str:
    """The running text with `edit`'s zones, lines and rules in place of the current ones."""
    if (
        not isinstance(edit, dict)
        or not isinstance(edit.get("cameras"), list)
        or not isinstance(edit.get("rules"), list)
    ):
        raise BadEdit("an edit is {cameras: [{id, zones, lines}], rules: [...]}")
    raw = yaml.safe_load(config_text) or {}
    by_id = {camera.get("id"): camera for camera in raw.get("cameras") or [] if isinstance(camera, dict)}
    for camera in edit["cameras"]:
        if not isinstance(camera, dict) or not isinstance(camera.get("id"), str) or camera["id"] not in by_id:
            raise BadEdit(f"unknown camera in the edit: {camera.get('id') if isinstance(camera, dict) else camera!r}")
        target = by_id[camera["id"]]
        for key in ("zones", "lines"):
            value = camera.get(key) or {}
            if not isinstance(value, dict):
                raise BadEdit(f"cameras {camera['id']}: {key} must be a mapping")
            if value:
                target[key] = value
            else:
                target.pop(key, None)
    raw["rules"] = edit["rules"]
    if not raw["rules"]:
        del raw["rules"]
    return yaml.dump(raw, Dumper=_FlowPoints, sort_keys=False, allow_unicode=True)


def problems(text: str, environ) -> list[dict]:
    """Every issue `check-config` would report, each with the key path the page shows it next to."""
    try:
        parse_config(text, source="web", environ=environ)
    except ConfigError as exc:
        return [{"path": issue.path, "line": issue.line, "message": issue.message} for issue in exc.issues]
    return []


def diff(old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(old.splitlines(True), new.splitlines(True), "running config", "proposed config")
    )


class _FlowPoints(yaml.SafeDumper):
    """[x, y] points on one line, as people write them."""


def _represent_list(dumper: yaml.SafeDumper, value: list):
    flow = all(isinstance(item, (int, float)) for item in value) and len(value) <= 4
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_FlowPoints.add_representer(list, _represent_list)
