"""The daemon as a real subprocess with its technician's page, raw sockets to it, and its memory figures.

The attack tests (tests/test_web_attacks.py, test_web_body_limit.py, test_web_fuzz.py) need what an
attacker has: a real TCP connection to the real daemon, headers of their own choosing, bodies sent
at their own pace. httpx is used where a well-behaved client is meant.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from edge_agent.web.passwords import write_hash
from tests.support.daemon import ROOT, Daemon, base_config
from tests.support.wait import wait_for
from tests.support.web import PASSWORD


class PageDaemon:
    """`edge-agent run` as a subprocess, its page enabled on a free loopback port and its password set."""

    def __init__(self, workdir: Path, broker_port: int, sections: dict | None = None, **web):
        """`web`: the web section's keys; `sections`: other sections of the config (actions, say)."""
        self.state = Path(workdir) / "state"
        self.password_path = self.state / "web" / "password"
        write_hash(self.password_path, PASSWORD)
        config = base_config(self.state, broker_port, web={"enabled": True, "port": 0, **web}, **(sections or {}))
        self.daemon = Daemon(Path(workdir) / "agent", config).start()
        self.url = page_url(self.daemon)
        host, port = re.match(r"https?://([^/]+):(\d+)/", self.url).groups()
        self.host, self.port = host, int(port)

    @property
    def pid(self) -> int:
        return self.daemon.process.pid

    def log(self) -> str:
        return self.daemon.log()

    def client(self, **options) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **options)

    def logged_in(self, password: str = PASSWORD, **options) -> tuple[httpx.Client, str]:
        client = self.client(**options)
        reply = client.post("/api/login", json={"password": password})
        assert reply.status_code == 200, reply.text
        return client, reply.json()["csrf"]

    def connect(self, timeout: float = 10.0) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def audit(self) -> list[dict]:
        import json

        path = self.state / "web" / "audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def set_password(self, password: str) -> None:
        """`edge-agent web passwd --file` as the technician runs it."""
        run = [sys.executable, "-m", "edge_agent", "web", "passwd", "--file", str(self.password_path), "--stdin"]
        done = subprocess.run(run, input=password + "\n", capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr

    def stop(self) -> int:
        return self.daemon.stop()


def page_url(daemon: Daemon, after: int = 0) -> str:
    """The page's address from the daemon's log (port 0: the kernel picked it); the newest after `after` lines."""

    def found():
        if not daemon.running():
            raise AssertionError(f"the daemon exited before serving its page:\n{daemon.log()[-3000:]}")
        lines = daemon.log().splitlines()[after:]
        urls = [m.group(1) for line in lines for m in [re.search(r"served on (https?://[^ \"]+/)", line)] if m]
        return urls[-1] if urls else None

    return wait_for(found, timeout=30, message="the page's address in the log")


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak so far) of a process, in kB, from /proc/PID/status."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0])
    return figures


def read_reply(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or the socket's timeout passes)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received


def status_of(reply: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", reply)
    return int(match.group(1)) if match else None
