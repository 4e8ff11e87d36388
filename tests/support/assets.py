"""Shared test assets: referenced by path, never copied.

Found the way the agent finds them (edge_agent.assets.find_mirror): $EDGE_AGENT_ASSETS, else
../shared beside the checkout. In CI (CI=true) missing assets fail the test; on a developer
machine they skip it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge_agent.assets import AssetUnavailable, require_mirror

ROOT = Path(__file__).resolve().parents[2]


def _missing(message: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def assets_dir() -> Path:
    try:
        return require_mirror().resolve()
    except AssetUnavailable as exc:
        _missing(f"shared assets: {exc}")


def asset(relative: str) -> Path:
    path = assets_dir() / relative
    if not path.exists():
        _missing(f"shared asset {path} is missing (set EDGE_AGENT_ASSETS)")
    return path


def model_path() -> Path:
    return asset("models/yolox_nano.onnx")


def footage(name: str) -> Path:
    return asset(f"footage/{name}")


WHOLE_PICTURE = [[0, 0], [1, 0], [1, 1], [0, 1]]


def entrance_camera(**settings) -> dict:
    """The shared entrance clip as a looping file camera at real-time pace, 5 detector runs a second (a live
    camera, as the daemon tests need one); `settings` add to or replace its config keys."""
    return {
        "id": "entrance",
        "url": str(footage("entrance-one-by-one.mp4")),
        "kind": "file",
        "loop": True,
        "realtime": True,
        "detect_fps": 5,
        **settings,
    }
