"""The page's edit merged into a config file's text (web/editing.py, web/yaml_merge.py), without the daemon.

tests/test_web_edits.py drives the same code through the real daemon and HTTP; these check the merge on the files
people keep: the installer's template (comments, aligned values, `"23:00"` quoted, `0.30` written with its zero), a
PyYAML-dumped file (lists not indented), and a fuzzer over random edits of the template.
"""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.config import parse_config
from edge_agent.config.redaction import REDACTED
from edge_agent.web import editing
from edge_agent.web.yaml_merge import same
from tests.support.fuzz import fuzz_settings

TEMPLATE = (Path(__file__).resolve().parents[1] / "configs" / "example.yaml").read_text()
DUMPED = yaml.safe_dump(yaml.safe_load(TEMPLATE), sort_keys=False)  # the same data as PyYAML lays it out


def loaded(text: str) -> dict:
    return json.loads(json.dumps(editing.editable(text)))  # as the browser gets it and sends it back


def changed_lines(old: str, new: str) -> list[str]:
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), n=0, lineterm="")
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_the_installers_template_is_untouched_by_an_unchanged_edit_and_one_corner_moves_one_line():
    edit = loaded(TEMPLATE)
    assert editing.propose(TEMPLATE, edit).text == TEMPLATE
    edit["cameras"][0]["zones"]["lobby"]["points"][0] = [0.33, 0.44]
    proposal = editing.propose(TEMPLATE, edit)
    assert changed_lines(TEMPLATE, proposal.text) == [
        "-        points: [[0.30, 0.40], [0.75, 0.40], [0.75, 0.95], [0.30, 0.95]]",
        "+        points: [[0.33, 0.44], [0.75, 0.40], [0.75, 0.95], [0.30, 0.95]]",
    ]
    assert proposal.changes == [
        {"path": "cameras[0].zones.lobby.points[0]", "before": [0.3, 0.4], "after": [0.33, 0.44]}
    ]


def test_a_pyyaml_dumped_file_keeps_its_layout_and_removed_items_keep_the_blank_line_after_them():
    document = {
        "device": {"id": "d", "site": "s"},
        "cameras": [{"id": "c", "url": "rtsp://x", "zones": {"a": {"points": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}}}],
        "rules": [
            {"name": "r", "type": "intrusion", "camera": "c", "zone": "a"},
            {"name": "s", "type": "loitering", "camera": "c", "zone": "a", "max_dwell": 60},
        ],
    }
    text = yaml.safe_dump(document, sort_keys=False).replace("\nrules:", "\n\nrules:") + "\n# the end\n"
    edit = loaded(text)
    edit["cameras"][0]["zones"]["a"]["points"][1] = [0.7, 0.2]
    edit["rules"].pop()
    new = editing.propose(text, edit).text
    assert changed_lines(text, new) == [
        "-      - - 0.5",
        "-        - 0.1",
        "+      - - 0.7",
        "+        - 0.2",
        "-- name: s",
        "-  type: loitering",
        "-  camera: c",
        "-  zone: a",
        "-  max_dwell: 60",
    ]
    assert new.endswith("  zone: a\n\n# the end\n")


def test_new_names_and_values_stay_text_for_the_configs_yaml_1_1_parser():
    edit = loaded(TEMPLATE)
    edit["cameras"][0]["zones"]["on"] = {"points": [[0.1, 0.1], [0.2, 0.1], [0.2, 0.2]]}
    edit["rules"][0]["zone"] = "on"
    edit["rules"][1]["name"] = "yes"
    text = editing.propose(TEMPLATE, edit).text
    assert "zone: 'on'" in text and "name: 'yes'" in text
    config = parse_config(text, environ={"EDGE_MQTT_HOST": "h"})
    assert config.rules[0].zone == "on" and config.rules[1].name == "yes" and "on" in config.cameras[0].zones


def test_zones_shared_through_an_anchor_are_refused_not_changed_twice():
    text = "device: {id: d, site: s}\ncameras:\n  - id: a\n    url: rtsp://x\n    zones: &z\n      door:\n"
    text += "        points: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]\n  - id: b\n    url: rtsp://y\n    zones: *z\n"
    edit = loaded(text)
    edit["cameras"][0]["zones"]["door"]["points"][0] = [0.2, 0.2]
    with pytest.raises(editing.BadEdit, match="anchors"):
        editing.propose(text, edit)


def test_a_secret_named_key_in_an_edit_is_masked_in_its_diff_and_never_expanded():
    text = "device: {id: d, site: s}\nmqtt:\n  password: ${MQTT_PASSWORD}\n"
    edit = {"cameras": [], "rules": [{"name": "r", "api_key": "k-3f9a0c1d", "camera": "${HOME}"}]}
    proposal = editing.propose(text, edit)
    assert proposal.changes == [
        {"path": "rules[0]", "before": None, "after": {"name": "r", "api_key": REDACTED, "camera": "${HOME}"}}
    ]
    assert "k-3f9a0c1d" not in json.dumps(proposal.changes) and "password: ${MQTT_PASSWORD}\n" in proposal.text


