"""The guards' console in a real browser against the real daemon, with the uplink down.

An intrusion starts the siren (a real local HTTP server); nobody answers, so after `escalate.after` (2 s) the box
escalates on its own: the louder siren runs and `alert.unanswered` is stored, with no broker at all. A guard (the
`operator` role) logs in, sees the open alert with its age and source, acknowledges it: the siren's stop runs,
and the escalation is over. The operator cannot reach the technician's pages or APIs (403 for every one, the
tabs hidden, the address of a technician page shows the console). When the broker comes up the disposition
made on the box goes out. Screenshots go to the test's tmp dir, and with EDGE_AGENT_DOCS_SCREENSHOTS=DIR to
docs/ (docs/response.md).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import cv2
import pytest

from edge_agent.clock import parse_utc
from edge_agent.web.accounts import add_user
from edge_agent.web.app import api_routes
from edge_agent.web.passwords import write_hash
from tests.support.broker import Mosquitto, free_port
from tests.support.browser import chromium, fetch_status, page_url, table_rows
from tests.support.daemon import Daemon, Watcher
from tests.support.wait import wait_for
from tests.test_daemon_actions import models_dir  # noqa: F401  (a fixture)
from tests.test_response_daemon import siren_config

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402

PASSWORD = "correct horse battery"
pytestmark = pytest.mark.slow


@pytest.fixture
def browser():
    with chromium() as driver:  # a fresh headless chromium of its own (tests/support/browser.py)
        yield driver


def screenshot(driver, directory: Path, name: str) -> None:
    path = directory / f"{name}.png"
    driver.save_screenshot(str(path))
    docs = os.environ.get("EDGE_AGENT_DOCS_SCREENSHOTS")
    if docs:
        image = cv2.imread(str(path))
        scale = 900 / image.shape[1]
        small = cv2.resize(image, (900, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(Path(docs) / f"response-{name}.png"), small, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def outbox(state_dir: Path) -> list[tuple[str, dict, str]]:
    try:
        with sqlite3.connect(f"file:{state_dir / 'outbox.db'}?mode=ro", uri=True) as connection:
            rows = connection.execute("SELECT topic, payload, state FROM outbox ORDER BY seq").fetchall()
    except sqlite3.Error:
        return []
    return [(topic, json.loads(payload), state) for topic, payload, state in rows]


def of_type(state_dir: Path, suffix: str) -> list[dict]:
    return [payload for topic, payload, _ in outbox(state_dir) if topic.endswith(suffix)]


def test_escalation_with_the_uplink_down_stopped_from_the_console(tmp_path, models_dir, target, browser):  # noqa: F811
    state = tmp_path / "state"
    port = free_port()  # nothing listens there until the end: the uplink is down
    config = siren_config(state, port, models_dir, target.url, escalate={"after": 2, "actions": ["siren-loud"]})
    config["actions"].append({"name": "siren-loud", "kind": "http", "url": f"{target.url}/ok/siren-loud"})
    config["web"] = {"enabled": True, "port": 0}
    write_hash(state / "web" / "password", PASSWORD)
    add_user(state / "web" / "password", "guard-li", "operator", PASSWORD)
    daemon = Daemon(tmp_path / "agent", config).start()
    broker = None
    try:
        wait_for(lambda: target.of_kind("ok"), timeout=90, message="the siren started by the intrusion")
        unanswered = wait_for(lambda: of_type(state, "/alerts/alert.unanswered"), timeout=30, message="escalation")[0]
        starts = {a["event_id"]: a for a in of_type(state, "/alerts/intrusion") if a["phase"] == "start"}
        start = starts[unanswered["details"]["extra"]["unanswered_event_id"]]
        assert parse_utc(unanswered["created_at"]) - parse_utc(start["created_at"]) >= 2.0  # not before `after`
        assert unanswered["details"]["extra"]["actions"] == ["siren-loud"]
        wait_for(lambda: _paths(target, "siren-loud"), message="the louder siren")

        _log_in(browser, page_url(daemon), "guard-li")
        button = f"button.dispose[data-state=acknowledged][data-event='{start['event_id']}']"
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, button), timeout=15, message="the alert's buttons")
        row = next(r for r in table_rows(browser, "console-alerts") if "camera:entrance" in r)
        assert "intrusion" in row and "major" in row and "night" in row and "escalated" in row
        screenshot(browser, tmp_path, "console-open")
        browser.find_element(By.CSS_SELECTOR, button).click()
        wait_for(lambda: _paths(target, "siren-off"), message="the siren's stop")
        assert _paths(target, "siren-off") == ["/ok/siren-off/acknowledged"]
        wait_for(lambda: "Done." in browser.find_element(By.ID, "console-result").text, message="the answer")
        screenshot(browser, tmp_path, "console-acknowledged")
        disposition = of_type(state, "/dispositions")[0]
        assert disposition["by"] == "guard-li" and disposition["origin"] == "console"
        assert disposition["alert_event_id"] == start["event_id"]

        _operator_is_kept_out(browser)

        broker = Mosquitto(tmp_path / "broker", port=port).start()  # the uplink comes back
        watcher = Watcher(port)
        try:
            watcher.wait_ready()
            wait_for(
                lambda: [s for t, p, s in outbox(state) if t.endswith("/dispositions")] == ["delivered"],
                timeout=30,
                message="the console's disposition sent once the uplink is back",
            )
        finally:
            watcher.close()
    finally:
        code = daemon.stop()
        if broker is not None:
            broker.stop()
    assert code == 0, daemon.log()[-3000:]


def _operator_is_kept_out(browser) -> None:
    """Every technician route answers the operator 403 (with the session's CSRF token, from the page's origin);
    the technician's tabs are hidden, and a technician page's address shows the console."""
    csrf = browser.execute_script("return EA.session.csrf")
    console = {"/api/session", "/api/logout", "/api/console", "/api/console/dispose", "/api/console/snooze"}
    console |= {"/api/console/arm", "/api/login"}
    for route in api_routes():
        if route.path in console:
            continue
        path = route.path.replace("{camera_id}", "entrance").replace("{name}", "siren")
        for method in sorted(route.methods - {"HEAD"}):
            assert fetch_status(browser, method, path, {"X-CSRF-Token": csrf}) == 403, (method, path)
    visible = browser.execute_script(
        "return [...document.querySelectorAll('header nav a')].filter((a) => !a.hidden).map((a) => a.id)"
    )
    assert visible == ["tab-console"]
    browser.execute_script("location.hash = '#edit'")
    wait_for(lambda: browser.find_element(By.ID, "page-console").is_displayed(), message="the console, not edit")
    assert not browser.find_element(By.ID, "page-edit").is_displayed()


def _log_in(driver, url: str, user: str) -> None:
    driver.get(url)
    wait_for(lambda: driver.find_element(By.ID, "page-login").is_displayed(), timeout=10, message="the login form")
    name = driver.find_element(By.ID, "login-user")
    name.clear()
    name.send_keys(user)
    driver.find_element(By.ID, "login-password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-button").click()
    wait_for(lambda: driver.find_element(By.ID, "page-console").is_displayed(), timeout=10, message="the console")


def _paths(target, name: str) -> list[str]:
    return [request.path.split("?")[0] for request in target.of_kind("ok") if f"/{name}" in request.path]
