"""Which config fields a remote sender may change: an allow-list kept on the fields themselves.

A remote `set-config` (the platform's account) and the technician page's Apply may change only
what is marked remote here. Everything else — every path, where the broker is and its
credentials, listeners, adapters, the outbox, the daemon's own settings, and what an action runs,
where it sends and what triggers it — is set only in the config file on the device.

The mark is the field's `json_schema_extra` (so it shows in the JSON Schema and in
docs/configuration.md); a field without one takes its section's `remote_change` class
attribute, and a section without one is local. `remote_change_problems` compares the running
config with a proposed one and names every changed field a remote sender may not change; the
daemon refuses such a config before anything is built, connected or sent.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from edge_agent.config.errors import dotted

MARK = "x-remote-change"  # the JSON Schema keyword that carries the policy
WHY = "x-remote-change-why"
# values of a remote field that only the local file may choose (evidence privacy `none`): a remote sender may move
# away from them, never to them
LOCAL_VALUES = "x-remote-change-local-values"
REMOTE, LOCAL, BROKER = "remote", "local", "broker"

REMOTE_FIELD = {MARK: REMOTE}
BROKER_FIELD = {MARK: BROKER}  # remote only towards a broker the local file lists in mqtt.remote_brokers


def local(why: str) -> dict:
    """The json_schema_extra of a field only the config file on the device may set, and why."""
    return {MARK: LOCAL, WHY: why}


PATH = local("a path on the box: a remote sender could make the agent read, send or overwrite any file")
PLACE = local("a host the agent connects to: a remote sender could point it anywhere")
LISTENER = local("a listener: a remote sender could open the box to the LAN")
_MISSING = object()


def field_policy(model: type[BaseModel], name: str) -> tuple[str, str | None, bool]:
    """(policy, why, explicit) of one field.

    A section whose `remote_change_locked` gives a reason is local whole (a command action: what the box runs);
    else the field's own mark; else its section's `remote_change`; else local.
    """
    locked = getattr(model, "remote_change_locked", None)
    if locked:
        return LOCAL, locked, True
    extra = model.model_fields[name].json_schema_extra
    if isinstance(extra, dict) and MARK in extra:
        return str(extra[MARK]), extra.get(WHY), True
    return getattr(model, "remote_change", LOCAL), None, False


def explicit_mark(field: FieldInfo) -> str | None:
    extra = field.json_schema_extra
    return str(extra[MARK]) if isinstance(extra, dict) and MARK in extra else None


def is_path_typed(annotation) -> bool:
    """True when a field's type holds a filesystem path anywhere (Optional, Annotated, list, dict values)."""
    if annotation is Path or (isinstance(annotation, type) and issubclass(annotation, Path)):
        return True
    return any(is_path_typed(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def remote_change_problems(old: BaseModel, new: BaseModel) -> list[tuple[tuple, str]]:
    """(key path, message) for every field `new` changes against `old` that a remote sender may not change."""
    judge = _Judge(_broker_allowed(old, new))
    judge.compare_models(type(old), old, new, ())
    return judge.problems


class _Judge:
    def __init__(self, broker_allowed: bool):
        self.broker_allowed = broker_allowed
        self.problems: list[tuple[tuple, str]] = []

    def compare_models(self, model: type[BaseModel], old, new, path: tuple) -> None:
        for name in model.model_fields:
            before = _MISSING if old is _MISSING else getattr(old, name)
            after = _MISSING if new is _MISSING else getattr(new, name)
            self.compare(before, after, (*path, name), *field_policy(model, name))
            if after in _local_values(model, name) and not _same(before, after):
                why = model.model_fields[name].json_schema_extra.get(WHY)
                self.problems.append(((*path, name), f"{after!r} {_WHERE}" + (f" ({why})" if why else "")))

    def compare(self, old, new, path: tuple, policy: str, why: str | None, explicit: bool) -> None:
        if _same(old, new):
            return
        if (explicit and policy != REMOTE) or not _is_container(old, new):
            if policy == LOCAL or (policy == BROKER and not self.broker_allowed):
                self.problems.append((path, _refusal(policy, why)))
            return
        if _is_model(old) or _is_model(new):
            self._compare_section(old, new, path)
        elif isinstance(old, dict) or isinstance(new, dict):
            self._compare_mapping(old, new, path, policy, why)
        else:
            self._compare_list(old, new, path, policy, why)

    def _compare_section(self, old, new, path: tuple) -> None:
        if _is_model(old) and _is_model(new) and type(old) is type(new):
            self.compare_models(type(new), old, new, path)
            return
        if _is_model(old):  # removed, or its kind changed: every field of the old one goes
            self._whole(old, path, "removing")
        if _is_model(new):  # added, or of another kind: every field of the new one comes
            self._whole(new, path, "adding")

    def _whole(self, section: BaseModel, path: tuple, verb: str) -> None:
        """One problem for a whole section added or removed, naming its local-only fields, rather than one each."""
        judge = _Judge(self.broker_allowed)
        judge.compare_models(type(section), _MISSING if verb == "adding" else section, section, path)
        if verb == "removing":
            judge.compare_models(type(section), section, _MISSING, path)
        if not judge.problems:
            return
        # what the sender wrote first (an added action's url, not its defaulted retries), and the reason of that
        written = sorted(judge.problems, key=lambda problem: problem[0][len(path)] not in section.model_fields_set)
        fields = list(dict.fromkeys(dotted(p[len(path) :]) for p, _ in written))
        reasons = [message.partition(" (")[2].rstrip(")") for _, message in written]
        why = next((reason for reason in reasons if reason), "")
        what = f"{verb} {_label(section)}"
        shown = ", ".join(fields[:6]) + (f" and {len(fields) - 6} more" if len(fields) > 6 else "")
        message = f"{what} {_WHERE} ({why + '; ' if why else ''}local-only: {shown})"
        self.problems.append((path, message))

    def _compare_mapping(self, old, new, path: tuple, policy: str, why: str | None) -> None:
        old, new = old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {}
        for key in dict.fromkeys([*old, *new]):
            self.compare(old.get(key, _MISSING), new.get(key, _MISSING), (*path, key), policy, why, False)

    def _compare_list(self, old, new, path: tuple, policy: str, why: str | None) -> None:
        old, new = old if isinstance(old, list) else [], new if isinstance(new, list) else []
        key = _identity_key(old + new)
        if key is None:  # plain values, or sections without an id: position by position
            for index in range(max(len(old), len(new))):
                before = old[index] if index < len(old) else _MISSING
                after = new[index] if index < len(new) else _MISSING
                self.compare(before, after, (*path, index), policy, why, False)
            return
        # items with an id or a name are matched by it: reordering changes nothing, a rename removes one and adds one
        before = {getattr(item, key): (index, item) for index, item in enumerate(old)}
        for index, item in enumerate(new):
            self.compare(before.pop(getattr(item, key), (None, _MISSING))[1], item, (*path, index), policy, why, False)
        for index, item in before.values():
            self.compare(item, _MISSING, (*path, index), policy, why, False)


def _local_values(model: type[BaseModel], name: str) -> list:
    extra = model.model_fields[name].json_schema_extra
    return list(extra.get(LOCAL_VALUES) or []) if isinstance(extra, dict) else []


def _broker_allowed(old, new) -> bool:
    """True when the proposed broker is one the running (local) config lets the platform move the box to."""
    allowed = list(getattr(getattr(old, "mqtt", None), "remote_brokers", None) or [])
    mqtt = getattr(new, "mqtt", None)
    return mqtt is not None and (mqtt.host in allowed or f"{mqtt.host}:{mqtt.port}" in allowed)


_WHERE = "may only be done in the config file on the device, not by a remote set-config or the web page"


def _label(section: BaseModel) -> str:
    kind = getattr(section, "type", None)
    noun = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(section).__name__.removesuffix("Config")).lower()
    for key in ("id", "name"):
        if isinstance(getattr(section, key, None), str):
            return f"{noun} {getattr(section, key)!r}" + (f" ({kind})" if isinstance(kind, str) else "")
    return noun


def _refusal(policy: str, why: str | None) -> str:
    where = "may only be changed in the config file on the device, not by a remote set-config or the web page"
    if policy == BROKER:
        why = (
            "where the broker is and its credentials; to let the platform move the box, list the broker in "
            "mqtt.remote_brokers in the file on the device"
        )
    return f"{where} ({why})" if why else where


def _identity_key(items: list) -> str | None:
    """`id` or `name` when every item is a section with that field (cameras, rules, actions, doors...), else None."""
    if not items or not all(_is_model(item) for item in items):
        return None
    for key in ("id", "name"):
        if all(key in type(item).model_fields for item in items):
            return key
    return None


def _is_model(value) -> bool:
    return isinstance(value, BaseModel)


def _is_container(old, new) -> bool:
    return any(_is_model(value) or isinstance(value, (dict, list)) for value in (old, new))


def _same(old, new) -> bool:
    if old is _MISSING or new is _MISSING:
        return old is new
    return type(old) is type(new) and old == new


def refused_message(problems: list[tuple[tuple, str]]) -> str:
    """One reply naming every refused field (the platform fixes them all at once)."""
    lines = [f"{dotted(path)}: {message}" for path, message in problems]
    return "remote change refused, still running the previous config:\n" + "\n".join(lines)
