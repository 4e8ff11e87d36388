"""`edge-agent actions list|render|run` and the would-run actions in `edge-agent replay`.

The config is the entrance replay config plus an OSDP reader and three actions, one of each kind,
written in YAML as a technician writes it (`on:` unquoted). `render` is checked character for
character with hostile alert content (quotes, `;`, `$()`, backticks, CR/LF, a `{field}` lookalike),
and against what a real local HTTP server receives from `run`: the two come from one code path.
`run` drives a real script and a real HTTP server. The replay runs the shared entrance clip (5 fps,
as its config says) far enough for two table visits, so the cooldown is seen on the clip's clock.
"""

from __future__ import annotations

import io
import json
import stat
import sys
from pathlib import Path

import pytest

from edge_agent.actions.triggers import ActionPlanner, triggers_match
from edge_agent.cli.main import main
from edge_agent.clock import FakeClock
from tests.support.actions import action_configs, make_alert
from tests.support.assets import ROOT, footage

HOSTILE = "a\"b'c; rm -rf / $(touch pwned) `id`\r\n{type} %0d%0a X-Injected: 1"
HOSTILE_ARGUMENT = HOSTILE.replace(" / ", " ~ ")  # a '/' in a program's argument is refused: test_action_argv_attacks
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z

ACTIONS_YAML = """
access:
  site_key_file: {dir}/site.key
  adapters:
    - id: rs485-a
      type: osdp
      device: /dev/ttyUSB9
      require_secure_channel: false
      readers: [{{address: 1, door: lobby}}]
  doors: [{{id: lobby}}]

actions:
  - name: speaker
    kind: http
    on: [{{rule: table-visit, phases: [start]}}]
    url: {url}/hook/{{zone}}?event={{event_id}}
    headers: {{X-Zone: "{{zone}}"}}
    secret_headers: {{Authorization: {dir}/token}}
    body: {{zone: "{{zone}}", count: "{{count}}", note: "{{count}} in {{zone}}"}}
    cooldown: 20
    timeout: 2
    retries: 0
  - name: log-visit
    kind: command
    on: [{{rule: table-visit, phases: [start, end]}}]
    argv: [{dir}/record.sh, --zone, "{{zone}}", "{{message}}"]
    rate_limit: {{count: 2, per: 600}}
  - name: lobby-led
    kind: osdp_output
    adapter: rs485-a
    reader: 1
    on: [{{rule: table-visit, phases: [start]}}, {{type: door.forced, source: lobby}}]
    output: {{number: 0, duration: 2.5}}
    led: {{number: 1, color: amber, duration: 3}}
    remote: true
"""


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def config(tmp_path, target, monkeypatch) -> Path:
    """configs/replay-entrance.yaml plus the three actions; the script records its argv, NUL-terminated."""
    (tmp_path / "site.key").write_text("0123456789abcdef0123456789abcdef\n")
    (tmp_path / "token").write_text("Bearer s3cret-token\n")
    script(tmp_path / "record.sh", f"printf '%s\\0' \"$@\" > {tmp_path}/argv\n")
    path = tmp_path / "config.yaml"
    entrance = (ROOT / "configs" / "replay-entrance.yaml").read_text()
    path.write_text(entrance + ACTIONS_YAML.format(dir=tmp_path, url=target.url))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: `run` must be told --yes
    return path


