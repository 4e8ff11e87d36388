"""Load a config file: YAML with lines → pydantic models → every error at once."""

from __future__ import annotations

import copy
import difflib
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ValidationError

from edge_agent.config.base import DEFER_FILES
from edge_agent.config.errors import ConfigError, ConfigIssue, ConfigNotFound, dotted
from edge_agent.config.hidden import keep_hidden, text_keeping
from edge_agent.config.model import AgentConfig
from edge_agent.config.yaml_source import MAX_CONFIG_BYTES, LocatedYaml

_SECRET_KEY = re.compile(r"password|secret|token|key|scbk|card", re.I)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> AgentConfig:
    """Read and validate a config file; raises ConfigNotFound or ConfigError."""
    return parse_config(read_config_text(path), source=str(path), environ=environ)


def read_config_text(path: str | Path) -> str:
    """A config file's text, at most one character past the size limit (which the parser then refuses):
    a multi-gigabyte file, or /dev/zero, is never held in memory. Raises ConfigNotFound or ConfigError."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as file:
            return file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigNotFound(str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [ConfigIssue("", None, f"cannot read the file: {exc}")]) from None


def parse_config(
    text: str,
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
    inherited: Mapping[tuple, str] | None = None,
    check_files: bool = True,
    hidden: Mapping[tuple, tuple] | None = None,
) -> AgentConfig:
    """Validate config text. `inherited` marks text from a remote sender: it holds the running config's
    `${ENV}` references (`AgentConfig.env_references`), the only ones such text may keep (config/yaml_source.py).
    An expanded value is never shown in an error: the daemon publishes them (config_rejected).
    `check_files=False` opens no secret file (remote text, until the allow-list has passed its paths).
    `hidden` (a remote command's text): the running config's hidden values (config/hidden.py), kept only as shown."""
    located = LocatedYaml(text, environ, inherited)
    before = copy.deepcopy(located.data) if hidden else None
    if hidden is not None and located.data:
        located.issues.extend(keep_hidden(located, hidden))
    try:
        config = _validated(located, source, check_files)
    except ConfigError as exc:
        raise ConfigError(source, [_without_expanded(issue, located) for issue in exc.issues]) from None
    config.env_references = dict(located.references)
    if before is not None and before != located.data:  # hidden values put back: run and keep the text that has them
        config.kept_text = text_keeping(located)
    return config


def _validated(located: LocatedYaml, source: str, check_files: bool) -> AgentConfig:
    issues = list(located.issues)
    if issues and not located.data:
        raise ConfigError(source, issues)
    if not isinstance(located.data, dict):
        raise ConfigError(
            source, [ConfigIssue("", 1, f"expected a mapping of sections, found {type(located.data).__name__}")]
        )
    references: list[tuple[tuple, str]] = []
    try:
        context = {"reference_problems": references, DEFER_FILES: not check_files}
        config = AgentConfig.model_validate(located.data, context=context)
    except ValidationError as exc:
        issues.extend(_issue_from_error(error, located) for error in exc.errors())
        references.extend(_references_beside(located.data, exc.errors(), context))
        config = None
    issues.extend(ConfigIssue(dotted(path), located.line_of(path), message) for path, message in references)
    if issues:
        raise ConfigError(source, _sorted_unique(issues))
    return config


# Sections other sections name (a rule its camera, zone and line; an action its door or rule; a class the detector):
# without them the cross-references cannot be judged.
_REFERENCED = frozenset({"cameras", "rules", "access", "actions", "detector"})


def _references_beside(data: dict, errors: list, context: dict) -> list[tuple[tuple, str]]:
    """Cross-reference problems of a config whose fields already failed: pydantic skips the whole-config check then,
    so the sender would learn of them one round later. The config is checked again without the sections that failed
    (their defaults instead); when none of those is a section others refer to, its reference problems are real."""
    failed = {error["loc"][0] for error in errors if error.get("loc")}
    if not failed or failed & _REFERENCED or not failed <= set(data):
        return []
    found: list[tuple[tuple, str]] = []
    try:
        AgentConfig.model_validate(
            {key: value for key, value in data.items() if key not in failed},
            context={**context, "reference_problems": found},
        )
    except ValidationError:
        return []  # a required section failed: nothing more can be judged
    return [(path, message) for path, message in found if path[:1] and path[0] not in failed]


def _without_expanded(issue: ConfigIssue, located: LocatedYaml) -> ConfigIssue:
    """The issue with every value that came from the environment shown as the reference written in the file."""
    message = issue.message
    for path, value in located.expanded.items():
        if len(value) >= 3:  # shorter values would garble the message and tell little
            message = message.replace(value, located.references[path])
    return ConfigIssue(issue.path, issue.line, message)


def _sorted_unique(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=lambda issue: (issue.line or 0, issue.path))


def _issue_from_error(error: dict, located: LocatedYaml) -> ConfigIssue:
    path = _data_path(error["loc"], located.data)
    kind = error["type"]
    if kind == "missing":
        return ConfigIssue(dotted(path), located.line_of(path[:-1]), "required key is missing")
    if kind == "extra_forbidden":
        return ConfigIssue(dotted(path), located.line_of(path), _unknown_key_message(path, located.data))
    if kind == "union_tag_invalid":
        tags = re.findall(r"'([^']+)'", error["ctx"]["expected_tags"])
        found = error["ctx"]["tag"]
        message = f"unknown type {found!r}; expected one of {', '.join(tags)}"
        return ConfigIssue(
            dotted((*path, "type")), located.line_of((*path, "type")), message + _suggestion(found, tags)
        )
    if kind == "union_tag_not_found":
        return ConfigIssue(
            dotted(path), located.line_of(path), "required key `type` is missing (it selects the kind of entry)"
        )
    return ConfigIssue(dotted(path), located.line_of(path), _value_message(error, path, located.references))


def _data_path(loc: tuple, data) -> tuple:
    """The error location in the user's YAML terms: drops the union tags pydantic inserts."""
    path, node = [], data
    for step in loc:
        if isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        elif isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, dict) and node.get("type") == step:
            continue  # discriminated-union tag, not a key the user wrote
        else:
            node = None
        path.append(step)
    return tuple(path)


