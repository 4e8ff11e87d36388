"""The remote-change allow-list itself (edge_agent/config/policy.py): every path is marked, and the judge names
exactly the local-only fields a proposed config changes. The daemon-level attacks: test_remote_policy_attacks.py."""

from __future__ import annotations

import copy
import json
import re
import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from edge_agent.config import AgentConfig, parse_config
from edge_agent.config.errors import dotted
from edge_agent.config.policy import LOCAL, MARK, REMOTE, field_policy, is_path_typed, remote_change_problems
from tests.support.fuzz import fuzz_settings

# fields that hold a path or a place to connect to even though their type is a plain string
_PATHLIKE_NAME = re.compile(r"(_file|_files|_dir|^path|device|url|argv|headers|bind|host)$")


def _models(root: type[BaseModel] = AgentConfig) -> list[type[BaseModel]]:
    found, queue = [], [root]
    while queue:
        model = queue.pop()
        if model in found:
            continue
        found.append(model)
        for field in model.model_fields.values():
            queue.extend(_nested(field.annotation))
    return found


def _nested(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _nested(arg)]


def test_every_path_typed_field_carries_an_explicit_local_mark():
    unmarked = []
    for model in _models():
        for name, field in model.model_fields.items():
            if _nested(field.annotation) or not (is_path_typed(field.annotation) or _PATHLIKE_NAME.search(name)):
                continue
            policy, _, explicit = field_policy(model, name)
            locked = getattr(model, "remote_change_locked", None)
            if policy == REMOTE or not (explicit or locked):
                unmarked.append(f"{model.__name__}.{name}")
    assert unmarked == [], f"path or place fields without an explicit local/broker mark: {unmarked}"


def test_the_walk_sees_the_path_fields_it_must():
    """Guards the test above against a walk that quietly finds nothing."""
    paths = {f"{m.__name__}.{n}" for m in _models() for n, f in m.model_fields.items() if is_path_typed(f.annotation)}
    assert {"OutboxConfig.path", "DeviceConfig.state_dir", "MqttConfig.password_file", "WebConfig.audit_file"} <= paths
    assert {"HttpAction.secret_headers", "TlsConfig.key_file", "AccessConfig.site_key_file"} <= paths


