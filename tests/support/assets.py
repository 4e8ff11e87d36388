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
