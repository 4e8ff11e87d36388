"""A real Agent in a thread with its technician's page, and a logged-in HTTP client, for the web tests."""

from __future__ import annotations

import threading

import httpx
import yaml

from edge_agent.config import parse_config
from edge_agent.daemon.agent import Agent
from edge_agent.web.passwords import write_hash
from edge_agent.web.server import WebService
from tests.support.daemon import base_config
from tests.support.wait import wait_for

PASSWORD = "correct horse battery"


class WebAgent:
    """A real Agent in a thread with its technician's page, as `edge-agent run` starts them."""

    def __init__(self, workdir, port: int, **sections):
        document = base_config(workdir / "state", port, **sections)
        self.path = workdir / "config.yaml"
        text = yaml.safe_dump(document, sort_keys=False)
        self.path.write_text(text)
        write_hash(workdir / "state" / "web" / "password", PASSWORD)
        self.agent = Agent(self.path, text, parse_config(text))
        self.web = WebService(self.agent.face).start()
        self.thread = threading.Thread(target=self.agent.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.agent.delivery is not None and self.agent.pipeline is not None, timeout=20)

    @property
    def url(self) -> str:
        return self.web.server.url

    def stop(self) -> None:
        self.agent.request_stop()
        self.thread.join(20)
        self.web.stop()


def logged_in(page: WebAgent) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=page.url, timeout=30)
    reply = client.post("/api/login", json={"user": "technician", "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return client, reply.json()["csrf"]
