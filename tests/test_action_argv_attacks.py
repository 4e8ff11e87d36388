"""Finding F11: a `command` action's templated arguments cannot be steered into options or paths.

Field values reach a program's argv from people the installer does not control: a remote `set-config`
may rename zones, lines, rules and doors, controllers name doors and readers, and an `agent.health`
message quotes the config text it rejected. Two guards, both checked here against the real daemon:
every name in the config is a `Name` (no leading `-` or `.`, no `/`: tests/test_config_names.py), and
`render_argv` refuses any field value that starts with `-`, holds `/` or NUL, or is `.` or `..`,
naming the argument and the field, so nothing runs — the same refusal in the run's record and in
`edge-agent actions render`, which call the one function. What the installer wrote around a value
(`--zone={zone}`) is the installer's choice and stays as written.
"""

from __future__ import annotations

import json
import os
import pty
import stat
import tty
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.actions.templates import ArgvRefused, render_argv
from edge_agent.cli.main import main
from tests.support.actions import make_alert, records_of, schema_problems, start_runner
from tests.support.broker import free_port
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.fuzz import fuzz_settings
from tests.support.osdp_reader import SCBK, Reader
from tests.support.wait import wait_for
from tests.test_daemon_access import access_section, post
from tests.test_daemon_actions_osdp import CAPABILITIES

EVIL = "--config=/path/evil"
ZONE_POINTS = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]


@pytest.fixture
def recorder(tmp_path) -> Path:
    """A program that writes its arguments, NUL-terminated, to a new file under runs/ each time it runs."""
    runs = tmp_path / "runs"
    runs.mkdir()
    path = tmp_path / "record.sh"
    path.write_text(f'#!/bin/sh\nprintf \'%s\\0\' "$@" > "$(mktemp {runs}/run.XXXXXX)"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def runs_of(recorder: Path) -> list[list[str]]:
    """The argv (without argv[0]) of every run of `recorder` so far."""
    files = sorted((recorder.parent / "runs").iterdir(), key=lambda path: path.stat().st_mtime_ns)
    return [path.read_bytes().decode().split("\0")[:-1] for path in files]


# -- the rule, unit by unit ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("-rf", "starts with '-', so the program could take it for an option"),
        (EVIL, "starts with '-', so the program could take it for an option"),
        ("a/b", "contains '/', so it could name a path"),
        ("/etc/shadow", "contains '/', so it could name a path"),
        ("..", "is '..', a path"),
        (".", "is '.', a path"),
        ("x\0y", "contains NUL, which no argument can carry"),
    ],
)
@pytest.mark.parametrize("template", ["{zone}", "--zone={zone}", "/var/lib/x/{zone}.log"])
def test_a_value_that_could_be_an_option_or_a_path_is_refused_naming_the_argument_and_field(value, why, template):
    fields = {"zone": value, "count": 2}
    with pytest.raises(ArgvRefused) as caught:
        render_argv(["/bin/echo", "count={count}", template], fields)
    shown = repr(value)
    assert str(caught.value) == f"refused, not run: argument 2 ({template!r}): the value of {{zone}}, {shown}, {why}"


def test_what_the_installer_wrote_around_a_value_is_kept():
    fields = {"zone": "lobby.2", "line": None, "count": 3, "message": "3 people in lobby; $(reboot) `id` 'q'\n"}
    argv = ["/bin/echo", "--zone={zone}", "-z{zone}", "/var/lib/x/{zone}.log", "{line}", "{message}", "-n", "..x"]
    assert render_argv(argv, fields) == [
        "/bin/echo",
        "--zone=lobby.2",
        "-zlobby.2",
        "/var/lib/x/lobby.2.log",
        "",
        "3 people in lobby; $(reboot) `id` 'q'\n",
        "-n",
        "..x",
    ]


def _allowed(value: str) -> bool:
    return not (value.startswith("-") or "/" in value or value in (".", "..") or "\0" in value)


@pytest.mark.fuzz
@fuzz_settings(300)
@given(
    zone=st.text(alphabet=st.sampled_from("-./\0 ab;$`'\"\n大"), max_size=6),
    message=st.one_of(st.none(), st.text(max_size=12)),
)
def test_argv_is_either_the_values_as_data_or_a_refusal(zone, message):
    argv = ["/bin/echo", "{zone}", "--m={message}", "/var/lib/x/{zone}"]
    fields = {"zone": zone, "message": message}
    try:
        rendered = render_argv(argv, fields)
    except ArgvRefused as exc:
        assert not (_allowed(zone) and _allowed(message or ""))
        assert "{zone}" in str(exc) or "{message}" in str(exc)
        return
    assert _allowed(zone) and _allowed(message or "")
    assert rendered == ["/bin/echo", zone, f"--m={message or ''}", f"/var/lib/x/{zone}"]


