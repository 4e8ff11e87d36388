"""Names in the config (config/base.py `Name`): zone, line, rule, camera, door, reader, adapter and action names
and ids, and the references to them, are 1-64 characters of letters (any script), digits, '_', '-' and '.',
starting with a letter or digit. So none can start an option or be a path where it reaches a program's argument
(docs/actions.md#command), and a bad one is refused when the config loads with the key path, its line and the
rule it breaks."""

from __future__ import annotations

import copy
import unicodedata
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from edge_agent.config import ConfigError, load_config, parse_config
from edge_agent.config.base import NAME_MAX, Name
from tests.support.fuzz import fuzz_settings

ROOT = Path(__file__).resolve().parents[1]
names = TypeAdapter(Name)

RULE = "a name is 1-64 characters: a letter or digit first"

VALID = [
    "lobby",
    "lift-car",
    "zone_1",
    "gate.b2",
    "9",
    "大堂",
    "电梯厅-2",
    "ลิฟต์",  # Thai: vowel signs are marks after the first letter
    "தமிழ்",  # Tamil
    "Ünterführung",
    "x" * NAME_MAX,
]

REFUSED = [
    ("", "found 0 characters"),
    ("x" * (NAME_MAX + 1), f"found {NAME_MAX + 1} characters"),
    ("-rf", "starts with '-'"),
    ("--config=/path/evil", "starts with '-'"),
    (".", "starts with '.'"),
    ("..", "starts with '.'"),
    (".hidden", "starts with '.'"),
    ("_x", "starts with '_'"),
    ("lift lobby", "has ' ' at character 5"),
    ("a/b", "has '/' at character 2"),
    ("/etc", "starts with '/'"),
    ("a\nb", "has '\\n' at character 2"),
    ("a\x00b", "has '\\x00' at character 2"),
    ("a\u202eb", "has '\\u202e' at character 2"),  # right-to-left override: a name that reads differently
    ("a\u200bb", "has '\\u200b' at character 2"),  # zero-width space: two names that look the same
    ("a+b", "has '+' at character 2"),  # an MQTT wildcard (action names are topic levels)
    ("a#b", "has '#' at character 2"),
    ("a:b", "has ':' at character 2"),
    ("\u0e34x", "starts with"),  # a mark cannot come first
]


@pytest.mark.parametrize("name", VALID)
def test_names_of_any_script_with_digits_and_separators_are_accepted(name):
    assert names.validate_python(name) == name


@pytest.mark.parametrize(("name", "why"), REFUSED)
def test_a_bad_name_is_refused_with_the_rule_and_what_breaks_it(name, why):
    with pytest.raises(ValidationError) as caught:
        names.validate_python(name)
    message = caught.value.errors()[0]["msg"]
    assert RULE in message and why in message


def _allowed(char: str, first: bool) -> bool:
    category = unicodedata.category(char)
    if category[0] == "L" or category == "Nd":
        return True
    return not first and (category[0] == "M" or char in "_-.")


