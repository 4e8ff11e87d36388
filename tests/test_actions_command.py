"""The `command` action runs a real program: exactly the configured argv (no shell), a minimal environment, a
timeout that kills its whole process group, and a clear error when the program is missing."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge_agent.actions.base import ActionBuildError
from edge_agent.actions.command import CommandKind
from edge_agent.config import parse_config
from edge_agent.daemon import config_change
from edge_agent.events.action import alert_fields
from edge_agent.identity import device_id_for
from edge_agent.publish.commands import CommandError
from tests.support.actions import action_configs, make_alert, records_of, schema_problems, start_runner
from tests.support.wait import wait_for


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def command(argv: list[str], **settings) -> CommandKind:
    config = {"name": "run", "kind": "command", "argv": argv, "on": [{"rule": "anyone"}], **settings}
    return CommandKind(action_configs(config)[0])


@pytest.fixture
def recorder(tmp_path) -> Path:
    """A program that writes each of its arguments, NUL-terminated, and its environment, then exits 0."""
    return script(
        tmp_path / "record.sh", f"printf '%s\\0' \"$@\" > {tmp_path}/argv\nenv > {tmp_path}/env\npwd > {tmp_path}/pwd\n"
    )


def written_argv(tmp_path: Path) -> list[str]:
    return (tmp_path / "argv").read_bytes().decode().split("\0")[:-1]


def test_each_configured_argument_is_one_argv_entry(recorder, tmp_path):
    fields = alert_fields(make_alert(zone="lift lobby", count=2), "run")
    attempt = command([str(recorder), "--zone", "{zone}", "count={count}", "{{literal}}"]).run(fields, timeout=5)
    assert attempt.ok and attempt.exit_code == 0
    assert written_argv(tmp_path) == ["--zone", "lift lobby", "count=2", "{literal}"]
    environment = dict(line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line)
    assert environment["PATH"] == "/usr/sbin:/usr/bin:/sbin:/bin" and environment["LANG"] == "C.UTF-8"
    assert not {"HOME", "PYTHONPATH", "EDGE_AGENT_ASSETS"} & set(environment)
    assert (tmp_path / "pwd").read_text().strip() == "/"


def test_hostile_alert_content_is_only_ever_an_argument(recorder, tmp_path, outbox):
    # Relative names: a value holding '/' is refused outright (tests/test_action_argv_attacks.py), and a shell,
    # had one run, would have created these in the program's working directory, /.
    pwned = [Path("/") / f"pwned{suffix}" for suffix in ("", "2", "3", "4")]
    hostile = {
        "zone": "$(touch pwned)",
        "message": "`touch pwned2`; touch pwned3 && echo $HOME | tee pwned4\n'\"\\ {type} %0a",
    }
    runner = start_runner(
        outbox,
        {
            "name": "run",
            "kind": "command",
            "argv": [str(recorder), "{zone}", "said: {message}", "{type}"],
            "on": [{"rule": "anyone"}],
        },
    )
    try:
        runner.offer(make_alert(**hostile))
        (record,) = wait_for(lambda: records_of(outbox, "run"), message="the command's record")
    finally:
        runner.stop()
    assert record["outcome"] == "ok" and record["exit_code"] == 0 and schema_problems(record) == []
    assert written_argv(tmp_path) == [hostile["zone"], f"said: {hostile['message']}", "intrusion"]
    assert not any(path.exists() for path in pwned)


def test_a_nonzero_exit_fails_with_its_status_and_output(tmp_path):
    program = script(tmp_path / "fail.sh", "echo 'relay busy' >&2\nexit 3\n")
    attempt = command([str(program)]).run({}, timeout=5)
    assert not attempt.ok and attempt.exit_code == 3 and attempt.error == "exited with status 3: relay busy"


def test_a_chatty_program_s_last_words_reach_the_error(tmp_path):
    """The record shows the end of the output, where a program says why it failed, however much came before."""
    program = script(tmp_path / "chatty.sh", "seq 1 5000\necho 'relay 2 jammed' >&2\nexit 4\n")
    attempt = command([str(program)]).run({}, timeout=5)
    assert attempt.exit_code == 4 and attempt.error.endswith("4999 5000 relay 2 jammed")
    assert len(attempt.error) <= 250


def test_the_timeout_kills_the_program_and_its_children(tmp_path):
    program = script(tmp_path / "hang.sh", f"sleep 60 &\necho $! > {tmp_path}/child\nwait\n")
    attempt = command([str(program)]).run({}, timeout=1.0)
    assert attempt.timed_out and not attempt.ok and "killed" in attempt.error
    child = int((tmp_path / "child").read_text())
    wait_for(lambda: not _running(child), timeout=5, message="the program's child to be gone")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has been killed and only waits for its (re)parent to reap it


def test_a_missing_or_unexecutable_program_is_a_clear_build_error(tmp_path):
    with pytest.raises(ActionBuildError, match=re.escape(f"action 'run': program {tmp_path}/nope does not exist")):
        command([str(tmp_path / "nope")])
    plain = tmp_path / "plain.sh"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    with pytest.raises(ActionBuildError, match="is not executable"):
        command([str(plain)])


@pytest.mark.parametrize(
    "argv, complaint",
    [
        (["relative/tool"], "absolute path"),
        (["/usr/bin/{zone}"], "absolute path without templates"),
        (["/bin/echo", "{nope}"], "unknown field {nope}"),
        (["/bin/echo", "a\0b"], "NUL"),
    ],
)
def test_unsafe_argv_is_refused_by_the_config(argv, complaint):
    with pytest.raises(ValidationError, match=re.escape(complaint)):
        action_configs({"name": "run", "kind": "command", "argv": argv, "on": [{"rule": "anyone"}]})


class RunningAgent:
    """What daemon/config_change.py reads of the running agent before it switches."""

    def __init__(self, config):
        self.config = config
        self.device_id = device_id_for(config)
        self.environ = {}
        self.rejected = []

    def report_rejected(self, origin, reason):
        self.rejected.append((origin, reason))

    def parse_config(self, text, source, remote, check_files=True, keep_hidden=False):
        """As daemon/agent.py `Agent.parse_config`."""
        return config_change.parse_for(self.config, self.environ, text, source, remote, check_files, keep_hidden)


def config_text(*argvs: list[str]) -> str:
    actions = [
        {"name": f"c{index}", "kind": "command", "argv": argv, "remote": True} for index, argv in enumerate(argvs)
    ]
    return json.dumps({"device": {"id": "dev-1", "site": "site-1"}, "actions": actions})


@pytest.mark.parametrize(
    "new, refused",
    [
        (config_text(["/bin/true"], ["/bin/false"]), "actions[1]: adding command action 'c1'"),  # added
        (config_text(["/bin/false"]), "actions[0].argv: may only be changed in the config file"),  # changed
        (config_text(), "actions[0]: removing command action 'c0'"),  # removed: a local field changes too
        (config_text(["/bin/true"]), None),  # unchanged
    ],
)
@pytest.mark.parametrize("origin", ["remote set-config", "web alice", "SIGHUP /etc/edge-agent/config.yaml"])
def test_only_the_config_file_on_the_box_may_add_or_change_a_command_action(new, refused, origin):
    agent = RunningAgent(parse_config(config_text(["/bin/true"]), source="running"))
    request = config_change.Request(new, origin, persist=False)
    if refused is None or origin.startswith("SIGHUP"):
        assert config_change._validated(agent, request).actions is not None and agent.rejected == []
        return
    with pytest.raises(CommandError, match=re.escape(refused)):
        config_change._validated(agent, request)
    assert agent.rejected and "config file on the device" in agent.rejected[0][1]


def _one_action(**action) -> str:
    return json.dumps({"device": {"id": "dev-1", "site": "site-1"}, "actions": [{"remote": True, **action}]})


TRUE = {"name": "c0", "kind": "command", "argv": ["/bin/true"]}
HOOK = {"name": "c0", "kind": "http", "url": "http://127.0.0.1:9/x"}


@pytest.mark.parametrize(
    "running, new",
    [
        (TRUE, {**TRUE, "name": "renamed"}),  # the same program under another name
        (HOOK, {**TRUE}),  # an http action's name turned into a command
        ({**TRUE, "enabled": False}, TRUE),  # a disabled command switched on
        (TRUE, {**TRUE, "on": [{"type": "door.forced"}]}),  # the same program, other triggers
    ],
)
def test_a_remote_config_cannot_smuggle_a_command_action_in(running, new):
    agent = RunningAgent(parse_config(_one_action(**running), source="running"))
    with pytest.raises(
        CommandError, match=r"(adding command action|actions\[0\]\.\w+: may only be changed).*a program"
    ):
        config_change._validated(agent, config_change.Request(_one_action(**new), "remote set-config", persist=False))


def _hook(secret_file: Path, url: str = "http://127.0.0.1:9/x") -> str:
    action = {"name": "h0", "kind": "http", "url": url, "secret_headers": {"Authorization": str(secret_file)}}
    return _one_action(**action)


@pytest.mark.parametrize("origin", ["remote set-config", "web alice", "SIGHUP /etc/edge-agent/config.yaml"])
def test_only_the_config_file_on_the_box_may_choose_a_file_to_send_as_a_secret_header(tmp_path, origin):
    token, other = tmp_path / "token", tmp_path / "other-secret"
    token.write_text("Bearer t0k3n\n")
    other.write_text("not for the network\n")
    agent = RunningAgent(parse_config(_hook(token), source="running"))
    moved = config_change.Request(_hook(token, url="http://127.0.0.1:10/y"), origin, persist=False)
    request = config_change.Request(_hook(other), origin, persist=False)
    if origin.startswith("SIGHUP"):
        assert config_change._validated(agent, moved).actions  # the file on the box may do both
        assert config_change._validated(agent, request).actions and agent.rejected == []
        return
    with pytest.raises(CommandError, match=re.escape("actions[0].url: may only be changed in the config file")):
        config_change._validated(agent, moved)  # the same file to another target: where it sends is local too
    with pytest.raises(CommandError, match=re.escape("actions[0].secret_headers: may only be changed")):
        config_change._validated(agent, request)
    assert "config file on the device" in agent.rejected[0][1]