@pytest.fixture
def hostile_alert(tmp_path) -> Path:
    """A stored alert whose zone and message are hostile; fixed ids and times, so the rendering is exact."""
    alert = {
        "schema_version": "1.0",
        "event_id": "019b7a00-0000-7000-8000-000000000001",
        "device_id": "replay-entrance",
        "site": "demo-site",
        "source": {"kind": "camera", "id": "entrance"},
        "type": "intrusion",
        "severity": "minor",
        "phase": "start",
        "rule": "table-visit",
        "started_at": "2026-01-01T00:00:08.200Z",
        "created_at": "2026-01-01T00:00:08.200Z",
        "details": {"zone": HOSTILE, "count": 2, "object_class": "person", "message": "$(reboot); `halt`"},
    }
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(alert))
    return path


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_kind_target_triggers_limits_and_remote(config, target, capsys):
    code, out, _ = cli(capsys, "actions", "list", "--config", str(config))
    assert code == 0
    assert out == (
        f"speaker (http): POST {target.url}/hook/{{zone}}?event={{event_id}}\n"
        "  on:       rule table-visit [start]\n"
        "  limits:   schedule always; cooldown 20 s; rate 30 per 60 s; queue 16\n"
        "  tries:    1 of at most 2 s each\n"
        "  remote:   no\n"
        f"log-visit (command): {config.parent}/record.sh\n"
        "  on:       rule table-visit [start, end]\n"
        "  limits:   schedule always; cooldown 0 s; rate 2 per 600 s; queue 16\n"
        "  tries:    1 of at most 10 s each\n"
        "  remote:   no\n"
        "lobby-led (osdp_output): osdp adapter rs485-a reader 1\n"
        "  on:       rule table-visit [start]; type door.forced source lobby [start, instant]\n"
        "  limits:   schedule always; cooldown 0 s; rate 30 per 60 s; queue 16\n"
        "  tries:    1 of at most 2 s each\n"
        "  remote:   yes (run-action allowed)\n"
    )
    code, out, _ = cli(capsys, "actions", "list", "--config", str(config), "--json")
    listed = json.loads(out)
    assert [(a["name"], a["kind"], a["remote"]) for a in listed] == [
        ("speaker", "http", False),
        ("log-visit", "command", False),
        ("lobby-led", "osdp_output", True),
    ]
    assert listed[1]["rate_limit"] == {"count": 2, "per": 600.0} and listed[0]["cooldown"] == 20.0


def test_render_http_shows_the_request_exactly_with_the_secret_masked(config, target, hostile_alert, capsys):
    code, out, _ = cli(capsys, "actions", "render", "speaker", "--config", str(config), "--alert", str(hostile_alert))
    assert code == 0
    encoded = (
        "a%22b%27c%3B%20rm%20-rf%20%2F%20%24%28touch%20pwned%29%20%60id%60%0D%0A%7Btype%7D%20%250d%250a%20"
        "X-Injected%3A%201"
    )
    body = (
        '{"zone": "a\\"b\'c; rm -rf / $(touch pwned) `id`\\r\\n{type} %0d%0a X-Injected: 1", "count": 2, '
        '"note": "2 in a\\"b\'c; rm -rf / $(touch pwned) `id`\\r\\n{type} %0d%0a X-Injected: 1"}'
    )
    assert out == (
        'alert:   intrusion start from camera entrance rule table-visit {"object_class": "person", "count": 2, '
        '"zone": "a\\"b\'c; rm -rf / $(touch pwned) `id`\\r\\n{type} %0d%0a X-Injected: 1", '
        '"message": "$(reboot); `halt`"}\n'
        "action:  speaker (http; up to 1 try of at most 2 s each)\n"
        f"request: POST {target.url}/hook/{encoded}?event=019b7a00-0000-7000-8000-000000000001\n"
        "headers:\n"
        "  User-Agent: edge-agent/" + version() + "\n"
        "  Content-Type: application/json\n"
        f"  Content-Length: {len(body.encode())}\n"
        "  X-Zone: a\"b'c; rm -rf / $(touch pwned) `id`  {type} %0d%0a X-Injected: 1\n"
        f"  Authorization: <secret from {config.parent}/token>\n"
        f"body ({len(body.encode())} bytes):\n"
        f"{body}\n"
    )
    assert "s3cret" not in out and not target.requests  # shown, not sent


def test_render_command_and_osdp_show_argv_and_commands_exactly(config, hostile_alert, capsys):
    alert = json.loads(hostile_alert.read_text())
    alert["details"]["zone"] = HOSTILE_ARGUMENT
    hostile_alert.write_text(json.dumps(alert))
    code, out, _ = cli(capsys, "actions", "render", "log-visit", "--config", str(config), "--alert", str(hostile_alert))
    assert code == 0
    assert out.splitlines()[1:] == [
        "action:  log-visit (command; up to 1 try of at most 10 s each)",
        f'argv:    ["{config.parent}/record.sh", "--zone", '
        '"a\\"b\'c; rm -rf ~ $(touch pwned) `id`\\r\\n{type} %0d%0a X-Injected: 1", "$(reboot); `halt`"]',
        "run:     no shell, no stdin, working directory /, environment PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8",
    ]
    assert not (config.parent / "argv").exists()  # rendered, not run
    code, out, _ = cli(capsys, "actions", "render", "lobby-led", "--config", str(config), "--type", "door.forced")
    assert code == 0
    assert out == (
        "alert:   door.forced instant from door lobby "
        '{"door": "lobby", "message": "sample alert (edge-agent actions)"}\n'
        "action:  lobby-led (osdp_output; up to 1 try of at most 2 s each)\n"
        "target:  reader 1 on osdp adapter rs485-a\n"
        "commands, in order, each acknowledged before the next (nothing from the alert is sent):\n"
        '  1. output 0: osdp_OUT (0x68) {"output_no": 0, "control_code": 5, "timer_count": 25}\n'
        '  2. LED 1: osdp_LED (0x69) {"reader": 0, "led_number": 1, "temporary": true, "control_code": 2, '
        '"on_count": 5, "off_count": 5, "on_color": "amber", "off_color": "black", "timer_count": 30}\n'
    )