@pytest.mark.fuzz
@fuzz_settings(400)
@given(st.text(min_size=0, max_size=NAME_MAX + 4))
def test_a_name_is_accepted_exactly_when_every_character_is_allowed(text):
    expected = 1 <= len(text) <= NAME_MAX and all(_allowed(c, i == 0) for i, c in enumerate(text))
    try:
        names.validate_python(text)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == expected
    if accepted:  # what the name type is for: never an option, never a path, never a hidden character
        assert not text.startswith(("-", ".")) and "/" not in text and text not in (".", "..")
        assert not any(unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp") for c in text)


BASE = {
    "device": {"id": "dev-1", "site": "site-a"},
    "cameras": [
        {
            "id": "cam1",
            "url": "/tmp/clip.mp4",
            "zones": {"lobby": {"points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}},
            "lines": {"gate": {"points": [[0.5, 0], [0.5, 1]], "in_side": [0.9, 0.5]}},
        }
    ],
    "rules": [{"name": "r1", "type": "intrusion", "camera": "cam1", "zone": "lobby"}],
    "access": {
        "site_key_file": "SITE_KEY",
        "adapters": [
            {
                "type": "http_push",
                "id": "ctrl",
                "default_door": "main",
                "hikvision_doors": {1: "main"},
                "auth": {"allow_unauthenticated": True},
            },
            {
                "type": "osdp",
                "id": "rs485",
                "device": "/dev/ttyUSB9",
                "require_secure_channel": False,
                "readers": [{"address": 1, "door": "main", "reader": "main-in"}],
            },
        ],
        "doors": [{"id": "main", "camera_line": {"camera": "cam1", "line": "gate"}}],
    },
    "actions": [
        {"name": "hook", "kind": "http", "url": "http://127.0.0.1:9/x", "on": [{"rule": "r1", "source": "cam1"}]},
    ],
}

# Where a name sits in the config, and the key path its error names (a dict key ends in `[key]`; an action's
# path names its kind, as every action error does).
PLACES = [
    (("cameras", 0, "id"), "cameras[0].id"),
    (("cameras", 0, "zones", "@key"), "cameras[0].zones.{bad}.[key]"),
    (("cameras", 0, "lines", "@key"), "cameras[0].lines.{bad}.[key]"),
    (("rules", 0, "name"), "rules[0].name"),
    (("rules", 0, "zone"), "rules[0].zone"),
    (("access", "adapters", 0, "id"), "access.adapters[0].id"),
    (("access", "adapters", 0, "default_door"), "access.adapters[0].default_door"),
    (("access", "adapters", 0, "hikvision_doors", 1), "access.adapters[0].hikvision_doors[1]"),
    (("access", "adapters", 1, "readers", 0, "reader"), "access.adapters[1].readers[0].reader"),
    (("access", "doors", 0, "id"), "access.doors[0].id"),
    (("access", "doors", 0, "camera_line", "line"), "access.doors[0].camera_line.line"),
    (("actions", 0, "name"), "actions[0].http.name"),
    (("actions", 0, "on", 0, "source"), "actions[0].http.on[0].source"),
]


def _config_text(tmp_path: Path, place: tuple | None = None, bad: str = "") -> str:
    config = copy.deepcopy(BASE)
    key_file = tmp_path / "site.key"
    key_file.write_text("0123456789abcdef0123456789abcdef\n")
    config["access"]["site_key_file"] = str(key_file)
    if place is not None:
        *parents, last = place
        node = config
        for step in parents:
            node = node[step]
        if last == "@key":
            (only,) = node
            node[bad] = node.pop(only)
        else:
            node[last] = bad
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False)


def test_the_base_config_of_these_tests_loads(tmp_path):
    parse_config(_config_text(tmp_path), source="names.yaml")


@pytest.mark.parametrize(("place", "path"), PLACES, ids=[path for _, path in PLACES])
def test_every_name_in_the_config_is_checked_and_the_error_names_its_key_path(tmp_path, place, path):
    bad = "--config=/path/evil"
    with pytest.raises(ConfigError) as caught:
        parse_config(_config_text(tmp_path, place, bad), source="names.yaml")
    issues = [issue for issue in caught.value.issues if RULE in issue.message]
    assert [issue.path for issue in issues] == [path.format(bad=bad)], caught.value.report()
    assert issues[0].line is not None and "starts with '-'" in issues[0].message


def test_unicode_names_work_end_to_end_in_a_config(tmp_path):
    """A zone and rule named in Chinese: the rule finds its zone, the names are kept as written."""
    text = _config_text(tmp_path).replace("lobby", "电梯厅").replace("name: r1", "name: 电梯-电动车")
    text = text.replace("rule: r1", "rule: 电梯-电动车")
    config = parse_config(text, source="names.yaml")
    assert list(config.cameras[0].zones) == ["电梯厅"] and config.rules[0].name == "电梯-电动车"


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda path: path.name)
def test_every_shipped_config_still_loads(path):
    load_config(path, environ={})