def test_the_marks_are_in_the_config_schema_the_editors_and_docs_read():
    schema = json.dumps(AgentConfig.model_json_schema())
    assert f'"{MARK}": "local"' in schema and f'"{MARK}": "broker"' in schema
    docs = (__import__("pathlib").Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    assert "| `password_file` | path or null | none | local |" in docs
    assert "| `points` | list of list of number | **required** | yes |" in docs


BASE = {
    "device": {"id": "dev-1", "site": "site-1"},
    "mqtt": {"host": "127.0.0.1", "port": 1883, "remote_brokers": ["broker.b:8883"]},
    "cameras": [{"id": "c1", "url": "rtsp://cam/1", "zones": {"z": {"points": [[0, 0], [1, 0], [1, 1]]}}}],
    "rules": [{"name": "r", "type": "intrusion", "camera": "c1", "zone": "z"}],
    "actions": [{"name": "h", "kind": "http", "url": "http://10.1.1.1/x", "on": [{"rule": "r"}]}],
}


def _judge(change) -> list[str]:
    new = copy.deepcopy(BASE)
    change(new)
    return [
        dotted(path)
        for path, _ in remote_change_problems(parse_config(json.dumps(BASE)), parse_config(json.dumps(new)))
    ]


@pytest.mark.parametrize(
    "change, refused",
    [
        (lambda c: c["cameras"][0]["zones"]["z"]["points"].append([0, 1]), []),
        (lambda c: c["rules"].append({**c["rules"][0], "name": "r2", "type": "loitering"}), []),
        (lambda c: c["rules"].reverse(), []),
        (lambda c: c["actions"][0].update(cooldown=30), []),
        (lambda c: c["mqtt"].update(host="broker.b", port=8883, username="dev"), []),
        (lambda c: c["mqtt"].update(host="broker.b", port=1883), ["mqtt.host"]),
        (lambda c: c["mqtt"].update(host="evil.example"), ["mqtt.host"]),
        (lambda c: c["mqtt"].update(topic_prefix="elsewhere"), ["mqtt.topic_prefix"]),
        (lambda c: c["cameras"][0].update(url="/etc/shadow"), ["cameras[0].url"]),
        (lambda c: c["actions"][0].update(url="http://10.1.1.2/open"), ["actions[0].url"]),
        (lambda c: c["actions"][0].update(remote=True), ["actions[0].remote"]),
        (lambda c: c["actions"][0]["on"].append({"type": "door.forced"}), ["actions[0].on"]),
        (lambda c: c["actions"].append({"name": "o", "kind": "osdp_output", "adapter": "a", "reader": 0}), None),
        (lambda c: c.update(outbox={"max_rows": 10}), ["outbox.max_rows"]),
        (lambda c: c.update(web={"enabled": True}), ["web.enabled"]),
        (lambda c: c.update(commands={"confirm_timeout": 3600}), ["commands.confirm_timeout"]),
        (lambda c: c.update(telemetry={"prometheus": {"bind": "0.0.0.0"}}), ["telemetry.prometheus.bind"]),
        (lambda c: c.update(detector={"models_dir": "/tmp"}), ["detector.models_dir"]),
    ],
)
def test_the_judge_names_exactly_the_local_fields_changed(change, refused):
    if refused is None:  # an osdp_output action needs its adapter: refused as a config before the policy runs
        return
    assert _judge(change) == refused


def test_an_added_physical_action_is_refused_whole():
    running = parse_config(json.dumps(BASE))
    added = copy.deepcopy(BASE)
    added["actions"].append({"name": "siren", "kind": "http", "url": "http://10.1.1.9/on", "on": [{"rule": "r"}]})
    [(path, message)] = remote_change_problems(running, parse_config(json.dumps(added)))
    assert dotted(path) == "actions[1]" and message.startswith("adding http action 'siren'")
    assert "url" in message and "config file on the device" in message


_REMOTE_TWEAKS = st.fixed_dictionaries(
    {
        "detect_fps": st.floats(0.5, 30),
        "min_dwell": st.floats(0, 60),
        "corner": st.tuples(st.floats(0, 1), st.floats(0, 1)),
        "interval": st.floats(1, 3600),
    }
)


@pytest.mark.fuzz
@fuzz_settings(ci_examples=60)
@given(_REMOTE_TWEAKS)
def test_tuning_inside_the_allow_list_is_never_refused(tweak):
    def change(config):
        config["cameras"][0]["detect_fps"] = tweak["detect_fps"]
        config["cameras"][0]["zones"]["z"]["points"][0] = list(tweak["corner"])
        config["rules"][0]["min_dwell"] = tweak["min_dwell"]
        config["telemetry"] = {"interval": tweak["interval"]}

    assert _judge(change) == []


def test_every_section_default_is_local_unless_it_says_so():
    """The allow-list's default: a new section or field is local until someone marks it remote on purpose."""
    for model in _models():
        if getattr(model, "remote_change", LOCAL) == REMOTE:
            assert model.__name__ in {
                "CameraConfig",
                "RuleEvidence",  # what a rule keeps: the platform's to tune, but privacy none only locally
                "ClipConfig",
                "MotionConfig",
                "TamperConfig",
                "CameraHealthConfig",
                "ZoneConfig",
                "LineConfig",
                "TrackerConfig",
                "TimeRange",
                "CountsConfig",
                "DetectorConfig",
                "DoorConfig",
                "CameraLineRef",
                "DenialBurstConfig",
                "DeniedRisingConfig",
                "TailgatingConfig",
                "WelfareWatch",
                "RateLimit",
                "ReconnectConfig",
                "PrometheusConfig",
                "TelemetryConfig",
                "Escalation",  # `after` is tuning; its `actions` (what runs) are marked local
            } or model.__name__.endswith("Rule"), f"{model.__name__} is remote by default: add it here on purpose"
