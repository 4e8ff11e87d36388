"""The agent as a real subprocess, an MQTT watcher and a notify socket, for the daemon tests."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import yaml

from tests.support.contract_samples import keep_for_the_ci
from tests.support.wait import wait_for

# The checkout under test: the subprocess must import this package, not whichever copy
# happens to be installed in the virtualenv (another worktree's, say).
ROOT = Path(__file__).resolve().parents[2]


def base_config(state_dir: Path, port: int, **sections) -> dict:
    config = {
        "device": {"id": "dev-1", "site": "site-1", "state_dir": str(state_dir)},
        "mqtt": {"host": "127.0.0.1", "port": port, "reconnect": {"min_delay": 0.2, "max_delay": 1}},
        "telemetry": {"interval": 30},
        "supervisor": {"start_grace": 0.5},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


class Watcher:
    """Subscribes to everything under edge/#; sends commands and waits for their replies."""

    def __init__(self, port: int, base: str = "edge/site-1/dev-1"):
        self.base = base
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"watcher-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv5
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        # Retain As Published: a live message keeps its retain flag, so tests can check the flag
        # the agent set (without it the broker clears the flag on everything but a late join).
        options = paho.SubscribeOptions(qos=1, retainAsPublished=True)
        self.client.on_connect = lambda client, *args: client.subscribe("edge/#", options=options)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "watcher did not subscribe"

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def payloads(self, suffix: str) -> list[dict]:
        with self._lock:
            found = [payload for topic, payload, _ in self.messages if topic == f"{self.base}/{suffix}"]
        return [json.loads(payload) for payload in found]

    def retain_flags(self, suffix: str) -> list[bool]:
        """The retain flag of every message seen on `{base}/{suffix}`, in order."""
        with self._lock:
            return [retain for topic, _, retain in self.messages if topic == f"{self.base}/{suffix}"]

    def health(self, reason: str | None = None) -> list[dict]:
        alerts = self.payloads("alerts/agent.health")
        return [a for a in alerts if reason is None or a["details"].get("reason") == reason]

    def command(self, name: str, args: dict | None = None, raw: bytes | None = None, timeout: float = 20.0) -> dict:
        request_id = uuid.uuid4().hex
        payload = raw if raw is not None else json.dumps({"request_id": request_id, "args": args or {}}).encode()
        before = len(self.payloads(f"cmd/{name}/reply"))
        self.client.publish(f"{self.base}/cmd/{name}", payload, qos=1)

        def reply():
            replies = self.payloads(f"cmd/{name}/reply")[before:]
            if raw is not None:
                return replies[0] if replies else None
            return next((r for r in replies if r["request_id"] == request_id), None)

        return wait_for(reply, timeout=timeout, message=f"reply to {name}")

    def wait_ready(self, timeout: float = 40.0) -> dict:
        """Ping until the agent answers (a command sent before it subscribed is lost, by MQTT design)."""

        def answered():
            try:
                return self.command("ping", timeout=1.0)
            except AssertionError:
                return None

        return wait_for(answered, timeout=timeout, message="the agent to answer ping")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
        with self._lock:
            keep_for_the_ci(self.base, list(self.messages))  # the Ajv check in .ci/run (contract_samples.py)


def retained_message(port: int, topic: str, timeout: float = 10.0) -> tuple[dict, bool]:
    """(payload, retain flag) that a subscriber joining now receives on `topic`: the retained message."""
    received: list[tuple[dict, bool]] = []
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2, client_id=f"late-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv5
    )
    client.on_message = lambda c, u, message: received.append((json.loads(message.payload), bool(message.retain)))
    client.on_connect = lambda c, *args: c.subscribe(topic, qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        return wait_for(lambda: received and received[0], timeout=timeout, message=f"a retained message on {topic}")
    finally:
        client.loop_stop()
        client.disconnect()


class NotifySocket:
    """A real unix datagram socket standing in for systemd's notify socket."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.received: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.received.append(self.sock.recv(4096).decode())
            except (TimeoutError, OSError):
                continue

    def count(self, assignment: str) -> int:
        return sum(1 for message in list(self.received) if assignment in message.split("\n"))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class Daemon:
    """`python -m edge_agent run --config FILE` as a subprocess."""

    def __init__(self, workdir: Path, config: dict, env: dict | None = None, args: tuple[str, ...] = ()):
        """`args`: more `run` options, e.g. ("--no-revert",) to run as on site."""
        self.args = tuple(args)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "config.yaml"
        self.write_config(config)
        self.log_path = self.workdir / "agent.log"
        pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": pythonpath, **(env or {})}
        self.process: subprocess.Popen | None = None

    def write_config(self, config: dict | str) -> None:
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        self.config_path.write_text(text)

    def start(self) -> Daemon:
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--config", str(self.config_path), *self.args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.workdir,
        )
        return self

    def reload_file(self, config: dict | str, watcher: Watcher, timeout: float = 60.0) -> dict:
        """Write a new config file and SIGHUP: the local way to change what a remote sender may not. Returns the
        status once the agent runs the new text (its config_sha256)."""
        self.write_config(config)
        digest = hashlib.sha256(self.config_path.read_bytes()).hexdigest()
        self.signal(signal.SIGHUP)
        return wait_for(
            lambda: (status := watcher.command("status")["result"])["config_sha256"] == digest and status,
            timeout=timeout,
            message="the agent to run the reloaded file",
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> int:
        if self.running():
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        self._log.close()
        return code
