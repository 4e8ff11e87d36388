"""The technician's page over real HTTP, against a real agent (in process) and a private mosquitto.

The browser tests (test_web_browser.py) drive the pages; these check the HTTP layer's promises
directly: the login wall, CSRF, rate limits, cookie flags, logout, the audit log, TLS, validation.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys

import httpx
import pytest
import yaml

from edge_agent.config import ConfigError, parse_config
from edge_agent.web.passwords import hash_password, read_hash, verify_password
from tests.support.broker import Mosquitto
from tests.support.daemon import ROOT, Watcher
from tests.support.wait import wait_for
from tests.support.web import PASSWORD, WebAgent, logged_in


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("web-http")
    broker = Mosquitto(workdir / "broker").start()
    platform = Watcher(broker.port)  # a subscriber, as a platform is: alerts are delivered (mqtt.retry_unrouted)
    running = WebAgent(
        workdir,
        broker.port,
        web={"enabled": True, "port": 0, "live_view": False, "login_max_failures": 3, "login_window": 2},
    )
    yield running
    running.stop()
    platform.close()
    broker.stop()


def test_everything_but_the_page_itself_needs_a_login(page):
    client = httpx.Client(base_url=page.url)
    assert client.get("/").status_code == 200  # the login form
    for path in ("/api/overview", "/api/config", "/api/alerts", "/api/live/entrance", "/api/session"):
        assert client.get(path).status_code == 401, path
    assert client.post("/api/apply", json={}).status_code == 401


def test_the_session_cookie_is_httponly_and_samesite_strict_and_logout_ends_it(page):
    client = httpx.Client(base_url=page.url)
    reply = client.post("/api/login", json={"password": PASSWORD})
    flags = [part.strip().lower() for part in reply.headers["set-cookie"].split(";")]
    assert "httponly" in flags and "samesite=strict" in flags
    assert "secure" not in flags  # plain HTTP on loopback; over TLS it is Secure (test_tls_...)
    token, csrf = client.cookies["edge_agent_session"], reply.json()["csrf"]
    assert client.get("/api/session").json()["csrf"] == csrf
    assert client.post("/api/logout", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    replayed = httpx.Client(base_url=page.url, cookies={"edge_agent_session": token})
    assert replayed.get("/api/overview").status_code == 401  # ended on the server, not only in the browser


def test_a_post_without_the_csrf_token_is_refused(page):
    client, csrf = logged_in(page)
    edit = {"edit": client.get("/api/config").json()["edit"]}
    assert client.post("/api/validate", json=edit).status_code == 403
    assert client.post("/api/validate", json=edit, headers={"X-CSRF-Token": "guess"}).status_code == 403
    foreign = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    assert client.post("/api/validate", json=edit, headers=foreign).status_code == 403
    assert client.post("/api/validate", json=edit, headers={"X-CSRF-Token": csrf}).json()["ok"] is True


def test_an_invalid_edit_names_the_field_and_applies_nothing(page):
    client, csrf = logged_in(page)
    config = client.get("/api/config").json()
    before = page.path.read_text()
    edit = {"cameras": [], "rules": [{"name": "r", "type": "intrusion", "camera": "nowhere", "zone": "z"}]}
    reply = client.post("/api/apply", json={"edit": edit, "digest": config["digest"]}, headers={"X-CSRF-Token": csrf})
    assert reply.status_code == 422
    paths = {error["path"] for error in reply.json()["errors"]}
    assert "rules[0].camera" in paths
    assert page.path.read_text() == before and page.agent.config.rules == []
    audit = [json.loads(line) for line in (page.path.parent / "state" / "web" / "audit.jsonl").read_text().splitlines()]
    last = audit[-1]
    assert last["action"] == "apply" and last["outcome"] == "invalid" and last["user"] == "technician"
    assert last["diff"] == [{"path": "rules[0]", "before": None, "after": edit["rules"][0]}]  # the changed keys only


def test_an_apply_against_a_config_changed_meanwhile_is_refused(page):
    client, csrf = logged_in(page)
    edit = client.get("/api/config").json()["edit"]
    reply = client.post("/api/apply", json={"edit": edit, "digest": "stale"}, headers={"X-CSRF-Token": csrf})
    assert reply.status_code == 409


def test_with_the_live_view_disabled_the_image_endpoint_refuses(page):
    client, _ = logged_in(page)
    reply = client.get("/api/live/entrance")
    assert reply.status_code == 403 and "disabled" in reply.json()["error"]


def test_the_alerts_page_filters_the_outbox_and_shows_delivery(page):
    client, _ = logged_in(page)
    page.agent.delivery.health.emit("config_rejected", "a health alert for the filters")

    def mine(query: str) -> list[dict]:
        found = client.get(f"/api/alerts?{query}").json()["alerts"]
        return [a for a in found if a["message"] == "a health alert for the filters"]

    alert = wait_for(lambda: mine("type=agent.health&phase=instant"), timeout=10, message="the alert")[0]
    assert alert["source"] == "device:dev-1" and alert["state"] in ("pending", "inflight", "delivered")
    assert wait_for(lambda: mine("type=agent.health")[0]["state"] == "delivered", timeout=10, message="delivered")
    assert mine("type=intrusion") == [] and mine("phase=start") == [] and mine("camera=entrance") == []
    assert mine("door=front") == []
    overview = client.get("/api/overview").json()
    assert overview["mqtt_connected"] is True and any(a["type"] == "agent.health" for a in overview["last_alerts"])


def test_wrong_passwords_are_rate_limited_and_counted(page):
    client = httpx.Client(base_url=page.url)
    statuses = [client.post("/api/login", json={"password": f"wrong {i}"}).status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    right = client.post("/api/login", json={"password": PASSWORD})
    assert right.status_code == 429  # even the right password, until the window has passed
    assert wait_for(
        lambda: client.post("/api/login", json={"password": PASSWORD}).status_code == 200, timeout=15, interval=0.5
    )
    counts = client.get("/api/overview").json()["web"]["logins"]
    assert counts["failed"] >= 3 and counts["refused"] >= 2 and counts["succeeded"] >= 1


def test_a_lan_address_needs_tls():
    document = {"device": {"id": "d", "site": "s"}, "web": {"enabled": True, "bind": "0.0.0.0"}}
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(document))
    assert caught.value.issues[0].path == "web" and "tls" in caught.value.issues[0].message


def test_passwd_writes_an_scrypt_hash_readable_by_the_owner_only(tmp_path):
    target = tmp_path / "password"
    run = [sys.executable, "-m", "edge_agent", "web", "passwd", "--file", str(target), "--stdin"]
    short = subprocess.run(run, input="short\n", capture_output=True, text=True, cwd=ROOT)
    assert short.returncode != 0 and not target.exists()
    done = subprocess.run(run, input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    stored = read_hash(target)
    assert stored.startswith("scrypt$") and PASSWORD not in stored and target.stat().st_mode & 0o077 == 0
    assert verify_password(PASSWORD, stored) and not verify_password(PASSWORD + "x", stored)
    assert hash_password(PASSWORD) != hash_password(PASSWORD)  # salted


def test_tls_serves_the_page_with_a_secure_cookie(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_agent",
            "web",
            "cert",
            "--cert",
            str(cert),
            "--key",
            str(key),
            "--name",
            "localhost",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert made.returncode == 0, made.stderr
    assert "SHA-256 fingerprint:" in made.stdout and key.stat().st_mode & 0o077 == 0
    broker = Mosquitto(tmp_path / "broker").start()
    tls = {"cert_file": str(cert), "key_file": str(key)}
    running = WebAgent(tmp_path, broker.port, web={"enabled": True, "port": 0, "tls": tls})
    try:
        assert running.url.startswith("https://")
        trust = ssl.create_default_context(cafile=str(cert))  # verification on: the pinned self-signed cert
        client = httpx.Client(base_url=running.url.replace("127.0.0.1", "localhost"), verify=trust)
        reply = client.post("/api/login", json={"password": PASSWORD})
        assert reply.status_code == 200
        assert "secure" in reply.headers["set-cookie"].lower()
        with pytest.raises(httpx.TransportError):  # and plain HTTP is not served
            httpx.get(running.url.replace("https://", "http://"), timeout=5)
    finally:
        running.stop()
        broker.stop()


def test_a_dead_server_is_started_again_by_the_keeper(page):
    first = page.web.server
    first.server.should_exit = True  # uvicorn returns from run(): the server thread ends
    wait_for(  # between the old server's stop and the new one's start `server` is briefly None
        lambda: page.web.restarts == 1 and page.web.server not in (None, first), timeout=10, message="a new server"
    )
    assert not first.alive() and page.web.server.alive()
    client, _ = logged_in(page)  # sessions were the old server's; a new login works
    assert client.get("/api/overview").status_code == 200
