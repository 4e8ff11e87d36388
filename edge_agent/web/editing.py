"""What the Edit page may change (zones, lines, motion masks, rules), merged into the config file on disk.

The page edits the file, not the running config: a remote `set-config` with `persist: false` is a trial that only
the running config holds, and an Apply (which writes the file) must never make it permanent. So an Apply is "this
file plus the edit, then reload", exactly what a technician would do on the box by hand; while the running config
differs from the file the page says so, and Apply ends the trial only when the request confirms it
(docs/technician.md).

The browser gets and returns only the cameras' zones, lines and motion masks and the video rules, never the rest of
the file (it may hold inline secrets). The merge keeps every other byte of the file (web/yaml_merge.py); the page's
diff is the list of keys the edit changes, with anything secret-named masked. The merged text goes through the same
parser as `check-config`, and is applied through the agent's own reload path (confirm or revert).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field

from edge_agent.config import AgentConfig, ConfigError, read_config_text
from edge_agent.config.errors import dotted
from edge_agent.config.redaction import REDACTED, is_secret_key, redact, scrub, secret_values
from edge_agent.control import AgentControl
from edge_agent.web import yaml_merge
from edge_agent.web.yaml_merge import YamlTrouble, plain

CAMERA_KEYS = ("zones", "lines")
MASKS = "masks"  # a camera's motion.masks: the edit carries them beside its zones and lines


class BadEdit(ValueError):
    """The request is not shaped like an edit at all (the page never sends one), or the file cannot take it."""


class FileUnreadable(RuntimeError):
    """The config file on disk cannot be read (the page edits the file, so it has nothing to show)."""


@dataclass(frozen=True)
class Texts:
    """The config file on disk and the running config's text, read together."""

    file: str
    running: str

    @property
    def digest(self) -> str:
        """Changes when either changes: an Apply prepared against older texts is refused."""
        return hashlib.sha256(f"{self.file}\0{self.running}".encode()).hexdigest()


@dataclass(frozen=True)
class Proposal:
    text: str  # the file's text with the edit merged in (the file's own text when nothing changed)
    changes: list[dict]  # [{path, before, after}], secret-named values masked
    secrets: set[str] = field(default_factory=set)  # inline secrets of the file: never in a message we return


def read_texts(agent: AgentControl) -> Texts:
    try:
        return Texts(read_config_text(agent.config_path), agent.config_text)
    except ConfigError as exc:
        raise FileUnreadable(f"the config file cannot be read, so the page cannot edit it: {exc.report()}") from None


def running_differs_in(file_text: str, agent: AgentControl) -> list[str] | None:
    """The sections in which the running config differs from the file (a `persist: false` change, a file edited
    and not yet reloaded); None when the file is not a valid config (Validate shows why)."""
    try:
        on_disk = agent.parse_config(file_text, str(agent.config_path), remote=False)
    except ConfigError:
        return None
    running = agent.config
    return [name for name in AgentConfig.model_fields if getattr(on_disk, name) != getattr(running, name)]


def editable(config_text: str) -> dict:
    return _view(plain(_document(config_text)))


def propose(config_text: str, edit) -> Proposal:
    """The file's text with `edit`'s zones, lines and rules in place of its own, changing only what differs."""
    _check_shape(edit)
    document = _document(config_text)
    pristine = copy.deepcopy(document)  # the unchanged tree, for telling the edit's lines from ruamel's layout
    before = plain(document)
    changes: list[tuple] = []
    cameras = {plain(camera.get("id")): (index, camera) for index, camera in _cameras(document)}
    for camera in edit["cameras"]:
        if not isinstance(camera, dict) or not isinstance(camera.get("id"), str) or camera["id"] not in cameras:
            raise BadEdit(f"unknown camera in the edit: {camera.get('id') if isinstance(camera, dict) else camera!r}")
        index, target = cameras[camera["id"]]
        for key in CAMERA_KEYS:
            value = camera.get(key) or {}
            if not isinstance(value, dict):
                raise BadEdit(f"cameras {camera['id']}: {key} must be a mapping")
            _merge_section(target, key, value, ("cameras", index, key), changes)
        _merge_masks(target, camera.get(MASKS), ("cameras", index, "motion", MASKS), changes, camera["id"])
    _merge_section(document, "rules", edit["rules"], ("rules",), changes)
    secrets = secret_values(before)
    if not changes:
        return Proposal(config_text, [], secrets)
    after = plain(document)
    if _outside_edit(after) != _outside_edit(before) or not _holds(after, edit):
        raise BadEdit(
            "the file shares these zones, lines or rules with other parts of it through YAML anchors (&name, *name); "
            "an edit here would change those too: edit the file on the device"
        )
    return Proposal(yaml_merge.dump(document, pristine, config_text), [_shown(*change) for change in changes], secrets)


