"""docs/configuration.md, generated from the config models' field descriptions.

`python scripts/gen_docs.py` (make schemas) rewrites it; a test fails when the committed
file differs, so the reference can never drift from the code.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from pathlib import Path

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from edge_agent.config.base import NAME_RULE, Name, check_name
from edge_agent.config.model import AgentConfig
from edge_agent.config.policy import BROKER, LOCAL, REMOTE, field_policy

HEADER = """# Configuration reference

<!-- Generated from the config models by `python scripts/gen_docs.py`; do not edit by hand. -->

An edge-agent config is one YAML file (`edge-agent run --config FILE`). Every section
rejects unknown keys, so a typo is an error with its line number, never a silent no-op.
Check a file with `edge-agent check-config FILE`; `configs/example.yaml` shows every
section with the usual values.

- A *name* (zone, line, rule, camera, door, reader, adapter and action names and ids, and the
  references to them) is {name_rule}.
  Names reach topics, URLs and program arguments, and a remote `set-config` may change some of them,
  so no name can start an option or be a path (docs/actions.md#command).
- `${NAME}` in a value reads the environment variable NAME; `${NAME:-default}` falls back; `$$` is a literal `$`.
- Secrets are read from files (`*_file` keys) or the environment and are never logged or sent back
  by the `get-config` command.
- Paths are absolute or relative to the agent's working directory (`/` under systemd).
- The **remote** column is the remote-change allow-list (edge_agent/config/policy.py, docs/security.md):
  `yes` — a remote `set-config` or the technician page's Apply may change it; `local` — only this file on
  the device may; `broker` — only towards a broker this file lists in `mqtt.remote_brokers`; `↓` — a
  section: its own fields say. Adding or removing a list entry (a camera, an action) changes every field
  it has, so it is local as soon as one of them is.
- The running agent re-reads the file on `SIGHUP` (`systemctl reload edge-agent`): the new file is
  validated fully first, and an invalid one keeps the running config (see docs/troubleshooting.md).
"""


def configuration_markdown() -> str:
    sections: list[str] = [HEADER.replace("{name_rule}", NAME_RULE)]
    seen: dict[type, str] = {}
    _document(AgentConfig, "", sections, seen, title="Top level")
    return "\n".join(sections).rstrip() + "\n"


def write_configuration_doc(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(configuration_markdown())
    return path


def _document(model: type[BaseModel], where: str, out: list[str], seen: dict, title: str | None = None) -> None:
    seen.setdefault(model, where)
    heading = title or f"`{where}`"
    out.append(f"## {heading}\n")
    doc = (model.__doc__ or "").strip()
    if doc and model is not AgentConfig and not doc.startswith(("A base class", "Every config section")):
        out.append(" ".join(doc.split()) + "\n")
    out.append("| key | type | default | remote | description |")
    out.append("|---|---|---|---|---|")
    children: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        path = f"{where}.{name}" if where else name
        nested = _nested_models(field.annotation)
        description = field.description or _summary(nested)
        cells = [f"`{name}`", _field_type_text(field), _default_text(field), _remote_text(model, name, nested)]
        out.append("| " + " | ".join([*cells, _escape(description)]) + " |")
        children.extend((path + suffix, child) for suffix, child in nested)
    out.append("")
    for path, child in children:
        if child in seen and child.model_fields:
            out.append(f"`{path}` has the same fields as `{seen[child]}`.\n")
    for path, child in children:
        if child not in seen:
            _document(child, path, out, seen)


def _remote_text(model: type[BaseModel], name: str, nested: list) -> str:
    policy, _, explicit = field_policy(model, name)
    if nested and not (explicit and policy == LOCAL):
        return "↓"
    return {REMOTE: "yes", LOCAL: "local", BROKER: "broker"}[policy]


def _summary(nested: list[tuple[str, type[BaseModel]]]) -> str:
    """A section field without a description borrows its model's first docstring sentence."""
    if len(nested) != 1:
        return ""
    doc = " ".join((nested[0][1].__doc__ or "").split())
    if not doc or doc.startswith("Every config section"):
        return "See below."
    return doc.split(". ")[0].rstrip(".") + ". See below."


def _nested_models(annotation, suffix: str = "") -> list[tuple[str, type[BaseModel]]]:
    """(path suffix, model) for every model reachable from a field type, in declaration order."""
    annotation = _strip_annotated(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(suffix, annotation)]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        return _nested_models(args[0], suffix + "[]")
    if origin is dict:
        return _nested_models(args[1], suffix + ".<name>")
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        found = []
        for member in members:
            for sub_suffix, model in _nested_models(member, suffix):
                tag = _type_tag(model)
                found.append((sub_suffix + (f" ({tag[0]}: {tag[1]})" if tag and len(members) > 1 else ""), model))
        return found
    return []


def _type_tag(model: type[BaseModel]) -> tuple[str, str] | None:
    """(key, value) of the literal that tells a union's members apart: rules' `type`, actions' `kind`."""
    for key in ("type", "kind"):
        field = model.model_fields.get(key)
        values = typing.get_args(field.annotation) if field is not None else ()
        if values:
            return key, values[0]
    return None


def _strip_annotated(annotation):
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _field_type_text(field: FieldInfo) -> str:
    """pydantic keeps a field's own Annotated metadata apart from its annotation: a `Name` field shows as str."""
    if any(getattr(item, "func", None) is check_name for item in field.metadata):
        return "name"
    return _type_text(field.annotation)


def _type_text(annotation) -> str:
    if annotation == Name:
        return "name"
    annotation = _strip_annotated(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{json.dumps(a)}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        tags = [_type_tag(m) for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if tags and all(tags):
            return "one of: " + ", ".join(f"`{tag[1]}`" for tag in tags)
        text = " or ".join(_type_text(m) for m in members)
        return text + (" or null" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_text(args[0])}"
    if origin is dict:
        return f"map of name → {_type_text(args[1])}"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "section"
        if issubclass(annotation, enum.Enum):
            return " \\| ".join(f"`{m.value}`" for m in annotation)
        if issubclass(annotation, SecretStr):
            return "secret string"
        if issubclass(annotation, Path):
            return "path"
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation)


def _default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, Path):
        value = str(value)
    if value is None:
        return "none"
    return f"`{_escape(json.dumps(value))}`"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