def test_render_is_what_run_sends(config, target, hostile_alert, capsys):
    """One way through: the rendered request is, byte for byte, the one the server receives from `run`."""
    argv = ["actions", "render", "speaker", "--config", str(config), "--alert", str(hostile_alert), "--json"]
    code, out, _ = cli(capsys, *argv)
    shown = json.loads(out)
    code, out, err = cli(
        capsys, "actions", "run", "speaker", "--config", str(config), "--alert", str(hostile_alert), "--yes"
    )
    assert code == 0, err
    (received,) = target.requests
    assert target.url + received.path == shown["url"] and received.method == shown["method"] == "POST"
    assert received.body.decode() == shown["body"] and len(received.body) == shown["body_bytes"]
    assert json.loads(received.body)["zone"] == HOSTILE  # the hostile zone arrived as one JSON string
    sent = [(name, value) for name, value in received.headers if name not in ("Host", "Authorization")]
    assert sent == [tuple(pair) for pair in shown["headers"] if pair[0] != "Authorization"]
    assert received.header("Authorization") == "Bearer s3cret-token"
    assert ["Authorization", f"<secret from {config.parent}/token>"] in shown["headers"]
    record = json.loads(out)
    assert record["outcome"] == "ok" and record["status_code"] == 200 and record["attempts"] == 1
    assert record["alert_event_id"] == "019b7a00-0000-7000-8000-000000000001" and record["action"] == "speaker"
    assert "s3cret" not in out + err


def test_run_command_runs_the_script_with_hostile_content_as_arguments(config, capsys):
    argv = [
        "actions",
        "run",
        "log-visit",
        "--config",
        str(config),
        "--zone",
        HOSTILE_ARGUMENT,
        "--phase",
        "end",
        "--yes",
    ]
    code, out, err = cli(capsys, *argv)
    assert code == 0, err
    written = (config.parent / "argv").read_bytes().decode().split("\0")[:-1]
    assert written == ["--zone", HOSTILE_ARGUMENT, "sample alert (edge-agent actions)"]
    record = json.loads(out)
    assert (record["outcome"], record["exit_code"], record["phase"], record["kind"]) == ("ok", 0, "end", "command")
    assert "outcome: ok after 1 try" in err


def test_run_failures_and_refusals_have_clear_exit_codes(config, target, tmp_path, capsys):
    code, _, err = cli(capsys, "actions", "run", "speaker", "--config", str(config))
    assert code == 64 and "add --yes" in err and not target.requests  # asked, not confirmed: nothing sent
    code, _, err = cli(capsys, "actions", "run", "lobby-led", "--config", str(config), "--yes")
    assert code == 64 and "control panel of the running agent" in err and "run-action" in err
    code, _, err = cli(capsys, "actions", "render", "nope", "--config", str(config))
    assert code == 64 and "no action named 'nope'" in err and "speaker, log-visit, lobby-led" in err
    code, _, err = cli(
        capsys, "actions", "render", "speaker", "--config", str(config), "--type", "door.forced", "--zone", "x"
    )
    assert code == 65 and "door.forced instant alert cannot carry" in err and "zone" in err
    code, _, err = cli(
        capsys, "actions", "render", "speaker", "--config", str(config), "--alert", str(tmp_path / "no.json")
    )
    assert code == 66 and "no.json does not exist" in err

    failing = config.read_text().replace("/hook/{zone}", "/fail/{zone}")
    config.write_text(failing)
    code, out, err = cli(capsys, "actions", "run", "speaker", "--config", str(config), "--yes")
    record = json.loads(out)
    assert code == 69 and record["outcome"] == "failed" and record["status_code"] == 500
    assert "outcome: failed after 1 try: HTTP 500" in err and len(target.of_kind("fail")) == 1