def problems(agent: AgentControl, text: str, secrets: set[str] = frozenset()) -> list[dict]:
    """Every issue the Apply would meet, each with the key path the page shows it next to (any inline secret a message
    quotes masked: the reply and the audit log are not the file). The text is parsed as remote text: it may keep the
    running config's `${ENV}` references, and a new one is an issue, never expanded (config/yaml_source.py)."""
    try:
        agent.parse_config(text, "web", remote=True)
    except ConfigError as exc:
        return [
            {"path": issue.path, "line": issue.line, "message": scrub(issue.message, secrets)} for issue in exc.issues
        ]
    return []


def _document(config_text: str) -> dict:
    try:
        document = yaml_merge.load(config_text)
    except YamlTrouble as exc:
        raise BadEdit(f"the config file: {exc}") from None
    if not isinstance(document, dict):
        raise BadEdit("the config file is not a mapping of sections")
    return document


def _cameras(document: dict):
    cameras = document.get("cameras")
    return [
        (i, camera) for i, camera in enumerate(cameras if isinstance(cameras, list) else []) if isinstance(camera, dict)
    ]


def _check_shape(edit) -> None:
    if (
        not isinstance(edit, dict)
        or not isinstance(edit.get("cameras"), list)
        or not isinstance(edit.get("rules"), list)
    ):
        raise BadEdit("an edit is {cameras: [{id, zones, lines}], rules: [...]}")


def _merge_section(parent, key: str, value, path: tuple, changes: list) -> None:
    """`parent[key]` made to hold `value`; an absent section counts as empty, and one the edit empties is left out
    (as people write it: no `zones: {}`)."""
    empty = {} if isinstance(value, dict) else []
    current = parent.get(key)
    if current is None:
        if not value:
            return
        parent[key] = current = yaml_merge.fresh(empty)
    if isinstance(current, dict) != isinstance(value, dict) or isinstance(current, list) != isinstance(value, list):
        changes.append((path, plain(current), value))
        parent[key] = yaml_merge.fresh(value)
        return
    recorded = len(changes)
    if isinstance(value, dict):
        yaml_merge.update_mapping(current, value, path, changes)
    else:
        yaml_merge.update_sequence(current, value, path, changes)
    if not value and len(changes) > recorded:
        del parent[key]


def _merge_masks(camera, masks, path: tuple, changes: list, camera_id: str) -> None:
    """The camera's `motion.masks` made to hold `masks` (a list of polygons; None leaves them as they are)."""
    if masks is None:
        return
    if not isinstance(masks, list):
        raise BadEdit(f"cameras {camera_id}: masks must be a list of polygons")
    motion = camera.get("motion")
    if motion is None:
        if not masks:
            return
        camera["motion"] = motion = yaml_merge.fresh({})
    if not isinstance(motion, dict):
        raise BadEdit(f"cameras {camera_id}: motion is not a mapping in the file; edit it on the device")
    _merge_section(motion, MASKS, masks, path, changes)
    if not motion:
        del camera["motion"]


def _outside_edit(data: dict) -> dict:
    """The document without what the page edits: an edit must leave it exactly as it was."""
    rest = copy.deepcopy(data)
    rest.pop("rules", None)
    for camera in rest.get("cameras") if isinstance(rest.get("cameras"), list) else []:
        if isinstance(camera, dict):
            for key in CAMERA_KEYS:
                camera.pop(key, None)
            motion = camera.get("motion")
            if isinstance(motion, dict):
                motion.pop(MASKS, None)
                if not motion:
                    camera.pop("motion")
    return rest


def _holds(data: dict, edit: dict) -> bool:
    """True when the merged document reads back as the edit (no anchor carried a change somewhere else)."""
    view = _view(data)
    cameras = {camera["id"]: camera for camera in view["cameras"]}
    return (
        yaml_merge.same(view["rules"], edit["rules"])
        and all(
            yaml_merge.same(cameras[camera["id"]][key], camera.get(key) or {})
            for camera in edit["cameras"]
            for key in CAMERA_KEYS
        )
        and all(
            yaml_merge.same(cameras[camera["id"]][MASKS], camera[MASKS])
            for camera in edit["cameras"]
            if camera.get(MASKS) is not None
        )
    )


def _view(data: dict) -> dict:
    cameras = [
        {"id": camera.get("id"), **{key: camera.get(key) or {} for key in CAMERA_KEYS}, MASKS: _masks_of(camera)}
        for camera in data.get("cameras") or []
        if isinstance(camera, dict)
    ]
    return {"cameras": cameras, "rules": data.get("rules") or []}


def _masks_of(camera: dict) -> list:
    motion = camera.get("motion")
    return (motion.get(MASKS) if isinstance(motion, dict) else None) or []


def _shown(path: tuple, before, after) -> dict:
    """One change as the page, the reply and the audit log show it: a secret-named key's values masked."""
    secret = any(isinstance(step, str) and is_secret_key(step) for step in path)

    def shown(value):
        if value is None:
            return None
        return REDACTED if secret else redact(value)

    return {"path": dotted(path), "before": shown(before), "after": shown(after)}
