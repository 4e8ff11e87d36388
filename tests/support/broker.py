"""A private mosquitto per test: its own port, config and data dir; can be killed and restarted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mosquitto:
    def __init__(self, workdir: Path, port: int | None = None, extra_config: str = "", tls_port: bool = False):
        if shutil.which("mosquitto") is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra_config = extra_config
        self.process: subprocess.Popen | None = None
        self.log_path = self.workdir / "mosquitto.log"

    def write_config(self) -> Path:
        config = self.workdir / "mosquitto.conf"
        body = self.extra_config
        if "listener" not in body:
            body = f"listener {self.port} 127.0.0.1\nallow_anonymous true\n" + body
        # `user root`: when tests run as root, mosquitto would otherwise drop to the
        # mosquitto user and fail to read its log, password and key files in the
        # private temp dir; as any other user the line has no effect.
        config.write_text(f"persistence false\nuser root\nlog_dest file {self.log_path}\nlog_type all\n{body}\n")
        return config

    def start(self, timeout: float = 10.0) -> Mosquitto:
        config = self.write_config()
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log_path.read_text() if self.log_path.exists() else ''}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start listening")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()


# -- helpers for tests that need auth, TLS or a watching subscriber ------------------


def reload(broker: Mosquitto) -> None:
    """SIGHUP: mosquitto re-reads its password file and ACLs."""
    broker.process.send_signal(signal.SIGHUP)


def write_password_file(path: Path, users: dict[str, str]) -> Path:
    path.write_text("")
    for user, password in users.items():
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, password], check=True, capture_output=True)
    os.chmod(path, 0o600)
    return path


def password_listener(port: int, password_file: Path) -> str:
    return f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {password_file}\n"


def tls_listener(port: int, ca: Path, cert: Path, key: Path, require_certificate: bool = True) -> str:
    return (
        f"listener {port} 127.0.0.1\nallow_anonymous true\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        f"require_certificate {'true' if require_certificate else 'false'}\n"
    )


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {result.stderr}")


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed test CA (EC P-256, one day); returns (cert, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key), cwd=directory)
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        str(key),
        "-days",
        "1",
        "-subj",
        f"/CN={name}",
        "-out",
        str(cert),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    return cert, key


def issue_cert(directory: Path, ca: tuple[Path, Path], name: str, server: bool) -> tuple[Path, Path]:
    """A leaf certificate signed by `ca`: server (SAN 127.0.0.1, localhost) or client; returns (cert, key)."""
    key, csr, cert = directory / f"{name}.key", directory / f"{name}.csr", directory / f"{name}.crt"
    ext = directory / f"{name}.ext"
    usage = "serverAuth" if server else "clientAuth"
    san = "subjectAltName=IP:127.0.0.1,DNS:localhost\n" if server else ""
    ext.write_text(f"basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n{san}")
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key), cwd=directory)
    _openssl("req", "-new", "-key", str(key), "-subj", f"/CN={name}", "-out", str(csr), cwd=directory)
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca[0]),
        "-CAkey",
        str(ca[1]),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        str(ext),
        "-out",
        str(cert),
        cwd=directory,
    )
    return cert, key


class Recorder:
    """A real subscriber that records every message; re-subscribes after broker restarts.

    `ready` is set when the subscription is acknowledged (and cleared on disconnect),
    so a test can hold the publisher off until someone is listening.
    """

    def __init__(
        self,
        port: int,
        topic_filter: str,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: dict | None = None,
        client_id: str = "test-recorder",
    ):
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.port = port
        self.topic_filter = topic_filter
        self.messages: list = []
        self._alert_ids: list[str] = []
        self._lock = threading.Lock()
        self.ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        self.client.reconnect_delay_set(0.05, 0.2)
        if username:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set(**tls)
        self.client.on_connect = lambda c, u, f, rc, p: (not rc.is_failure) and c.subscribe(topic_filter, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.ready.set()
        self.client.on_disconnect = lambda *args: self.ready.clear()
        self.client.on_message = self._record

    def _record(self, client, userdata, message) -> None:
        properties = dict(getattr(message.properties, "UserProperty", []) or [])
        payload = bytes(message.payload)
        alert_id = json.loads(payload).get("event_id") if "/alerts/" in message.topic else None
        with self._lock:
            self.messages.append((message.topic, payload, properties, message.properties, message.retain))
            if alert_id is not None:
                self._alert_ids.append(alert_id)

    def start(self, timeout: float = 10.0) -> Recorder:
        self.client.connect_async("127.0.0.1", self.port)
        self.client.loop_start()
        if not self.ready.wait(timeout):
            raise RuntimeError("recorder did not subscribe")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def snapshot(self) -> list:
        with self._lock:
            return list(self.messages)

    def payloads(self, topic_part: str = "/alerts/") -> list[dict]:
        return [json.loads(payload) for topic, payload, *_ in self.snapshot() if topic_part in topic]

    def event_ids(self) -> list[str]:
        """event_id of every alert received, in arrival order, duplicates included."""
        with self._lock:
            return list(self._alert_ids)