def test_build_errors_are_messages_not_tracebacks(config, capsys):
    (config.parent / "record.sh").unlink()
    code, _, err = cli(capsys, "actions", "run", "log-visit", "--config", str(config), "--yes")
    assert code == 78 and f"action 'log-visit': program {config.parent}/record.sh does not exist" in err
    token = config.parent / "token"
    token.write_text("")
    code, _, err = cli(capsys, "actions", "render", "speaker", "--config", str(config))
    assert code == 78 and f"action 'speaker': secret header Authorization ({token}) is empty" in err
    token.unlink()  # a missing file is already refused when the config loads
    code, _, err = cli(capsys, "actions", "render", "speaker", "--config", str(config))
    assert code == 78 and f"secret_headers.Authorization: secret file '{token}' does not exist" in err
    assert "Traceback" not in err


def test_the_planner_decides_as_the_runner_would_on_its_clock():
    """Trigger matching is the runner's own function; schedule, cooldown and rate limit follow the clock given."""
    configs = action_configs(
        {"name": "a", "kind": "http", "url": "http://127.0.0.1:9/", "on": [{"rule": "anyone"}], "cooldown": 10},
        {
            "name": "b",
            "kind": "http",
            "url": "http://127.0.0.1:9/",
            "on": [{"rule": "anyone", "phases": ["start", "end"]}],
            "rate_limit": {"count": 2, "per": 100},
            "schedule": [{"start": "00:00", "end": "00:01"}],
        },
    )
    clock = FakeClock(wall=T0)  # midnight UTC: b's schedule is armed for one minute
    planner = ActionPlanner(configs, "UTC", clock)
    verdicts = []
    for step, phase in [(0, "start"), (5, "end"), (1, "start"), (6, "start"), (60, "start")]:
        clock.advance(step)
        verdicts.append([(d.action, d.verdict) for d in planner.plan(make_alert(clock, phase=phase))])
    assert verdicts == [
        [("a", "would_run"), ("b", "would_run")],
        [("b", "would_run")],  # a is bound to start and instant only
        [("a", "cooldown"), ("b", "rate_limited")],
        [("a", "would_run"), ("b", "rate_limited")],  # 12 s after a's run; b still has 2 runs in 100 s
        [("a", "would_run"), ("b", "off_schedule")],  # 00:01:12: outside b's minute
    ]
    assert not planner.plan(make_alert(clock, rule="someone-else"))
    assert triggers_match(configs[0].on, make_alert(clock)) and not triggers_match(
        configs[0].on, make_alert(clock, phase="end")
    )


def version() -> str:
    from edge_agent import __version__

    return __version__


@pytest.mark.assets
@pytest.mark.slow
def test_replay_lists_the_actions_that_would_run_and_runs_none(config, target, replay_environ, monkeypatch, capsys):
    for name, value in replay_environ.items():
        monkeypatch.setenv(name, value)
    clip = str(footage("entrance-one-by-one.mp4"))
    code = main(["replay", clip, "--config", str(config), "--report", "--max-seconds", "26"])
    out, err = capsys.readouterr()
    assert code == 0, err
    alerts = [json.loads(line) for line in out.splitlines()]  # stdout is still only alerts
    visits = [(a["phase"], a["event_id"]) for a in alerts if a["rule"] == "table-visit"]
    assert [phase for phase, _ in visits] == ["start", "end", "start", "end"]  # two visits in 26 s of clip
    lines = [line for line in err.splitlines() if line.startswith("actions: ")]
    verdicts = [line.split(": ", 2)[2] for line in lines]
    assert verdicts == [
        "speaker would run, log-visit would run, lobby-led would run",
        "log-visit would run",
        "speaker cooldown, log-visit rate limited, lobby-led would run",  # 16.8 s of clip after the first start
        "log-visit rate limited",
    ]
    assert all(" table-visit intrusion " in line for line in lines)
    report = err[err.index("actions (none run") :]
    assert "  speaker                          1         1             0             0" in report
    assert "  log-visit                        2         0             2             0" in report
    assert not target.requests and not (config.parent / "argv").exists()  # nothing ran
