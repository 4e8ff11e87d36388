"""`edge-agent demo` (what `make demo` runs): assets from a mirror, alerts on stdout and at the broker."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge_agent.assets import AssetIntegrityError, AssetUnavailable, MirrorCopy, PinnedAsset, fetch_asset
from tests.support.assets import assets_dir, footage, model_path
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[1]


def subscribe_all(port: int, topic: str) -> tuple[mqtt.Client, list]:
    received: list = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="demo-test-sub")
    client.on_message = lambda c, u, message: received.append((message.topic, message.payload))
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    wait_for(lambda: client.is_connected(), timeout=10, message="subscriber connected")
    return client, received


def test_demo_prints_alerts_and_publishes_them(tmp_path, mosquitto):
    model_path(), footage("entrance-one-by-one.mp4")  # fail in CI when the mirror is missing
    client, received = subscribe_all(mosquitto.port, "edge-demo/#")
    env = {**os.environ, "EDGE_AGENT_ASSETS": str(assets_dir()), "EDGE_MQTT_PORT": str(mosquitto.port)}
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "edge_agent",
                "demo",
                "--cache",
                str(tmp_path / "assets"),
                "--state",
                str(tmp_path / "state"),
                "--max-seconds",
                "22",
                "--json",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert result.returncode == 0, result.stderr
        alerts = [json.loads(line) for line in result.stdout.splitlines()]
        # the first visitor walks in within the first 22 s of the clip
        assert any(a["type"] == "line_crossing" and a["details"]["direction"] == "in" for a in alerts)
        assert any(a["type"] == "intrusion" and a["phase"] == "start" for a in alerts)
        assert "all alerts delivered to the broker" in result.stderr
        wait_for(
            lambda: (
                {json.loads(p)["event_id"] for t, p in received if "/alerts/" in t} >= {a["event_id"] for a in alerts}
            ),
            timeout=10,
            message="every printed alert at the broker",
        )
    finally:
        client.loop_stop()
        client.disconnect()


def test_demo_speaks_to_a_person_by_default(tmp_path):
    """Without --json: one readable line per alert (clip time, type, phase, rule, what), and the summary."""
    model_path(), footage("entrance-one-by-one.mp4")
    env = {**os.environ, "EDGE_AGENT_ASSETS": str(assets_dir()), "EDGE_MQTT_PORT": "9"}  # no broker there
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_agent",
            "demo",
            "--cache",
            str(tmp_path / "assets"),
            "--state",
            str(tmp_path / "state"),
            "--max-seconds",
            "12",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and not any(line.lstrip().startswith("{") for line in lines)
    pattern = re.compile(r"^\s*(\d+\.\d) s  (\S+)\s+(start|end|instant)\s+(\S+)\s+(.+)$")
    parsed = [pattern.match(line) for line in lines]
    assert all(parsed), lines
    assert all(0.0 <= float(m.group(1)) <= 12.5 for m in parsed)  # clip time, not wall-clock time
    crossings = [m for m in parsed if m.group(2) == "line_crossing"]
    assert crossings and all(m.group(3) == "instant" and m.group(4) != "-" for m in crossings)
    assert "rule " in result.stderr and "start   end  instant" in result.stderr  # the end-of-run summary
    assert "no broker at" in result.stderr


def test_a_mirror_file_with_another_digest_is_refused(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "footage").mkdir(parents=True)
    (mirror / "footage" / "clip.mp4").write_bytes(b"not the clip")
    asset = PinnedAsset("clip.mp4", None, "0" * 64, mirrors=(MirrorCopy("footage/clip.mp4", "1" * 64),))
    with pytest.raises(AssetIntegrityError, match="sha256"):
        fetch_asset(asset, tmp_path / "out" / "clip.mp4", mirror)
    assert not (tmp_path / "out" / "clip.mp4").exists()


def test_a_mirror_without_the_file_names_where_it_looked(tmp_path):
    asset = PinnedAsset("clip.mp4", None, "0" * 64, mirrors=(MirrorCopy("footage/clip.mp4", "1" * 64),))
    with pytest.raises(AssetUnavailable, match="footage/clip.mp4"):
        fetch_asset(asset, tmp_path / "clip.mp4", tmp_path)


def test_mirror_copy_declares_its_own_digest(tmp_path):
    source = footage("entrance-one-by-one.mp4")
    mirror = tmp_path / "mirror" / "footage"
    mirror.mkdir(parents=True)
    shutil.copyfile(source, mirror / "entrance-one-by-one.mp4")
    from edge_agent.cli.demo import DEMO_CLIP

    fetched = fetch_asset(DEMO_CLIP, tmp_path / "cache" / DEMO_CLIP.name, tmp_path / "mirror")
    assert fetched.sha256 == DEMO_CLIP.sha256 and fetched.path.stat().st_size == DEMO_CLIP.size
