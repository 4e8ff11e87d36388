"""One mirror lookup for demo, `models fetch`, tests and benches: --assets/--from, $EDGE_AGENT_ASSETS,
../shared beside the checkout, else upstream. Offline here means every proxy variable points at a
closed port, so any download attempt is refused (urllib honours them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.assets import find_mirror
from edge_agent.vision.models import read_record
from tests.support.assets import assets_dir, footage, model_path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DIGEST = "d39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a"
CLOSED = "http://127.0.0.1:9"
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy")
OFFLINE = dict.fromkeys(PROXY_VARIABLES, CLOSED)


def checkout_layout(tmp_path: Path, with_shared: bool) -> Path:
    """`tmp/main` -> this checkout and, when asked, `tmp/shared` -> the assets: `make demo`'s layout, nothing copied."""
    (tmp_path / "main").symlink_to(ROOT, target_is_directory=True)
    if with_shared:
        (tmp_path / "shared").symlink_to(assets_dir(), target_is_directory=True)
    return tmp_path / "main"


def agent(checkout: Path, *args, env_extra=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("EDGE_AGENT_ASSETS", "PYTHONPATH")}
    # PYTHONSAFEPATH: import the package from `checkout` as spelled (through the symlink), not from
    # the resolved working directory, so "beside the checkout" means beside tmp/main.
    env.update(
        OFFLINE,
        NO_PROXY="",
        no_proxy="",
        PYTHONPATH=str(checkout),
        PYTHONSAFEPATH="1",
        EDGE_MQTT_PORT="9",
        **(env_extra or {}),
    )
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", *map(str, args)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.assets
def test_demo_offline_uses_shared_beside_the_checkout(tmp_path):
    model_path(), footage("entrance-one-by-one.mp4")  # fail in CI when the assets are missing
    checkout = checkout_layout(tmp_path, with_shared=True)
    state = tmp_path / "state"
    done = agent(checkout, "demo", "--cache", tmp_path / "cache", "--state", state, "--max-seconds", "8", "--json")
    assert done.returncode == 0, done.stderr
    shared = tmp_path / "shared"
    assert f"assets from mirror {shared} (../shared beside the checkout {checkout})" in done.stderr
    assert f"fetched from mirror {shared}" in done.stderr
    # the mirror's own export of the model, recorded with its own digest
    assert read_record(state / "models", "yolox_nano").variants["fp32"].sha256 == SHARED_DIGEST
    alerts = [json.loads(line) for line in done.stdout.splitlines()]
    assert any(a["type"] == "line_crossing" and a["details"]["direction"] == "in" for a in alerts), done.stdout


def test_demo_offline_without_a_mirror_says_which_asset_and_how_to_point_at_one(tmp_path):
    checkout = checkout_layout(tmp_path, with_shared=False)
    done = agent(checkout, "demo", "--cache", tmp_path / "cache", "--state", tmp_path / "state")
    assert done.returncode == 69, done.stderr
    assert f"$EDGE_AGENT_ASSETS unset and no ../shared beside the checkout {checkout}" in done.stderr
    assert "cannot download 'yolox_nano' from https://" in done.stderr
    assert "set EDGE_AGENT_ASSETS to a mirror directory" in done.stderr and "demo --assets DIR" in done.stderr
    assert not list((tmp_path / "state" / "models").iterdir())  # no partial download left behind


@pytest.mark.assets
def test_models_fetch_offline_uses_shared_beside_the_checkout(tmp_path):
    model_path()
    checkout = checkout_layout(tmp_path, with_shared=True)
    done = agent(checkout, "models", "fetch", "yolox_nano", "--models-dir", tmp_path / "models")
    assert done.returncode == 0, done.stderr
    entry = read_record(tmp_path / "models", "yolox_nano").variants["fp32"]
    assert entry.sha256 == SHARED_DIGEST and "models/yolox_nano.onnx" in entry.source


@pytest.mark.assets
def test_edge_agent_assets_wins_over_shared_and_never_falls_back(tmp_path):
    model_path()
    checkout = checkout_layout(tmp_path, with_shared=True)
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    done = agent(
        checkout,
        "models",
        "fetch",
        "yolox_nano",
        "--models-dir",
        tmp_path / "models",
        env_extra={"EDGE_AGENT_ASSETS": str(empty)},
    )
    assert done.returncode == 66
    assert f"mirror {empty} has no copy of 'yolox_nano'" in done.stderr


def test_lookup_order_command_line_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGE_AGENT_ASSETS", str(tmp_path / "env"))
    assert find_mirror(tmp_path / "cli").path == tmp_path / "cli"
    assert find_mirror().path == tmp_path / "env" and find_mirror().reason == "$EDGE_AGENT_ASSETS"
    monkeypatch.setenv("EDGE_AGENT_ASSETS", "")  # empty is unset
    assert find_mirror().reason != "$EDGE_AGENT_ASSETS"
