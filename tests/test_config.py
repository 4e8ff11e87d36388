"""Config loading: every error names the key path, the YAML line, what was expected and found."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from edge_agent.config import AgentConfig, ConfigError, ConfigNotFound, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """\
device:
  id: dev-1
  site: site-a
mqtt:
  host: broker.local
  port: 1883
cameras:
  - id: cam1
    url: /tmp/clip.mp4
    zones:
      lobby:
        points: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]
rules:
  - name: r1
    type: intrusion
    camera: cam1
    zone: lobby
"""


def issues_of(text: str, environ=None) -> list:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), source="test.yaml", environ=environ or {})
    return caught.value.issues


def only_issue(text: str, environ=None):
    issues = issues_of(text, environ)
    assert len(issues) == 1, [i.format("test.yaml") for i in issues]
    return issues[0]


def test_minimal_config_loads_with_defaults():
    config = parse_config(MINIMAL, environ={})
    assert config.device.id == "dev-1"
    assert config.mqtt.host == "broker.local"
    assert config.mqtt.tls.insecure is False
    assert config.outbox_path == Path("/var/lib/edge-agent/outbox.db")
    assert config.rules[0].min_dwell == 1.0


def test_missing_required_key_names_path_and_parent_line():
    issue = only_issue("device:\n  id: d1\nmqtt:\n  port: 1\n")
    assert issue.path == "device.site"
    assert issue.line == 1
    assert issue.message == "required key is missing"


def test_wrong_type_says_expected_and_found():
    issue = only_issue(MINIMAL.replace("port: 1883", "port: lots"))
    assert issue.path == "mqtt.port"
    assert issue.line == 6
    assert "expected a valid integer" in issue.message
    assert "found 'lots'" in issue.message


def test_unknown_key_suggests_closest_valid_key():
    issue = only_issue(MINIMAL.replace("  host: broker.local", "  hots: broker.local"))
    assert issue.path == "mqtt.hots"
    assert issue.line == 5
    assert issue.message == "unknown key 'hots'; did you mean 'host'?"


def test_unknown_key_inside_a_rule_uses_the_rule_type_fields():
    issue = only_issue(MINIMAL + "    min_dwel: 3\n")
    assert issue.path == "rules[0].min_dwel"
    assert issue.line == 18
    assert "did you mean 'min_dwell'?" in issue.message


def test_unknown_rule_type_lists_types_and_suggests():
    issue = only_issue(MINIMAL.replace("type: intrusion", "type: intrusoin"))
    assert issue.path == "rules[0].type"
    assert issue.line == 15
    assert "did you mean 'intrusion'?" in issue.message
    assert "loitering" in issue.message


def test_env_substitution_and_default():
    text = MINIMAL.replace("broker.local", "${BROKER}").replace("port: 1883", "port: ${PORT:-8883}")
    config = parse_config(text, environ={"BROKER": "mqtt.example"})
    assert config.mqtt.host == "mqtt.example"
    assert config.mqtt.port == 8883


def test_bad_env_reference_names_variable_path_and_line():
    issue = only_issue(MINIMAL.replace("broker.local", "${MQTT_HOST_UNSET}"))
    assert issue.path == "mqtt.host"
    assert issue.line == 5
    assert "environment variable MQTT_HOST_UNSET is not set" in issue.message


def test_dollar_escape_is_literal():
    config = parse_config(MINIMAL.replace("broker.local", "a$$b"), environ={})
    assert config.mqtt.host == "a$b"


def test_unreadable_secret_file(tmp_path):
    secret = tmp_path / "mqtt.pass"
    secret.write_text("s3cret\n")
    secret.chmod(0)
    text = MINIMAL.replace("  port: 1883", f"  port: 1883\n  password_file: {secret}")
    if os.geteuid() == 0:  # root reads anything: use a missing file for the same path through the code
        text = text.replace(str(secret), str(tmp_path / "absent.pass"))
    issue = only_issue(text)
    assert issue.path == "mqtt.password_file"
    assert issue.line == 7
    assert "secret file" in issue.message
    assert ("does not exist" in issue.message) or ("not readable" in issue.message)


def test_secret_values_are_never_echoed(tmp_path):
    issues = issues_of(MINIMAL.replace("  port: 1883", "  port: 1883\n  password: [not, a, string]"))
    text = "\n".join(i.format("x") for i in issues)
    assert "not, a, string" not in text and "'not'" not in text


def test_all_errors_reported_at_once():
    text = MINIMAL.replace("hots", "host").replace("port: 1883", "port: x").replace("  host: broker.local", "  hots: y")
    text = text.replace("url: /tmp/clip.mp4", "url: /tmp/clip.mp4\n    detect_fps: fast")
    issues = issues_of(text)
    assert [i.path for i in issues] == ["mqtt.hots", "mqtt.port", "cameras[0].detect_fps"]
    assert [i.line for i in issues] == [5, 6, 10]


def test_cross_references_are_checked_with_lines():
    issue = only_issue(MINIMAL.replace("zone: lobby", "zone: hall"))
    assert issue.path == "rules[0].zone"
    assert issue.line == 17
    assert "no zone 'hall'" in issue.message and "lobby" in issue.message


def test_rule_classes_the_detector_never_reports_are_refused():
    cars = MINIMAL + "    classes: [car]\n"
    issue = only_issue(cars)
    assert issue.path == "rules[0].classes" and "merge_vehicles" in issue.message and "'vehicle'" in issue.message
    parse_config(cars + "detector:\n  merge_vehicles: false\n", source="test.yaml", environ={})
    parse_config(MINIMAL + "    classes: [car, vehicle]\n", source="test.yaml", environ={})
    filtered = only_issue(MINIMAL + "detector:\n  classes: [vehicle]\n")
    assert filtered.path == "rules[0].classes" and "none of which detector.classes keeps" in filtered.message
    dropped = only_issue(MINIMAL + "    classes: [vehicle]\ndetector:\n  classes: [vehicle, truck]\n")
    assert dropped.path == "detector.classes" and "['truck'] never pass" in dropped.message


def test_yaml_syntax_error_has_line():
    issue = only_issue("device:\n  site: [unclosed\nmqtt: {}\n")
    assert issue.path == ""
    assert issue.line is not None and issue.line >= 2
    assert "YAML syntax error" in issue.message


def test_duplicate_key_is_an_error():
    issue = only_issue(MINIMAL.replace("  port: 1883", "  port: 1883\n  port: 1884"))
    assert issue.path == "mqtt.port" and issue.line == 7
    assert "twice" in issue.message


def test_an_unquoted_on_key_is_the_word_not_a_boolean():
    """YAML 1.1 reads `on` as true; an action's `on:` (and any key) is the word the technician wrote."""
    text = MINIMAL + "actions:\n  - name: a\n    kind: command\n    argv: [/bin/true]\n    on: [{rule: r1}]\n"
    config = parse_config(text, environ={})
    assert config.actions[0].on[0].rule == "r1"
    issue = only_issue(text.replace("    on: [{rule: r1}]", "    on: [{rule: r1}]\n    yes: 1"))
    assert issue.path == "actions[0].command.yes" and "unknown key 'yes'" in issue.message


def test_missing_file():
    with pytest.raises(ConfigNotFound):
        load_config("/nonexistent/edge-agent.yaml")


@pytest.mark.parametrize("name", ["example.yaml", "demo.yaml"])
def test_shipped_configs_validate_and_round_trip(name, tmp_path):
    path = ROOT / "configs" / name
    if not path.exists():
        pytest.fail(f"configs/{name} is missing")
    config = load_config(path, environ={})
    dumped = config.model_dump(mode="json", exclude_unset=False)
    again = AgentConfig.model_validate(dumped)
    assert again == config


def test_binary_key_file_ignores_a_trailing_line_break(tmp_path):
    from edge_agent.config import read_secret_bytes

    raw, raw_nl, hex_nl = tmp_path / "raw", tmp_path / "raw-nl", tmp_path / "hex-nl"
    raw.write_bytes(b"\x00site-key-bytes\xff")
    raw_nl.write_bytes(b"\x00site-key-bytes\xff\n")
    hex_nl.write_text("00112233445566778899aabbccddeeff\n")
    assert read_secret_bytes(raw) == read_secret_bytes(raw_nl) == b"\x00site-key-bytes\xff"
    assert read_secret_bytes(hex_nl) == bytes(range(0, 256, 17))
