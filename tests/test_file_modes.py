"""Files at rest: whatever the umask, what the agent creates is owner-only (files 0600/0640, directories 0750).

The real daemon runs under umask 000 (the loosest a shell, cron or container could hand it)
with the technician's page and an HTTP push adapter, stores a door alert, takes a login and
a config change (so the outbox and state databases with their -wal/-shm, the audit log, the
persisted config and its .previous all exist), and every file and directory under its state
directory is checked while it runs and after it stops. `edge-agent web passwd` is checked
the same way, writing into a state directory that does not exist yet.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from edge_agent.clock import SystemClock
from edge_agent.config.outbox import OutboxConfig
from edge_agent.sources.access.signing import sign
from edge_agent.store import Outbox
from edge_agent.store.state_store import StateStore
from tests.support.assets import assets_dir, model_path
from tests.support.broker import free_port
from tests.support.daemon import ROOT, Daemon, Watcher, base_config
from tests.support.wait import wait_for
from tests.test_daemon_access import SECRET, access_section

PASSWORD = "correct horse battery"
LOOSEST_UMASK = 0o000
FILE_MODES = {0o600, 0o640}
DIR_MODES = {0o700, 0o750}


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """Subprocesses started inside inherit `mask`."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def loose_entries(top: Path) -> list[str]:
    """Every file not 0600/0640 and every directory not 0750 or tighter under `top` (itself included)."""
    found = []
    for path in [top, *sorted(top.rglob("*"))]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        allowed = DIR_MODES if path.is_dir() else FILE_MODES
        if mode not in allowed:
            found.append(f"{path.relative_to(top.parent)}: {oct(mode)}")
    return found


def edge_agent(*args: str, stdin: str = "") -> None:
    """`edge-agent ARGS` from this checkout under umask 000."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "edge_agent", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        umask=LOOSEST_UMASK,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def set_password(config_path: Path) -> None:
    edge_agent("web", "passwd", "--config", str(config_path), "--stdin", stdin=PASSWORD + "\n")


def test_web_passwd_writes_an_owner_only_file_in_owner_only_directories(tmp_path):
    state = tmp_path / "var" / "lib" / "edge-agent"  # none of it exists yet
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(base_config(state, 1883)))
    set_password(config_path)
    password = state / "web" / "password"
    assert password.read_text().startswith("scrypt$")
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    assert loose_entries(tmp_path / "var") == []


@pytest.mark.assets
def test_models_fetch_installs_owner_only_files(tmp_path):
    model_path()
    edge_agent(
        "models", "fetch", "yolox_nano", "--models-dir", str(tmp_path / "var" / "models"), "--from", str(assets_dir())
    )
    assert (tmp_path / "var" / "models" / "yolox_nano.onnx").is_file()
    assert loose_entries(tmp_path / "var") == []


def test_an_older_agents_loose_databases_are_tightened_when_opened(tmp_path):
    """Files a 0644-era agent left behind lose their group-write and "other" bits; nothing is loosened."""
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    with umask(0o022):
        outbox = Outbox(state / "outbox.db", OutboxConfig(), SystemClock())
        store = StateStore.beside(state / "outbox.db")
    store.close()
    outbox.close()
    for path in state.iterdir():
        path.chmod(0o666)
    outbox = Outbox(state / "outbox.db", OutboxConfig(), SystemClock())
    store = StateStore.beside(state / "outbox.db")
    try:
        modes = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in state.iterdir()}
        assert modes["outbox.db"] == modes["state.db"] == oct(0o640), modes
        assert set(modes.values()) <= {oct(0o600), oct(0o640)}, modes
    finally:
        store.close()
        outbox.close()


def test_the_daemon_creates_its_files_owner_only_whatever_the_umask(tmp_path, mosquitto):
    state, push_port, web_port = tmp_path / "var" / "lib" / "edge-agent", free_port(), free_port()
    config = base_config(
        state,
        mosquitto.port,
        access=access_section(tmp_path, push_port),
        web={"enabled": True, "port": web_port},
    )
    watcher = Watcher(mosquitto.port)
    with umask(LOOSEST_UMASK):
        daemon = Daemon(tmp_path / "etc", config)  # its config.yaml, too, is written under umask 000
        set_password(daemon.config_path)
        daemon.start()
    try:
        assert watcher.wait_ready()["ok"]
        store_a_door_alert(push_port, watcher)
        log_in(f"http://127.0.0.1:{web_port}")
        change_config(watcher, config)
        names = {path.name for path in state.rglob("*")}
        assert {"outbox.db", "outbox.db-wal", "outbox.db-shm", "state.db", "audit.jsonl", "password"} <= names
        assert loose_entries(tmp_path / "var") == []
        persisted = [daemon.config_path, daemon.config_path.with_name("config.yaml.previous")]
        assert {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in persisted} == {
            "config.yaml": oct(0o640),
            "config.yaml.previous": oct(0o640),
        }
    finally:
        watcher.close()
        assert daemon.stop() == 0
    assert loose_entries(tmp_path / "var") == []
    assert "Traceback" not in daemon.log()


def store_a_door_alert(port: int, watcher: Watcher) -> None:
    body = json.dumps({"type": "door.forced", "codes": {"seq": 1}}).encode()
    stamp = str(int(time.time()))
    headers = {"X-Timestamp": stamp, "X-Signature": sign(SECRET, stamp, body), "Content-Type": "application/json"}
    reply = httpx.post(f"http://127.0.0.1:{port}/events", content=body, headers=headers, timeout=10)
    assert reply.status_code == 200, reply.text
    wait_for(lambda: watcher.payloads("alerts/door.forced"), timeout=15, message="door.forced alert")


def log_in(url: str) -> None:
    """A login is written to the audit log."""
    with httpx.Client(base_url=url, timeout=30) as client:
        wait_for(lambda: _answers(client), timeout=20, message="the technician's page")
        reply = client.post("/api/login", json={"user": "technician", "password": PASSWORD})
        assert reply.status_code == 200, reply.text


def change_config(watcher: Watcher, config: dict) -> None:
    """A remote set-config: the config is persisted beside its .previous."""
    changed = json.loads(json.dumps(config))
    changed["access"]["denials"]["count"] += 1
    reply = watcher.command("set-config", {"config": yaml.safe_dump(changed)}, timeout=40)
    assert reply["ok"] and reply["result"]["persisted"] is True, reply


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/api/session").status_code == 401
    except httpx.HTTPError:
        return False
