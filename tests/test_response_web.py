"""The console's routes and the page's accounts under attack, over real HTTP against the real Agent and its page.

An operator (added by the real `edge-agent web user add`) reaches the console and nothing else: every technician
route answers 403 and changes nothing; the console's POSTs need the CSRF token; bad bodies are refused naming the
field; a disposition of an unknown event, twice, or out of order is refused and stores nothing; a snooze needs a
known rule and a reason. A new password for one user ends that user's sessions only; an unknown user name costs
the same scrypt derivation as a known one."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import httpx
import pytest

from edge_agent.web.app import api_routes
from edge_agent.web.passwords import scrypt_runs
from tests.support.actions import make_alert
from tests.support.daemon import ROOT
from tests.support.web import PASSWORD, WebAgent, logged_in

ZONE = {"room": {"points": [[0, 0], [1, 0], [1, 1], [0, 1]]}}
CONSOLE = {"/api/login", "/api/logout", "/api/session", "/api/console", "/api/console/dispose"}
CONSOLE |= {"/api/console/snooze", "/api/console/arm"}


def add_user(page: WebAgent, name: str, role: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "edge_agent", "web", "user", "add", name, "--role", role]
    command += ["--config", str(page.path), "--stdin"]
    return subprocess.run(command, input=password + "\n", capture_output=True, text=True, cwd=ROOT, timeout=60)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("console")
    camera = {"id": "entrance", "url": "rtsp://127.0.0.1:1/x", "enabled": False, "zones": ZONE}
    rule = {"name": "anyone", "type": "intrusion", "camera": "entrance", "zone": "room"}
    web = WebAgent(workdir, 1, cameras=[camera], rules=[rule], web={"enabled": True, "port": 0})
    done = add_user(web, "guard", "operator")
    assert done.returncode == 0, done.stderr
    yield web
    web.stop()


def operator(page: WebAgent, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=page.url, timeout=30)
    reply = client.post("/api/login", json={"user": "guard", "password": password})
    assert reply.status_code == 200 and reply.json()["role"] == "operator", reply.text
    return client, reply.json()["csrf"]


def test_the_users_file_is_private_and_bad_users_are_refused(page):
    users = page.path.parent / "state" / "web" / "users"
    assert stat.S_IMODE(users.stat().st_mode) == 0o600 and users.read_text().startswith("guard:operator:scrypt$")
    for name, role, password, words in [
        ("bad:name", "operator", PASSWORD, "user name 'bad:name'"),
        ("guard2", "root", PASSWORD, "invalid choice: 'root'"),
        ("guard2", "operator", "short", "at least 10 characters"),
    ]:
        done = add_user(page, name, role, password)
        assert done.returncode != 0 and words in done.stderr
    assert users.read_text().count("\n") == 1


def test_an_operator_reaches_the_console_and_nothing_else(page):
    client, csrf = operator(page)
    assert client.get("/api/session").json()["role"] == "operator"
    board = client.get("/api/console").json()
    assert set(board) == {"alerts", "doors", "response", "rules"} and board["rules"] == ["anyone"]
    text_before = page.agent.face.config_text
    for route in api_routes():
        if route.path in CONSOLE:
            continue
        path = route.path.replace("{camera_id}", "entrance").replace("{name}", "x")
        for method in sorted(route.methods - {"HEAD"}):
            body = {"edit": {"rules": []}} if method == "POST" else None
            answer = client.request(method, path, json=body, headers={"X-CSRF-Token": csrf})
            assert answer.status_code == 403 and "operator role cannot use this" in answer.json()["error"], path
    assert page.agent.face.config_text == text_before


def test_console_posts_need_the_token_and_well_formed_bodies(page):
    client, csrf = operator(page)
    headers = {"X-CSRF-Token": csrf}
    assert client.post("/api/console/snooze", json={"rule": "anyone", "minutes": 5, "reason": "x"}).status_code == 403
    for path, body, words in [
        ("/api/console/dispose", {"event_id": "e", "state": "closed"}, "state"),
        ("/api/console/dispose", {"event_id": "e", "state": "resolved", "by": "mallory"}, "by: unknown key"),
        ("/api/console/dispose", {"event_id": "e", "state": "resolved", "note": "n" * 501}, "note"),
        ("/api/console/snooze", {"rule": "anyone", "minutes": 0, "reason": "x"}, "minutes"),
        ("/api/console/snooze", {"rule": "anyone", "minutes": 5}, "reason: Field required"),
        ("/api/console/arm", ["anyone"], "Input should be a valid dictionary"),
    ]:
        answer = client.post(path, json=body, headers=headers)
        assert answer.status_code == 400 and words in answer.json()["error"], (path, answer.text)
    unknown = client.post("/api/console/snooze", json={"rule": "nobody", "minutes": 5, "reason": "x"}, headers=headers)
    assert unknown.status_code == 409 and "unknown target 'rule:nobody'" in unknown.json()["error"]
    assert client.get("/api/console").json()["response"]["snoozed"] == {}


def test_dispositions_from_the_console_are_checked_like_remote_ones(page):
    client, csrf = operator(page)
    headers = {"X-CSRF-Token": csrf}
    alert = make_alert(rule="anyone")
    page.agent.delivery.sink.emit(alert)  # as a rule would: the real sink, outbox and state store
    assert alert.event_id in [a["event_id"] for a in client.get("/api/console").json()["alerts"]]
    ok = client.post(
        "/api/console/dispose", json={"event_id": alert.event_id, "state": "acknowledged"}, headers=headers
    )
    assert ok.status_code == 200 and ok.json()["disposition"]["by"] == "guard"
    for event_id, state, outcome in [
        (alert.event_id, "acknowledged", "duplicate"),
        ("0190aaaa-0000-7000-8000-000000000000", "resolved", "unknown_event"),
    ]:
        refused = client.post("/api/console/dispose", json={"event_id": event_id, "state": state}, headers=headers)
        assert refused.status_code == 409 and refused.json()["result"]["outcome"] == outcome
    client.post("/api/console/dispose", json={"event_id": alert.event_id, "state": "resolved"}, headers=headers)
    late = client.post(
        "/api/console/dispose", json={"event_id": alert.event_id, "state": "dispatched"}, headers=headers
    )
    assert late.status_code == 409 and late.json()["result"]["outcome"] == "out_of_order"
    assert alert.event_id not in [a["event_id"] for a in client.get("/api/console").json()["alerts"]]
    rows = page.agent.face.recent_messages(50)
    states = [json.loads(row.payload)["state"] for row in rows if row.topic.endswith("/dispositions")]
    assert states == ["resolved", "acknowledged"]  # newest first: the refusals stored nothing


def test_a_new_password_ends_only_that_users_sessions(page):
    technician, _ = logged_in(page)
    guard, _ = operator(page)
    runs = scrypt_runs()
    stranger = httpx.Client(base_url=page.url, timeout=30).post("/api/login", json={"user": "nobody", "password": "x"})
    assert stranger.status_code == 401 and scrypt_runs() - runs == 1  # an unknown name pays the same derivation
    assert add_user(page, "guard", "operator", "another long password").returncode == 0
    assert guard.get("/api/console").status_code == 401
    assert technician.get("/api/console").status_code == 200 and technician.get("/api/overview").status_code == 200
    again, _ = operator(page, "another long password")
    command = [sys.executable, "-m", "edge_agent", "web", "user"]
    where = ["--config", str(page.path)]
    listed = subprocess.run([*command, "list", *where], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert listed.stdout == "guard\toperator\n"
    removed = subprocess.run(
        [*command, "remove", "guard", *where], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert removed.returncode == 0 and again.get("/api/console").status_code == 401  # a removed user's sessions end
    add_user(page, "guard", "operator")
