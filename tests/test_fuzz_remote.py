"""Bounded fuzzers for what a remote sender controls: the command payloads and the config text of set-config.

Each runs the real code (the command dispatcher, the loader under its limits, the remote-change policy) on
generated hostile input. Properties: every request gets a reply that is not an internal error, every config is
either a config or a ConfigError (never another exception), and no environment value ever shows in what
goes back. Budget: tests/support/fuzz.py (a few seconds each in CI, `make fuzz` for the long run).
"""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.clock import SystemClock
from edge_agent.config import AgentConfig, ConfigError, parse_config
from edge_agent.daemon import config_change
from edge_agent.identity import device_id_for
from edge_agent.publish.commands import CommandDispatcher, CommandError
from tests.support.fuzz import fuzz_settings

CANARY = "canary-env-value-5d1e"
ENVIRON = {"EA_CANARY": CANARY, "HOME": "/home/canary-home", "EA_TZ": "Europe/Paris"}
RUNNING_TEXT = """
device: {id: dev-1, site: site-1, timezone: "${EA_TZ}"}
mqtt: {host: 127.0.0.1, port: 1883, password: "${EA_CANARY}"}
cameras:
  - id: c1
    url: rtsp://cam/1
    zones: {z: {points: [[0, 0], [1, 0], [1, 1]]}}
rules:
  - {name: r, type: intrusion, camera: c1, zone: z}
"""


class PolicyOnlyAgent:
    """The real validation of a remote config (parse, ${ENV}, identity, the allow-list), without switching."""

    def __init__(self):
        self.environ = ENVIRON
        self.config = parse_config(RUNNING_TEXT, environ=ENVIRON)
        self.device_id = device_id_for(self.config)
        self.rejected: list[str] = []

    def parse_config(self, text: str, source: str, remote: bool, check_files=True, keep_hidden=False):
        """As daemon/agent.py `Agent.parse_config`."""
        return config_change.parse_for(self.config, self.environ, text, source, remote, check_files, keep_hidden)

    def report_rejected(self, origin: str, reason: str) -> None:
        self.rejected.append(reason)

    def apply_config_text(self, text: str, origin: str, persist: bool) -> dict:
        config_change._validated(self, config_change.Request(text, origin, persist))
        return {"outcome": "validated"}

    def status_report(self) -> dict:
        return {"healthy": True}

    def redacted_config(self) -> dict:
        return {}

    def resend_since(self, wall: float, kinds=("alerts",)) -> int:
        return 0

    def run_action(self, name, event_id, request_id) -> dict:
        raise CommandError(f"no action named {name!r}")


_HOSTILE_SCALARS = st.sampled_from(
    [
        "${EA_CANARY}",
        "${HOME}",
        "${EA_CANARY:-x}",
        "${",
        "$${EA_CANARY}",
        "\x07",
        "\x00",
        "\u202e",
        "\ud800",
        "1" * 5000,
        "-1e999",
        "--config=/etc/shadow",
        "../../etc/passwd",
        "*alias",
        "&anchor x",
        "!!python/object/apply:os.system ['id']",
        "<<: *a",
        "{",
        "]",
        "\n  - deep",
    ]
)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40) | _HOSTILE_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)
_SECTIONS = st.sampled_from(["device", "mqtt", "cameras", "rules", "actions", "outbox", "web", "access", "telemetry"])


def _mutated_running(section: str, value) -> dict:
    config = yaml.safe_load(RUNNING_TEXT)
    config[section] = value
    return config


def _no_environment_in(reply_text: str) -> None:
    assert CANARY not in reply_text and "canary-home" not in reply_text, reply_text[:500]


@pytest.mark.fuzz
@fuzz_settings(ci_examples=150)
@given(
    name=st.sampled_from(["set-config", "get-config", "status", "ping", "resend-alerts", "run-action", "rm -rf"]),
    payload=st.one_of(
        st.binary(max_size=200),
        _JSON_VALUES.map(lambda value: json.dumps(value).encode()),
        st.builds(
            lambda section, value, rid: json.dumps(
                {"request_id": rid, "args": {"config": _mutated_running(section, value), "persist": False}}
            ).encode(),
            _SECTIONS,
            _JSON_VALUES,
            st.text(max_size=8) | st.none(),
        ),
        st.builds(
            lambda text: json.dumps({"args": {"config": text}}).encode(),
            st.text(max_size=300) | _HOSTILE_SCALARS.map(lambda s: RUNNING_TEXT + f"\nextra: {s}\n"),
        ),
    ),
)
def test_every_command_payload_gets_a_reply_and_never_an_internal_error(name, payload):
    dispatcher = CommandDispatcher(PolicyOnlyAgent(), SystemClock())
    reply = dispatcher.dispatch(name, payload)
    text = reply.model_dump_json() if hasattr(reply, "model_dump_json") else json.dumps(reply.__dict__, default=str)
    assert "internal error" not in text, text[:800]
    assert not any(key.endswith(":failed") for key in dispatcher.counts), dispatcher.counts
    _no_environment_in(text)


_FRAGMENTS = st.sampled_from(
    [
        "device: {id: dev-1, site: site-1}\n",
        "mqtt: {host: 127.0.0.1}\n",
        "a: &a [1, 2]\nb: [*a, *a, *a]\n",
        "x: &x {k: 1}\ny: {<<: *x, k: 2}\n",
        "device:\n  site: ${EA_CANARY}\n",
        "device:\n  timezone: ${EA_TZ}\n",
        "rules: [{name: r, type: intrusion, camera: c1, zone: ${HOME}}]\n",
        "on: yes\n",
        "? [complex, key]\n: 1\n",
        "!!binary aGk=\n",
        "[" * 80 + "]" * 80 + "\n",
        "n: 1" + "0" * 4000 + "\n",
        "\t\x07\n",
        "%YAML 1.1\n---\n",
        "--- \n...\n",
    ]
)


@pytest.mark.fuzz
@fuzz_settings(ci_examples=200)
@given(st.lists(_FRAGMENTS | st.text(max_size=60), min_size=1, max_size=6).map("".join))
def test_remote_config_text_is_a_config_or_a_config_error_and_never_shows_the_environment(text):
    running = parse_config(RUNNING_TEXT, environ=ENVIRON)
    try:
        config = parse_config(text, source="remote", environ=ENVIRON, inherited=running.env_references)
    except ConfigError as exc:
        _no_environment_in(exc.report())
        return
    assert isinstance(config, AgentConfig)
    _no_environment_in(json.dumps(config.model_dump(mode="json")))