def _value_message(error: dict, path: tuple, references: Mapping[tuple, str]) -> str:
    message = error["msg"]
    message = re.sub(r"^Input should be ", "expected ", message)
    message = re.sub(r"^Value error, ", "", message)
    message = re.sub(r"^Assertion failed, ", "", message)
    if error["type"] in ("value_error", "assertion_error", "reference") or not error.get("input", None):
        return message
    if path in references:
        return f"{message}; found the value of {references[path]}"
    found = "<hidden>" if any(_SECRET_KEY.search(str(step)) for step in path) else repr(error["input"])
    if len(found) > 80:
        found = found[:77] + "..."
    return f"{message}; found {found}"


def _unknown_key_message(path: tuple, data) -> str:
    valid = _valid_keys(AgentConfig, path[:-1], data)
    message = f"unknown key {path[-1]!r}"
    if valid:
        hint = _suggestion(str(path[-1]), valid)
        return message + (hint or f"; valid keys here: {', '.join(sorted(valid))}")
    return message


def _suggestion(found: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(found, valid, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _valid_keys(root: type[BaseModel], path: tuple, data) -> list[str]:
    annotation, node = root, data
    for step in path:
        annotation = _unwrap(annotation, node)
        if annotation is None:
            return []
        annotation = _child_annotation(annotation, step)
        node = node[step] if isinstance(node, (dict, list)) and _has(node, step) else None
    annotation = _unwrap(annotation, node)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _has(node, step) -> bool:
    if isinstance(node, list):
        return isinstance(step, int) and 0 <= step < len(node)
    return step in node


def _child_annotation(annotation, step):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(step)
        return field.annotation if field else None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list and isinstance(step, int):
        return args[0]
    if origin is dict:
        return args[1]
    return None


def _unwrap(annotation, node):
    """Strip Annotated/Optional; pick a discriminated-union member by the data's `type`."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
            return _member_for_tag(members, node)
        else:
            return annotation


def _member_for_tag(members: list, node):
    tag = node.get("type") if isinstance(node, dict) else None
    for member in members:
        if isinstance(member, type) and issubclass(member, BaseModel) and "type" in member.model_fields:
            if tag in typing.get_args(member.model_fields["type"].annotation):
                return member
    return None
