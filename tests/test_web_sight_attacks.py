"""GET /api/sight/{camera} (the live view's overlay: what the detector sees) under attack, against the real daemon.

What an attacker would try: no session, another site's page reading it (DNS rebinding's foreign Host, a CORS read),
hostile camera ids (traversal, NUL, 10 kB, non-ASCII, a query), asking faster than web.live_fps, a method it does
not take. Each gets a clear 4xx naming the problem, no traceback, and the daemon goes on serving. The overlay is
never kept: nothing of it reaches the state directory. The live view switched off refuses it (test_web_attacks.py's
page has it off: test_the_overlay_is_refused_with_the_live_view_off there).
"""

from __future__ import annotations

import pytest

from tests.support.broker import Mosquitto
from tests.support.wait import wait_for
from tests.support.web_daemon import PageDaemon

# a camera that is configured but not running: the overlay answers 503 for it, never a traceback
OFF_CAMERA = {"id": "gate", "url": "rtsp://192.0.2.10:554/stream1", "enabled": False}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("web-sight")
    broker = Mosquitto(workdir / "broker").start()
    running = PageDaemon(workdir, broker.port, {"cameras": [OFF_CAMERA]}, live_fps=1, login_max_failures=20)
    yield running
    code = running.stop()
    broker.stop()
    log = running.log()
    assert code == 0 and "Traceback" not in log, log[-3000:]


def test_without_a_session_the_overlay_is_refused(page):
    reply = page.client().get("/api/sight/gate")
    assert reply.status_code == 401 and reply.json()["error"] == "log in first"


def test_another_site_cannot_read_it(page):
    client, _ = page.logged_in()
    rebound = client.get("/api/sight/gate", headers={"Host": "attacker.example"})
    assert rebound.status_code == 421  # DNS rebinding: a foreign name for our address
    cross = client.get("/api/sight/gate", headers={"Origin": "https://attacker.example"})
    assert "access-control-allow-origin" not in cross.headers  # no CORS: a foreign page cannot read the answer
    assert cross.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "camera",
    ["gate%00", "x" * 10_000, "%E6%91%84%E5%83%8F%E5%A4%B4", "gate%3Fq%3D1", "%2e%2e"],
)
def test_a_hostile_camera_id_gets_a_404_naming_no_such_camera(page, camera):
    client, _ = page.logged_in()
    reply = client.get(f"/api/sight/{camera}")
    assert reply.status_code == 404, (camera[:40], reply.status_code, reply.text[:200])
    assert reply.json()["error"].startswith("no camera ")


def test_a_traversal_reaches_no_route_and_no_file(page):
    client, _ = page.logged_in()
    for path in ("/api/sight/..%2F..%2Fetc%2Fpasswd", "/api/sight/../../etc/passwd", "/api/sight/gate/../../x"):
        reply = client.get(path)
        assert reply.status_code == 404 and "root:" not in reply.text, (path, reply.status_code)


def test_a_camera_that_does_not_run_answers_503_and_asking_too_fast_429(page):
    client, _ = page.logged_in()
    reply = client.get("/api/sight/gate")
    assert reply.status_code == 503 and reply.json()["error"] == "camera 'gate' is not running"
    again = client.get("/api/sight/gate")  # at live_fps 1, at once: too soon
    assert again.status_code == 429 and again.json()["retry_after"] > 0
    assert "at most web.live_fps" in again.json()["error"]
    image = client.get("/api/live/gate")  # the image has a pace of its own: the overlay did not use it up
    assert image.status_code == 503


def test_only_get_is_taken_and_nothing_is_kept(page):
    client, csrf = page.logged_in()
    assert client.post("/api/sight/gate", headers={"X-CSRF-Token": csrf}, json={}).status_code == 405
    wait_for(lambda: client.get("/api/sight/gate").status_code == 503, timeout=5, message="the overlay answered")
    kept = [p.name for p in page.state.rglob("*") if p.is_file() and "sight" in p.name]
    assert kept == []
    assert client.get("/api/session").status_code == 200  # still serving
