"""Config text is hostile until parsed: size, nesting, node-count and alias limits, everywhere it arrives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.config import ConfigError, load_config, parse_config
from edge_agent.config.yaml_source import MAX_CONFIG_BYTES, MAX_NESTING, MAX_NODES, LocatedYaml
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = "device:\n  id: cam-box\n  site: hq\n"


def alias_bomb(levels: int = 10) -> str:
    """A "billion laughs" document: each level repeats the one before nine times (9**10 values, < 500 bytes)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def deep_nesting(depth: int = 5000) -> str:
    return MINIMAL + "extra: " + "[" * depth + "]" * depth + "\n"


def big_document(size: int = 10 * 1024 * 1024) -> str:
    item = "  - a list item that is padded out to make the document long\n"
    return MINIMAL + "extra:\n" + item * (size // len(item) + 1)


HOSTILE = {
    # name: (text, words the error must contain)
    "alias bomb": (alias_bomb(), "node limit"),
    "5000-deep nesting": (deep_nesting(), "nesting limit"),
    "10 MB document": (big_document(), "size limit"),
}


def issues_of(text: str) -> list:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="test.yaml", environ={})
    return caught.value.issues


@pytest.mark.parametrize("name", list(HOSTILE))
def test_check_config_refuses_hostile_documents_with_exit_78(tmp_path, name):
    text, limit = HOSTILE[name]
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # The timeout is the assertion that it finishes: on an unbounded parser the bomb ran for
    # tens of seconds and died with a MemoryError traceback.
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "check-config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env=env,
    )
    assert result.returncode == 78, result.stderr
    assert limit in result.stderr and "Traceback" not in result.stderr
    assert f"{path}:" in result.stderr  # file:line of where the limit was hit


def test_each_refusal_names_the_line_where_the_limit_was_hit():
    [bomb] = issues_of(alias_bomb())
    assert bomb.line == 6 and f"more than {MAX_NODES}" in bomb.message  # a5 alone is 9**6 values
    # The list under `extra:` starts on line 5 as level 2 (the root mapping is level 1); one level a line.
    [deep] = issues_of(MINIMAL + "extra:\n" + "".join("  " * i + "-\n" for i in range(MAX_NESTING + 5)))
    assert deep.line == 4 + MAX_NESTING and f"more than {MAX_NESTING} levels" in deep.message
    [big] = issues_of(big_document())
    assert big.line == big_document()[:MAX_CONFIG_BYTES].count("\n") + 1 and f"{MAX_CONFIG_BYTES} bytes" in big.message


def test_limits_are_exact_and_aliases_count_as_what_they_repeat():
    nested = "x: " + "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1) + "\n"  # the root mapping is level 1
    assert LocatedYaml(nested).issues == []
    assert "nesting limit" in LocatedYaml(nested.replace("x: ", "x: [") + "]").issues[0].message

    section = "a: &a [" + ", ".join(["0"] * (MAX_NODES // 3)) + "]\n"
    assert LocatedYaml(section + "b: *a\n").issues == []  # about two thirds of the limit once expanded
    [over] = LocatedYaml(section + "b: *a\nc: *a\n").issues
    assert over.line == 3 and "node limit" in over.message

    shallow = "a: &a " + "[" * 40 + "]" * 40 + "\n"
    assert LocatedYaml(shallow + "b: *a\n").issues == []
    [deep] = LocatedYaml(shallow + "b: " + "[" * 30 + "*a" + "]" * 30 + "\n").issues
    assert deep.line == 2 and "nesting limit" in deep.message

    assert LocatedYaml("x: " + "y" * (MAX_CONFIG_BYTES - 4) + "\n").issues == []
    assert (
        "size limit" in LocatedYaml("x: " + "é" * (MAX_CONFIG_BYTES // 2) + "\n").issues[0].message
    )  # bytes, not chars


def test_recursive_alias_is_refused():
    [issue] = issues_of(MINIMAL + "extra: &loop\n  - *loop\n")
    assert issue.line == 5 and "recursive aliases are not allowed" in issue.message


def test_ordinary_anchors_aliases_and_merge_keys_still_load_with_key_lines():
    text = MINIMAL + (
        "cameras:\n"  # 4
        "  - &front\n"  # 5
        "    id: front\n"  # 6
        "    url: rtsp://10.0.0.1/stream\n"  # 7
        "    detect_fps: 4\n"  # 8
        "  - <<: *front\n"  # 9
        "    id: back\n"  # 10
        "    url: rtsp://10.0.0.2/stream\n"  # 11
        "    detect_fbs: 4\n"  # 12
    )
    located = LocatedYaml(text)
    assert located.issues == []
    assert [camera["detect_fps"] for camera in located.data["cameras"]] == [4, 4]
    assert located.line_of(("cameras", 1, "id")) == 10
    [typo] = issues_of(text)
    assert (typo.path, typo.line) == ("cameras[1].detect_fbs", 12) and "detect_fps" in typo.message
    config = parse_config(text.replace("    detect_fbs: 4\n", ""), environ={})
    assert [(camera.id, camera.detect_fps) for camera in config.cameras] == [("front", 4), ("back", 4)]


def test_load_config_reads_no_further_than_the_limit():
    with pytest.raises(ConfigError) as caught:
        load_config("/dev/zero")  # endless: an unbounded read would exhaust memory
    assert "size limit" in caught.value.report()


@pytest.fixture
def agent(tmp_path, mosquitto):
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", base_config(tmp_path / "state", mosquitto.port)).start()
    watcher.wait_ready()
    yield daemon, watcher
    assert daemon.stop() == 0
    watcher.close()


def test_remote_set_config_refuses_hostile_documents_and_keeps_answering(agent):
    daemon, watcher = agent
    running = watcher.command("get-config")["result"]["config"]
    file_text = daemon.config_path.read_text()
    deep_json = {"device": running["device"], "extra": {}}
    node = deep_json["extra"]
    for _ in range(MAX_NESTING + 10):
        node["x"] = node = {}
    attempts = [
        (alias_bomb(), "node limit"),
        (deep_nesting(), "nesting limit"),
        (deep_json, "nesting limit"),
        (big_document(), "the limit is"),  # over the command payload limit, refused before parsing
    ]
    for config, limit in attempts:
        payload = json.dumps({"request_id": "hostile", "args": {"config": config}}).encode()
        reply = watcher.command("set-config", raw=payload)  # raw: a payload too big to parse has no request_id
        assert reply["ok"] is False and limit in reply["error"], reply
        assert watcher.command("ping")["ok"]
        assert watcher.command("get-config")["result"]["config"] == running
        assert daemon.config_path.read_text() == file_text
    deep_payload = b'{"request_id": "deep", "args": {"config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    reply = watcher.command("set-config", raw=deep_payload)  # deeper than Python's json decoder recurses
    assert reply["ok"] is False and "nested too deeply" in reply["error"], reply
    assert watcher.command("ping")["ok"]
    alerts = wait_for(lambda: watcher.health("config_rejected")[2:] and watcher.health("config_rejected"), timeout=10)
    rejected = [alert["details"]["message"] for alert in alerts]
    assert len(rejected) == 3 and "node limit" in rejected[0] and "nesting limit" in rejected[1]
    assert daemon.running() and "Traceback" not in daemon.log()
