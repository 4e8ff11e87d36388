"""Values the box keeps hidden from a remote sender, and how remote text may keep them without seeing them.

`get-config` masks secrets (`**********`: passwords, card numbers, credential headers, a password in a URL)
and shows values read from the environment as the `${NAME}` written in the file. A sender who could write such a
value literally would learn it by guessing: a right guess is "no change" and applied, a wrong one is a change to
a local-only field and refused. So in remote text, at a key where the running config hides its value, only the
form get-config shows is accepted, and it keeps the running value; anything else is refused whatever it is.
"""

from __future__ import annotations

import copy
from enum import Enum
from pathlib import PurePath
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr

from edge_agent.config.errors import ConfigIssue, dotted
from edge_agent.config.redaction import redact

_ABSENT = object()
_MIN_SCRUBBED = 4  # shorter texts would mangle every reply and hide little


def hidden_values(config: BaseModel, references: dict[tuple, str]) -> dict[tuple, tuple[Any, Any]]:
    """key path -> (what get-config shows there, the running value) for every value it does not show as it is."""
    real = _revealed(config.model_dump(mode="python"))
    shown = redact(as_written(config.model_dump(mode="json"), references))
    found: dict[tuple, tuple[Any, Any]] = {}
    _differences(shown, real, (), found)
    return found


def hidden_texts(config: BaseModel, references: dict[tuple, str]) -> set[str]:
    """Every hidden text value of the running config (secrets, values from the environment): what the page's
    replies are scrubbed of, wherever a template or a message may have carried one."""
    values = hidden_values(config, references).values()
    return {real for _, real in values if isinstance(real, str) and len(real) >= _MIN_SCRUBBED}


def text_keeping(located) -> str:
    """The text to run and persist for remote text whose hidden values were put back: the data with the running
    values in place and each `${NAME}` as written (the file must never hold `**********` for a password)."""
    return yaml.safe_dump(as_written(copy.deepcopy(located.data), located.references), sort_keys=False)


def keep_hidden(located, hidden: dict[tuple, tuple[Any, Any]]) -> list[ConfigIssue]:
    """Put the running value back where remote text holds what get-config shows; an issue where it holds anything
    else (a guess, right or wrong, is never compared). `located.data` is changed in place; a `${NAME}` the text
    kept at its key (`located.references`) was checked by the loader already."""
    issues = []
    for path, (shown, real) in hidden.items():
        parent, key = _parent(located.data, path)
        if parent is _ABSENT or path in located.references:
            continue
        if parent[key] == shown:
            parent[key] = real
            continue
        issues.append(
            ConfigIssue(
                dotted(path),
                located.line_of(path),
                "the box keeps this value hidden (a secret, or a value from its environment): a remote sender may "
                f"not write one; send it as get-config shows it ({_shown_text(shown)}) to keep the running value",
            )
        )
    return issues


def _differences(shown, real, path: tuple, found: dict) -> None:
    if isinstance(shown, dict) and isinstance(real, dict):
        for key in shown.keys() & real.keys():
            _differences(shown[key], real[key], (*path, key), found)
    elif isinstance(shown, list) and isinstance(real, list) and len(shown) == len(real):
        for index, (one, other) in enumerate(zip(shown, real)):
            _differences(one, other, (*path, index), found)
    elif shown != real:
        found[path] = (shown, real)


def _revealed(value):
    """model_dump(mode="python") as plain data, secrets in the clear (never leaves this module but as data)."""
    if isinstance(value, dict):
        return {key: _revealed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_revealed(item) for item in value]
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    return value


def as_written(dumped: dict, references: dict[tuple, str]) -> dict:
    """`dumped` (a config's plain dict) with each value read from the environment put back as its `${NAME}`."""
    for path, written in references.items():
        parent, key = _parent(dumped, path)
        if parent is not _ABSENT:
            parent[key] = written
    return dumped


def _parent(data, path: tuple):
    node = data
    for step in path[:-1]:
        if not _holds(node, step):
            return _ABSENT, None
        node = node[step]
    return (node, path[-1]) if path and _holds(node, path[-1]) else (_ABSENT, None)


def _holds(node, step) -> bool:
    if isinstance(node, dict):
        return step in node
    return isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)


def _shown_text(shown) -> str:
    text = str(shown)
    return text if len(text) <= 80 else text[:77] + "..."
