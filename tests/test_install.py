"""scripts/install.sh in a throwaway --prefix with --offline.

Choice for speed and for sites without a wheelhouse in CI: the test builds a wheel of this
project (`pip wheel --no-deps`) and installs it with --no-deps; the dependencies come from
this test environment through PYTHONPATH (its site-packages), so nothing is downloaded at
install time. The agent package itself must come from the installed wheel, which the test
checks.
"""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.support.assets import model_path

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "scripts" / "install.sh"


@pytest.fixture(scope="module")
def offline_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("offline")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "-w",
            str(directory),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (directory / "models").mkdir()
    (directory / "models" / "yolox_nano.onnx").symlink_to(model_path())
    return directory


def run_install(*args, check=True):
    env = dict(os.environ, PYTHONPATH=sysconfig.get_paths()["purelib"])
    result = subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, env=env, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"install.sh failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def test_offline_install_into_a_prefix_is_complete_and_idempotent(tmp_path, offline_dir):
    prefix = tmp_path / "root"
    common = ["--prefix", str(prefix), "--offline", str(offline_dir), "--no-deps", "--python", sys.executable]
    first = run_install(*common)
    assert "would create system user edge-agent in groups video,dialout" in first.stdout

    venv_python = prefix / "opt/edge-agent/venv/bin/python"
    env = dict(os.environ, PYTHONPATH=sysconfig.get_paths()["purelib"])
    where = subprocess.run(
        [str(venv_python), "-c", "import edge_agent; print(edge_agent.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert where.startswith(str(prefix / "opt/edge-agent/venv")), where

    # `edge-agent` on PATH: the docs' `sudo -u edge-agent edge-agent web passwd` works on an installed box
    command = prefix / "usr/local/bin/edge-agent"
    assert command.is_symlink() and command.resolve() == (prefix / "opt/edge-agent/venv/bin/edge-agent").resolve()
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("edge-agent "), version.stderr
    assert f"linked {command}" in first.stdout

    config = prefix / "etc/edge-agent/config.yaml"
    data = yaml.safe_load(config.read_text())
    assert data["device"]["state_dir"] == str(prefix / "var/lib/edge-agent")
    assert oct(config.stat().st_mode & 0o777) == "0o640"
    assert oct((prefix / "etc/edge-agent").stat().st_mode & 0o7777) == "0o1770"
    assert "config" in first.stdout and "is valid" in first.stdout

    record = yaml.safe_load((prefix / "var/lib/edge-agent/models/yolox_nano.model.yaml").read_text())
    assert record["variants"]["fp32"]["sha256"] == "d39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a"
    # the device timed its variants once, so `variant: auto` is this CPU's choice
    assert set(record["bench"]) == {"fp32"} and record["preferred_variant"] == "fp32"
    assert "yolox_nano: preferred variant fp32" in first.stdout

    unit = (prefix / "etc/systemd/system/edge-agent.service").read_text()
    assert (
        f"ExecStart={prefix}/opt/edge-agent/venv/bin/edge-agent run --config {prefix}/etc/edge-agent/config.yaml"
        in unit
    )
    assert f"ReadWritePaths={prefix}/var/lib/edge-agent {prefix}/etc/edge-agent" in unit
    assert "unit not enabled" in first.stdout

    # a technician edits the config; a second run upgrades but keeps it, and keeps the verified model
    config.write_text(config.read_text().replace("site: harbour-view", "site: edited-site"))
    second = run_install(*common)
    assert "keeping existing" in second.stdout
    assert "already installed" in second.stdout
    assert "already benched" in second.stdout and "preferred variant" not in second.stdout
    assert "site: edited-site" in config.read_text()
    assert command.is_symlink() and f"linked {command}" in second.stdout  # the link is renewed, not refused


def test_a_file_where_the_link_goes_is_not_overwritten(tmp_path, offline_dir):
    prefix = tmp_path / "root"
    (prefix / "usr/local/bin").mkdir(parents=True)
    mine = prefix / "usr/local/bin/edge-agent"
    mine.write_text("#!/bin/sh\necho a script of the site's own\n")
    common = ["--prefix", str(prefix), "--offline", str(offline_dir), "--no-deps", "--python", sys.executable]
    refused = run_install(*common, "--model", "none", check=False)
    assert refused.returncode == 1 and "exists and is not a link" in refused.stderr
    assert "a script of the site's own" in mine.read_text()
    assert not (prefix / "opt/edge-agent").exists()  # refused before anything was installed


def test_bad_arguments_are_refused_with_a_reason(tmp_path):
    missing = run_install("--prefix", str(tmp_path / "r"), "--offline", str(tmp_path / "nope"), check=False)
    assert missing.returncode == 1 and "is not a directory" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    no_wheel = run_install(
        "--prefix", str(tmp_path / "r"), "--offline", str(empty), "--no-deps", "--python", sys.executable, check=False
    )
    assert no_wheel.returncode == 1 and "no edge_agent-*.whl in" in no_wheel.stderr
    unknown = run_install("--frobnicate", check=False)
    assert unknown.returncode == 1 and "unknown option --frobnicate" in unknown.stderr