def test_a_refused_run_is_recorded_once_and_runs_nothing(recorder, outbox):
    """Retrying cannot change a value: one refusal, attempts 1, however many retries the action allows."""
    action = {
        "name": "relay",
        "kind": "command",
        "argv": [str(recorder), "--zone={zone}", "{zone}"],
        "on": [{"rule": "anyone"}],
        "retries": 3,
        "retry_delay": 5,
    }
    runner = start_runner(outbox, action)
    try:
        runner.offer(make_alert(zone=EVIL))
        (record,) = wait_for(lambda: records_of(outbox, "relay"), message="the refused run's record")
    finally:
        runner.stop()
    assert (record["outcome"], record["attempts"], record.get("exit_code")) == ("failed", 1, None)
    assert record["error"] == (
        f"refused, not run: argument 1 ('--zone={{zone}}'): the value of {{zone}}, {EVIL!r}, "
        "starts with '-', so the program could take it for an option"
    )
    assert schema_problems(record) == [] and runs_of(recorder) == []


# -- `edge-agent actions render` shows the refusal the run records --------------------------------

CLI_CONFIG = """
device: {{id: dev-1, site: site-1, state_dir: {dir}/state}}
cameras:
  - id: entrance
    url: {dir}/clip.mp4
    zones: {{lobby: {{points: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]}}}}
rules: [{{name: anyone, type: intrusion, camera: entrance, zone: lobby}}]
actions:
  - name: relay
    kind: command
    on: [{{rule: anyone}}]
    argv: [{program}, "--zone={{zone}}", "{{zone}}"]
"""


