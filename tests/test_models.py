"""`edge-agent models` through a subprocess: fetch from a mirror, list, verify, install, refusals."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from edge_agent.vision.manifest import load_manifest
from edge_agent.vision.models import read_record, sha256_file
from tests.support.assets import assets_dir, model_path

pytestmark = pytest.mark.assets

SHARED_DIGEST = "d39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a"
UPSTREAM_DIGEST = "c789161ed43c8269fcd4e67c67eeeb4e80c622da2eb296a20bc6007bd18a0b7d"


def cli(*args, env_extra=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "EDGE_AGENT_ASSETS"}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "edge_agent", "models", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_manifest_pins_upstream_and_declares_the_mirror_digest():
    manifest = load_manifest("yolox_nano")
    assert manifest.sha256 == UPSTREAM_DIGEST and manifest.size == 3_659_407
    assert manifest.url.endswith("/0.1.1rc0/yolox_nano.onnx")
    mirror = {m.path: m.sha256 for m in manifest.mirrors}
    assert mirror["models/yolox_nano.onnx"] == SHARED_DIGEST == sha256_file(model_path())
    assert len(manifest.labels) == 80 and manifest.input.width == 416


def test_fetch_from_mirror_records_the_digest_it_installed(tmp_path):
    models = tmp_path / "models"
    done = cli("fetch", "yolox_nano", "--from", assets_dir(), "--models-dir", models)
    assert done.returncode == 0, done.stderr
    assert SHARED_DIGEST in done.stdout
    entry = read_record(models, "yolox_nano").variants["fp32"]
    assert entry.sha256 == SHARED_DIGEST and "models/yolox_nano.onnx" in entry.source
    listed = cli("list", "--models-dir", models)
    assert listed.returncode == 0 and "yolox_nano [yolox] fp32 yolox_nano.onnx d39bee73564e" in listed.stdout
    verified = cli("verify", "--models-dir", models)
    assert verified.returncode == 0 and "yolox_nano (fp32): OK" in verified.stdout


def test_fetch_uses_edge_agent_assets_when_set(tmp_path):
    done = cli("fetch", "yolox_nano", "--models-dir", tmp_path, env_extra={"EDGE_AGENT_ASSETS": str(assets_dir())})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "yolox_nano.onnx").exists()


def test_verify_names_a_changed_file_and_fails(tmp_path):
    assert cli("fetch", "yolox_nano", "--from", assets_dir(), "--models-dir", tmp_path).returncode == 0
    with open(tmp_path / "yolox_nano.onnx", "r+b") as handle:
        handle.seek(1000)
        handle.write(b"tampered")
    done = cli("verify", "--models-dir", tmp_path)
    assert done.returncode == 65
    assert "yolox_nano (fp32): FAILED" in done.stdout and f"expected {SHARED_DIGEST}" in done.stdout


def test_mirror_with_a_wrong_file_is_refused(tmp_path):
    mirror = tmp_path / "mirror" / "models"
    mirror.mkdir(parents=True)
    (mirror / "yolox_nano.onnx").write_bytes(b"not a model")
    done = cli("fetch", "yolox_nano", "--from", mirror.parent, "--models-dir", tmp_path / "models")
    assert done.returncode == 65
    assert "mirror copy of 'yolox_nano'" in done.stderr and "refusing a changed file" in done.stderr


def test_unknown_model_names_the_known_ones(tmp_path):
    done = cli("fetch", "yolo_giant", "--from", assets_dir(), "--models-dir", tmp_path)
    assert done.returncode == 65 and "no manifest for model 'yolo_giant'" in done.stderr and "yolox_nano" in done.stderr


def test_install_custom_model_records_its_digest(tmp_path):
    done = cli("install", model_path(), "--name", "lobby-det", "--like", "yolox_nano", "--models-dir", tmp_path)
    assert done.returncode == 0, done.stderr
    record = read_record(tmp_path, "lobby-det")
    assert record.manifest.family == "yolox" and record.manifest.file == "lobby-det.onnx"
    assert record.variants["fp32"].sha256 == sha256_file(tmp_path / "lobby-det.onnx") == SHARED_DIGEST
    missing = cli("install", tmp_path / "nope.onnx", "--name", "x", "--like", "yolox_nano", "--models-dir", tmp_path)
    assert missing.returncode == 66 and "nope.onnx does not exist" in missing.stderr


def test_detector_for_a_model_that_is_not_installed_says_how_to_get_it(tmp_path):
    from edge_agent.config.detector import DetectorConfig
    from edge_agent.vision.detector import Detector
    from edge_agent.vision.models import ModelNotInstalled

    with pytest.raises(ModelNotInstalled, match="edge-agent models fetch yolox_nano"):
        Detector.from_config(DetectorConfig(), tmp_path)
