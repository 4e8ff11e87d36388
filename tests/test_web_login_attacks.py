"""Logins and sessions under attack: a changed password and an everlasting session (F9), a user-name probe (F10).

The page runs in this process with the real Agent, over real HTTP, on a FakeClock (the page's
clock is passed in, as everywhere in the agent) so a 12-hour session lifetime is crossed without
waiting; a password is changed by the real `edge-agent web passwd`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import httpx
import pytest
import yaml

from edge_agent.clock import FakeClock
from edge_agent.config import parse_config
from edge_agent.daemon.agent import Agent
from edge_agent.web.passwords import scrypt_runs, write_hash
from edge_agent.web.server import WebService
from tests.support.daemon import ROOT, base_config
from tests.support.web import PASSWORD

IDLE_TIMEOUT, MAX_AGE = 600, 3600


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The real Agent (not run: these requests need only its config) and its page on a clock the test moves."""
    workdir = tmp_path_factory.mktemp("web-logins")
    web = {
        "enabled": True,
        "port": 0,
        "login_max_failures": 100,
        "session_idle_timeout": IDLE_TIMEOUT,
        "session_max_age": MAX_AGE,
    }
    text = yaml.safe_dump(base_config(workdir / "state", 1883, web=web), sort_keys=False)
    path = workdir / "config.yaml"
    path.write_text(text)
    password_path = workdir / "state" / "web" / "password"
    write_hash(password_path, PASSWORD)
    clock = FakeClock()
    service = WebService(Agent(path, text, parse_config(text)).face, clock).start()
    yield SimpleNamespace(url=service.server.url, clock=clock, password_path=password_path)
    service.stop()


def log_in(page, password: str = PASSWORD, **body) -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(base_url=page.url, timeout=30)
    return client, client.post("/api/login", json={"password": password, **body})


def set_password(page, password: str) -> None:
    run = [sys.executable, "-m", "edge_agent", "web", "passwd", "--file", str(page.password_path), "--stdin"]
    done = subprocess.run(run, input=password + "\n", capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "end" in done.stdout  # it says that the page's sessions end


def test_f9_a_new_password_ends_every_session(page):
    before, reply = log_in(page)
    assert reply.status_code == 200 and before.get("/api/session").status_code == 200
    new = "a brand new passphrase"
    set_password(page, new)
    try:
        assert before.get("/api/session").status_code == 401  # the old password's session is over
        after, reply = log_in(page, new)
        assert reply.status_code == 200 and after.get("/api/session").status_code == 200
        assert log_in(page)[1].status_code == 401  # and the old password is no good
    finally:
        set_password(page, PASSWORD)
    assert after.get("/api/session").status_code == 401  # changing it back ends that one too


def test_f9_a_session_ends_at_its_maximum_age_however_active(page):
    client, reply = log_in(page)
    assert reply.status_code == 200
    elapsed = 0
    while elapsed + IDLE_TIMEOUT / 2 < MAX_AGE:  # never idle for long: only the absolute lifetime can end it
        page.clock.advance(IDLE_TIMEOUT / 2)
        elapsed += IDLE_TIMEOUT / 2
        assert client.get("/api/session").status_code == 200, elapsed
    page.clock.advance(MAX_AGE - elapsed + 1)
    reply = client.get("/api/session")
    assert reply.status_code == 401 and "log in" in reply.json()["error"]
    assert log_in(page)[1].status_code == 200  # a new login starts a new lifetime


@pytest.mark.parametrize("user", ["technician", "nobody", "", "technicia", "technician2", "TECHNICIAN", "é" * 300])
def test_f10_every_login_costs_one_scrypt_whoever_it_names(page, user):
    runs = scrypt_runs()
    _, reply = log_in(page, "wrong password", user=user)
    assert reply.status_code == 401 and reply.json()["error"] == "wrong user or password"
    assert scrypt_runs() - runs == 1  # the unknown user paid the same derivation as the real one


def test_f10_the_right_password_for_another_user_does_not_log_in(page):
    runs = scrypt_runs()
    _, reply = log_in(page, PASSWORD, user="nobody")
    assert reply.status_code == 401 and scrypt_runs() - runs == 1


@pytest.mark.parametrize(
    "body", [{"user": ["technician"], "password": PASSWORD}, {"password": 12345678901}, [PASSWORD]]
)
def test_f10_a_login_that_is_not_two_strings_is_a_400_and_never_a_guess(page, body):
    client = httpx.Client(base_url=page.url, timeout=30)
    runs = scrypt_runs()
    reply = client.post("/api/login", json=body)
    assert reply.status_code == 400 and scrypt_runs() == runs


def test_a_locked_out_address_writes_one_refusal_to_the_audit_log_not_one_per_try(tmp_path):
    """W1: every refused login (an address past login_max_failures) appended and fsynced an audit line, so any
    LAN client could fill the box's disk and wear its SD card without a password. One line per lockout."""
    web = {"enabled": True, "port": 0, "login_max_failures": 2, "login_window": 60}
    text = yaml.safe_dump(base_config(tmp_path / "state", 1883, web=web), sort_keys=False)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    write_hash(tmp_path / "state" / "web" / "password", PASSWORD)
    clock = FakeClock()
    service = WebService(Agent(path, text, parse_config(text)).face, clock).start()
    try:
        page = SimpleNamespace(url=service.server.url)
        statuses = [log_in(page, "wrong-password")[1].status_code for _ in range(2 + 20)]
        clock.advance(61)  # the window passes: a new lockout is a new line
        statuses += [log_in(page, "wrong-password")[1].status_code for _ in range(2 + 5)]
    finally:
        service.stop()
    assert statuses == [401, 401] + [429] * 20 + [401, 401] + [429] * 5
    lines = (tmp_path / "state" / "web" / "audit.jsonl").read_text().splitlines()
    actions = [json.loads(line)["action"] for line in lines]
    assert actions.count("login_failed") == 4 and actions.count("login_refused") == 2