def test_render_shows_the_refusal_that_the_run_records(recorder, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(CLI_CONFIG.format(dir=tmp_path, program=recorder))
    common = ["relay", "--config", str(config), f"--zone={EVIL}"]
    assert main(["actions", "render", *common]) == 69
    text = capsys.readouterr().out
    assert main(["actions", "render", *common, "--json"]) == 69
    shown = json.loads(capsys.readouterr().out)
    assert main(["actions", "run", *common, "--yes"]) == 69
    record = json.loads(capsys.readouterr().out)
    assert record["outcome"] == "failed" and record["attempts"] == 1
    assert shown["argv"] is None and shown["refused"] == record["error"]
    assert f"argv:    {record['error']} (the run would fail with this error)" in text.splitlines()
    assert "the value of {zone}" in record["error"] and runs_of(recorder) == []  # rendered and refused: never run
    assert main(["actions", "render", "relay", "--config", str(config), "--zone=lobby"]) == 0
    assert 'argv:    ["' + str(recorder) + '", "--zone=lobby", "lobby"]' in capsys.readouterr().out.splitlines()


# -- the real daemon -----------------------------------------------------------------------------


def _video_config(tmp_path, port: int, recorder: Path, actions: list[dict]) -> dict:
    """A camera that is configured but not read (no detector needed), a zone, an intrusion rule on it."""
    camera = {"id": "entrance", "url": str(tmp_path / "clip.mp4"), "enabled": False}
    return base_config(
        tmp_path / "state",
        port,
        cameras=[camera | {"zones": {"lobby": {"points": ZONE_POINTS}}}],
        rules=[{"name": "anyone", "type": "intrusion", "camera": "entrance", "zone": "lobby"}],
        actions=actions,
    )


def _renamed_zone(config: dict, name: str, points=ZONE_POINTS) -> dict:
    renamed = json.loads(json.dumps(config))
    renamed["cameras"][0]["zones"] = {name: {"points": points}}
    renamed["rules"][0]["zone"] = name
    return renamed


@pytest.fixture
def watcher(mosquitto):
    watcher = Watcher(mosquitto.port)
    yield watcher
    watcher.close()


def test_a_remote_rename_of_a_zone_into_an_option_is_refused_naming_the_key(tmp_path, mosquitto, watcher, recorder):
    relay = {"name": "relay", "kind": "command", "argv": [str(recorder), "--zone={zone}", "{zone}"]}
    config = _video_config(tmp_path, mosquitto.port, recorder, [relay | {"on": [{"rule": "anyone"}]}])
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        watcher.wait_ready()
        on_disk = daemon.config_path.read_text()
        reply = watcher.command("set-config", {"config": _renamed_zone(config, EVIL)})
        running = watcher.command("get-config")["result"]["config"]
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()[-3000:]
    assert not reply["ok"] and "config rejected, still running the previous one" in reply["error"]
    assert f"cameras[0].zones.{EVIL}.[key]: a name is 1-64 characters" in reply["error"]
    assert "rules[0].zone: a name is 1-64 characters" in reply["error"]
    assert f"{EVIL!r} starts with '-'" in reply["error"]
    assert list(running["cameras"][0]["zones"]) == ["lobby"] and running["rules"][0]["zone"] == "lobby"
    assert daemon.config_path.read_text() == on_disk and runs_of(recorder) == []


def test_a_health_message_quoting_a_sender_s_path_is_refused_not_passed(tmp_path, mosquitto, watcher, recorder):
    """A rejected remote config raises `agent.health` config_rejected, whose message quotes the sender's text:
    here a zone named like an option and a path (and with too few points, so it was refused before F11 too).
    A command bound to health alerts with `{message}` must not hand that to its program."""
    notify = {
        "name": "notify",
        "kind": "command",
        "argv": [str(recorder), "--message={message}", "{message}", "{reason}"],
        "on": [{"type": "agent.health"}],
    }
    config = _video_config(tmp_path, mosquitto.port, recorder, [notify])
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        watcher.wait_ready()
        reply = watcher.command("set-config", {"config": _renamed_zone(config, EVIL, ZONE_POINTS[:2])})
        rejected = wait_for(lambda: watcher.health("config_rejected"), message="the config_rejected alert")[0]
        record = wait_for(lambda: watcher.payloads("actions/notify"), message="the notify action's record")[0]
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()[-3000:]
    assert not reply["ok"] and "/path/evil" in rejected["details"]["message"]
    assert record["alert_event_id"] == rejected["event_id"] and record["outcome"] == "failed"
    assert record["error"].startswith(
        "refused, not run: argument 1 ('--message={message}'): the value of {message}, 'config from remote"
    )
    assert record["error"].endswith("contains '/', so it could name a path")
    assert runs_of(recorder) == []  # the program never saw the sender's path


@pytest.fixture
def card_reader():
    """(pty path for the agent's OSDP adapter, libosdp's own reader on the other end)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    reader = Reader(master, CAPABILITIES)
    try:
        yield os.ttyname(slave), reader
    finally:
        reader.stop()
        os.close(master)
        os.close(slave)


def test_door_and_reader_ids_never_reach_a_program_as_an_option_or_path(
    tmp_path, mosquitto, watcher, recorder, card_reader
):
    """Door and reader ids come from controllers (HTTP push) and from the config (an OSDP reader's id, which a
    remote `set-config` could set): a program bound to door alerts only ever sees real, harmless ids."""
    device, reader = card_reader
    push_port = free_port()
    access = access_section(tmp_path, push_port)
    (tmp_path / "scbk").write_text(SCBK.hex())
    osdp_reader = {"address": 1, "door": "main-gate", "scbk_file": str(tmp_path / "scbk")}
    access["adapters"].insert(0, {"type": "osdp", "id": "rs485-a", "device": device, "readers": [osdp_reader]})
    access["forward_events"] = ["credential.read"]
    relay = {
        "name": "relay",
        "kind": "command",
        "argv": [str(recorder), "--door={door}", "{door}", "{reader}"],
        "on": [{"type": "credential.read"}, {"type": "door.forced"}],
    }
    config = base_config(tmp_path / "state", mosquitto.port, access=access, actions=[relay])
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        watcher.wait_ready()
        wait_for(reader.pd.is_sc_active, timeout=30, message="the daemon's control panel on the secure channel")
        refused = [post(push_port, {"type": "door.forced", **ids})[0] for ids in _HOSTILE_IDS]

        renamed = json.loads(json.dumps(config))
        renamed["access"]["adapters"][0]["readers"][0]["reader"] = EVIL
        reply = watcher.command("set-config", {"config": renamed})
        reader.card(201, 48879)  # whatever the reload did, the card read names the reader the agent runs with
        wait_for(lambda: len(runs_of(recorder)) == 1, message="the relay's run for the card read")
        assert post(push_port, {"type": "door.forced", "door": "main-gate", "reader": "r1"})[0] == 200
        wait_for(lambda: len(runs_of(recorder)) == 2, message="the relay's run for the forced door")
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()[-3000:]
    assert refused == [400] * len(_HOSTILE_IDS)  # the feed's own id check (it held before F11 too)
    assert runs_of(recorder) == [
        ["--door=main-gate", "main-gate", "rs485-a-1"],
        ["--door=main-gate", "main-gate", "r1"],
    ]
    assert not reply["ok"] and "access.adapters[0].readers[0].reader: a name is 1-64" in reply["error"]


_HOSTILE_IDS = [
    {"door": "-rf"},
    {"door": EVIL},
    {"door": "../etc"},
    {"door": "a/b"},
    {"door": "main-gate", "reader": "-x"},
]
