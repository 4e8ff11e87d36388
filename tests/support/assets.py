"""Shared test assets (../shared): referenced by path, never copied.

In CI (CI=true) a missing asset fails the test; on a developer machine it skips.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def assets_dir() -> Path:
    return Path(os.environ.get("EDGE_AGENT_ASSETS", ROOT.parent / "shared")).resolve()


def asset(relative: str) -> Path:
    path = assets_dir() / relative
    if not path.exists():
        message = f"shared asset {path} is missing (set EDGE_AGENT_ASSETS)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def model_path() -> Path:
    return asset("models/yolox_nano.onnx")


def footage(name: str) -> Path:
    return asset(f"footage/{name}")
