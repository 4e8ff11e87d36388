"""systemd/edge-agent.service: the directives the issue requires, and its measured exposure."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "edge-agent.service"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_unit_has_the_required_service_settings_and_hardening():
    unit = directives()
    expected = {
        "Type": "notify",
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "CapabilityBoundingSet": "",
        "DevicePolicy": "closed",
        "User": "edge-agent",
    }
    for key, value in expected.items():
        assert unit.get(key) == [value], key
    assert "WatchdogSec" in unit
    assert unit["SupplementaryGroups"] == ["video dialout"]
    assert unit["SystemCallFilter"][0] == "@system-service"
    assert "/var/lib/edge-agent" in unit["ReadWritePaths"][0].split()
    assert {"char-video4linux rw", "char-ttyUSB rw"} <= set(unit["DeviceAllow"])
    assert unit["ExecStart"][0].endswith("edge-agent run --config /etc/edge-agent/config.yaml")


def test_unit_caps_glibc_malloc_arenas():
    """Without the cap, RSS of a 4-camera agent climbs for hours (arena fragmentation; bench/README.md)."""
    assert "MALLOC_ARENA_MAX=2" in directives()["Environment"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_measured_exposure_is_at_most_2_5():
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    match = re.search(r"Overall exposure level for edge-agent.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr
    assert float(match.group(1)) <= 2.5
    assert "Unknown key" not in result.stderr