POINT = st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)).map(lambda p: [p[0] / 10_000, p[1] / 10_000])
NAME = st.sampled_from(["lobby", "door", "zone-1", "on", "yes", "12", "exit"])
OPERATION = st.one_of(
    st.tuples(st.just("move"), st.integers(0, 2), st.sampled_from(["zones", "lines"]), st.integers(0, 3), POINT),
    st.tuples(st.just("add"), st.integers(0, 2), st.sampled_from(["zones", "lines"]), NAME, POINT),
    st.tuples(st.just("remove"), st.integers(0, 2), st.sampled_from(["zones", "lines"]), st.integers(0, 2)),
    st.tuples(
        st.just("rule"),
        st.integers(0, 5),
        st.sampled_from(["zone", "severity", "enabled", "min_dwell"]),
        st.sampled_from(["lobby", "critical", True, 2.5, "on", "${ZONE}"]),
    ),
    st.tuples(st.just("drop-rule"), st.integers(0, 5)),
    st.tuples(st.just("mask"), st.integers(0, 0), st.sampled_from(["add", "drop", "move"]), POINT),
)


def edited(edit: dict, operations) -> dict:
    edit = copy.deepcopy(edit)
    for operation in operations:
        kind, index = operation[0], operation[1]
        if kind == "drop-rule" and edit["rules"]:
            del edit["rules"][index % len(edit["rules"])]
        elif kind == "mask":
            masks = edit["cameras"][index]["masks"]
            if operation[2] == "add":
                masks.append([operation[3], [0.5, 0.5], [0.9, 0.1]])
            elif masks and operation[2] == "drop":
                masks.pop()
            elif masks:
                masks[0][0] = operation[3]
        elif kind == "rule" and edit["rules"]:
            edit["rules"][index % len(edit["rules"])][operation[2]] = operation[3]
        elif kind in ("move", "add", "remove"):
            items = edit["cameras"][index][operation[2]]
            names = list(items)
            if kind == "add":
                items[operation[3]] = {"points": [operation[4], [0.5, 0.5], [0.9, 0.1]]}
            elif names and kind == "remove":
                del items[names[operation[3] % len(names)]]
            elif names:
                points = items[names[0]]["points"]
                points[operation[3] % len(points)] = operation[4]
    return edit


def test_a_mask_drawn_on_the_page_lands_in_motion_masks_and_the_template_keeps_its_comments():
    edit = loaded(TEMPLATE)
    assert edit["cameras"][0]["masks"] == [[[0.0, 0.0], [0.25, 0.0], [0.25, 0.2], [0.0, 0.2]]]
    edit["cameras"][0]["masks"][0][2] = [0.3, 0.25]
    edit["cameras"][0]["masks"].append([[0.6, 0.1], [0.9, 0.1], [0.9, 0.3]])
    proposal = editing.propose(TEMPLATE, edit)
    assert [c["path"] for c in proposal.changes] == ["cameras[0].motion.masks[0][2]", "cameras[0].motion.masks[1]"]
    assert "   # wall clock" in proposal.text and "full_check_interval: 10" in proposal.text
    config = parse_config(proposal.text)
    assert config.cameras[0].motion.masks[1] == [[0.6, 0.1], [0.9, 0.1], [0.9, 0.3]]
    assert config.cameras[0].motion.full_check_interval == 10  # the rest of motion: untouched


def test_masks_on_a_camera_without_a_motion_section_add_one_and_removing_them_takes_it_away_again():
    text = "cameras:\n  - id: c\n    url: rtsp://x  # the gate\nrules: []\n"
    edit = loaded(text)
    edit["cameras"][0]["masks"] = [[[0.1, 0.1], [0.4, 0.1], [0.4, 0.4]]]
    drawn = editing.propose(text, edit).text
    assert yaml.safe_load(drawn)["cameras"][0]["motion"] == {"masks": [[[0.1, 0.1], [0.4, 0.1], [0.4, 0.4]]]}
    edit["cameras"][0]["masks"] = []
    assert editing.propose(drawn, edit).text == text  # byte for byte: the motion section it added is gone


def test_a_mask_edit_that_is_not_a_list_is_refused_naming_the_camera():
    edit = loaded(TEMPLATE)
    edit["cameras"][0]["masks"] = {"a": 1}
    with pytest.raises(editing.BadEdit, match="cameras entrance: masks must be a list"):
        editing.propose(TEMPLATE, edit)


def outside_cameras_and_rules(text: str) -> tuple[str, str]:
    """The file's text above `cameras:` and from `access:` on (the template keeps cameras and rules together)."""
    return text.split("\ncameras:")[0], text.split("\naccess:")[1]


@pytest.mark.fuzz
@given(st.sampled_from([TEMPLATE, DUMPED]), st.lists(OPERATION, max_size=6))
@fuzz_settings(15)
def test_any_edit_of_the_template_reads_back_as_itself_and_touches_nothing_else(text, operations):
    edit = edited(loaded(text), operations)
    proposal = editing.propose(text, edit)
    assert same(loaded(proposal.text), edit)
    assert outside_cameras_and_rules(proposal.text) == outside_cameras_and_rules(text)
    again = editing.propose(proposal.text, edit)
    assert again.changes == [] and again.text == proposal.text
    assert (proposal.text == text) == (proposal.changes == [])
