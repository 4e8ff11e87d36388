"""The CLI as an installer meets it: a subprocess, exit codes 0 / 66 / 78, readable output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def edge_agent(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env
    )


def test_check_config_example_exits_0_with_summary():
    result = edge_agent("check-config", "configs/example.yaml")
    assert result.returncode == 0, result.stderr
    assert "configs/example.yaml: OK" in result.stdout
    for word in ("device:", "broker:", "cameras: 3", "doors:", "rules:   6", "lobby-after-hours"):
        assert word in result.stdout


def test_check_config_missing_file_exits_66():
    result = edge_agent("check-config", "configs/does-not-exist.yaml")
    assert result.returncode == 66
    assert "config file not found" in result.stderr


def test_check_config_typo_exits_78_naming_key_line_and_suggestion(tmp_path):
    text = (ROOT / "configs" / "example.yaml").read_text()
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("  topic_prefix:"))
    lines[index] = lines[index].replace("topic_prefix", "topic_prefx")
    bad = tmp_path / "typo.yaml"
    bad.write_text("\n".join(lines) + "\n")
    result = edge_agent("check-config", str(bad))
    assert result.returncode == 78
    assert (
        f"typo.yaml:{index + 1}: mqtt.topic_prefx: unknown key 'topic_prefx'; did you mean 'topic_prefix'?"
        in result.stderr
    )
    assert "1 problem" in result.stderr


def test_schema_prints_config_json_schema():
    result = edge_agent("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "AgentConfig"
    assert "device" in schema["properties"]
    assert schema["properties"]["mqtt"]


def test_schema_of_alert_message():
    result = edge_agent("schema", "alert")
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "Alert"


def test_no_command_prints_help_and_exits_64():
    result = edge_agent()
    assert result.returncode == 64
    assert "check-config" in result.stderr
