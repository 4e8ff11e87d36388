"""The technician's page in a real browser (Debian's chromium, driven by selenium) against the real daemon, at a desk.

One daemon (a looping file camera played in real time, a private mosquitto) serves this module; every test has a
browser of its own (fresh profile, fresh session) and logs in itself, and a test that changes the config puts the
file it started with back (`restored`), so each runs alone (`pytest -k NAME`) or in any order. The wrong-password
test locks its address out, so it has a page daemon of its own. What is shown: login shows only the login, the
overview, a live image, what the detector sees over it (boxes, track ids, trails, zone occupancy), a dragged zone
applied (an intrusion follows), a bad value's error beside its field, every rule threshold in a form generated from
the schema, the unsaved mark and the leave warning, CSRF, the Actions section's Test, the live view switched off,
logging out, and the login rate limit. Screenshots at 1280 px are saved under the test's tmp dir; with
EDGE_AGENT_DOCS_SCREENSHOTS=DIR the ones in docs/technician.md are written there too. The phone: test_web_phone.py.
"""

from __future__ import annotations

import time

import pytest
import yaml

from tests.support.broker import Mosquitto
from tests.support.browser import (
    STRIP,
    canvas_spread,
    chromium,
    fetch_json,
    fetch_status,
    go,
    log_in,
    page_url,
    require_chromium,
    restored,
    screenshot,
    start_site,
    table_rows,
    text_at,
    text_of,
)
from tests.support.http_target import HttpTarget
from tests.support.wait import wait_for
from tests.support.web_daemon import PageDaemon

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chime():
    """The LAN device the page's Actions section tests: a real local HTTP server."""
    server = HttpTarget()
    yield server
    server.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory, chime):
    """A private broker, the daemon on a looping clip with its page on a free port, a watcher."""
    require_chromium()
    broker, daemon, watcher = start_site(tmp_path_factory.mktemp("web-browser"), chime.url)
    try:
        watcher.wait_ready()
        yield daemon, watcher
    finally:
        code = daemon.stop()
        watcher.close()
        broker.stop()
        assert code == 0, daemon.log()[-3000:]


@pytest.fixture
def browser(site):
    """A fresh browser, logged in to the site's page."""
    with chromium() as driver:
        log_in(driver, page_url(site[0]))
        yield driver


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


def test_before_login_only_the_login_shows_then_the_overview(site):
    with chromium() as driver:
        driver.get(page_url(site[0]))
        wait_for(lambda: driver.find_element(By.ID, "page-login").is_displayed(), timeout=10, message="the login")
        assert not driver.find_element(By.ID, "nav").is_displayed()  # no tabs, no Log out
        assert not driver.find_element(By.ID, "logout").is_displayed()
        log_in(driver, driver.current_url)

        def camera_row():
            return next((row for row in table_rows(driver, "ov-cameras") if row.startswith("entrance\tyes")), None)

        wait_for(camera_row, timeout=30, message="the camera online in the overview")
        assert driver.find_element(By.ID, "logout").is_displayed()
        assert "MQTT connected" in text_of(driver, "ov-summary")
        assert "edge_agent_session" not in driver.execute_script("return document.cookie")  # HttpOnly


def test_the_live_image_is_not_blank(browser):
    go(browser, "camera")
    wait_for(lambda: text_of(browser, "live-status") == "live", timeout=20, message="a live image")
    assert wait_for(lambda: canvas_spread(browser, "live-canvas") > 20, timeout=10, message="pixels that vary")
    size = browser.execute_script("const c = document.getElementById('live-canvas'); return [c.width, c.height];")
    assert size == [768, 432]  # the clip's own frame, drawn as it came
    rows = lambda: table_rows(browser, "line-counts")  # noqa: E731
    assert wait_for(lambda: any(row.startswith("entry\t") for row in rows()), timeout=10, message="live line counts")


def overlay_pixels(driver) -> int:
    """Pixels of the canvas in the overlay's track green (#00ff00, annotate.py's)."""
    return driver.execute_script(
        """const c = document.getElementById("live-canvas");
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] < 40 && d[i + 1] > 220 && d[i + 2] < 40) n++;
        return n;"""
    )


def test_the_overlay_shows_the_detectors_boxes_track_ids_trails_and_zone_occupancy(browser, shots):
    go(browser, "camera")
    wait_for(lambda: text_of(browser, "live-status") == "live", timeout=20, message="a live image")

    def tracked():  # the page asks for the overlay too: an answer of 429 (too soon) is asked again
        sight = fetch_json(browser, "/api/sight/entrance") or {}
        return sight if [t for t in sight.get("tracks", []) if len(t["trail"]) > 1] else None

    sight = wait_for(tracked, timeout=60, message="a tracked person with a trail on the entrance clip")
    track = sight["tracks"][0]
    assert track["label"] == f"#{track['id']} person {track['score']:.2f}"  # annotate.py's own label
    assert sight["detections"] and all(0 <= v <= 1 for d in sight["detections"] for v in d["box"])
    assert set(sight["occupancy"]) == {"door", "hall"} and sight["motion"]["enabled"] is True
    without = overlay_pixels(browser)  # off until toggled (only anti-aliased edges of other marks come near it)
    browser.find_element(By.ID, "overlay-toggle").click()
    wait_for(lambda: overlay_pixels(browser) > without + 300, timeout=20, message="track boxes drawn over the image")
    wait_for(lambda: "tracks" in text_of(browser, "overlay-legend"), timeout=10, message="the legend")
    occupied = wait_for(
        lambda: [r for r in table_rows(browser, "zone-occupancy") if r.startswith("hall\t") and r != "hall\t0"],
        timeout=60,
        message="people inside the hall zone",
    )
    assert int(occupied[0].split("\t")[1]) >= 1
    screenshot(browser, shots, "overlay-1280")


def drag(driver, canvas, start: list[float], end: list[float]) -> None:
    """Press on a normalized point of the canvas, move to another, release (real mouse events)."""
    width, height = canvas.size["width"], canvas.size["height"]

    def offset(point):  # selenium 4 measures offsets from the element's centre
        return round((point[0] - 0.5) * width), round((point[1] - 0.5) * height)

    actions = ActionChains(driver)
    actions.move_to_element_with_offset(canvas, *offset(start)).click_and_hold()
    for step in (0.3, 0.6, 1.0):
        actions.move_to_element_with_offset(
            canvas, *offset([start[0] + (end[0] - start[0]) * step, start[1] + (end[1] - start[1]) * step])
        )
    actions.release().perform()


def open_edit(driver):
    go(driver, "edit")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#zones .zones-name"), timeout=10, message="the zones")
    canvas = driver.find_element(By.ID, "edit-canvas")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    return canvas


def test_drag_a_zone_corner_and_apply_then_an_intrusion_follows(site, browser, shots):
    daemon, watcher = site
    with restored(daemon, watcher):
        canvas = open_edit(browser)
        wait_for(lambda: canvas_spread(browser, "edit-canvas") > 20, timeout=10, message="the picture under the zone")
        drag(browser, canvas, STRIP[2], [0.98, 0.97])
        drag(browser, canvas, STRIP[3], [0.02, 0.97])
        edited = browser.execute_script("return EA.pages.edit.camera().zones.door.points")
        assert edited[0] == STRIP[0] and edited[2][1] > 0.9 and edited[3][1] > 0.9, edited
        screenshot(browser, shots, "zone-edit")
        applied_at = time.time()
        browser.find_element(By.ID, "apply").click()
        wait_for(lambda: text_of(browser, "edit-result").startswith("applied"), timeout=90, message="applied")
        moved = f"cameras[0].zones.door.points[2]: [0.98, 0.06] → [{edited[2][0]}, {edited[2][1]}]"
        assert moved in text_of(browser, "diff").splitlines()  # the changed keys, shown before applying
        assert fetch_status(browser, "GET", "/api/session") == 200  # the reload kept the page and its session
        zone = watcher.command("get-config")["result"]["config"]["cameras"][0]["zones"]["door"]["points"]
        assert zone == [pytest.approx(point, abs=0.015) for point in edited]
        since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(applied_at))

        def intrusion():
            alerts = watcher.payloads("alerts/intrusion")
            return [
                a for a in alerts if a["rule"] == "after-hours" and a["phase"] == "start" and a["created_at"] >= since
            ]

        alert = wait_for(intrusion, timeout=90, message="an intrusion alert for a person now inside the zone")[0]
        assert alert["details"]["zone"] == "door" and alert["details"]["object_class"] == "person"
        go(browser, "overview")
        rows = lambda: table_rows(browser, "ov-alerts")  # noqa: E731
        wait_for(lambda: any("intrusion" in row for row in rows()), timeout=10, message="the alert in the overview")
        screenshot(browser, shots, "overview")  # the docs' overview: with an alert in it


def test_a_bad_value_shows_its_error_next_to_the_field_and_applies_nothing(site, browser):
    daemon, watcher = site
    before = watcher.command("get-config")["result"]["config"]
    open_edit(browser)
    field = browser.find_element(By.CSS_SELECTOR, "input[data-path='rules[0].min_dwell']")
    field.clear()
    field.send_keys("soon")
    browser.find_element(By.ID, "validate").click()  # the click blurs the field: its change is in the edit
    note = browser.find_element(By.CSS_SELECTOR, "[data-error-for='rules[0].min_dwell']")
    wait_for(lambda: note.text, timeout=10, message="an error next to the field")
    assert "number" in note.text and "soon" in note.text
    assert field.find_element(By.XPATH, "following-sibling::span").text == note.text  # beside its own input
    browser.find_element(By.ID, "apply").click()
    wait_for(lambda: "nothing was applied" in text_of(browser, "edit-result"), timeout=10, message="refused")
    assert watcher.command("get-config")["result"]["config"] == before
    assert "min_dwell: soon" not in daemon.config_path.read_text()


def test_every_rule_threshold_has_a_field_from_the_schema_with_its_range_and_error(site, browser):
    open_edit(browser)
    paths = browser.execute_script(
        "return [...document.querySelectorAll('.rule [data-path]')].map((n) => n.dataset.path)"
    )
    for key in ("min_score", "min_area", "clear_after", "schedule", "cooldown", "min_dwell", "enabled", "severity"):
        assert f"rules[0].{key}" in paths  # the intrusion rule's fields, none written in the page's code
    more = browser.find_element(By.CSS_SELECTOR, ".rule details.more")
    more.find_element(By.TAG_NAME, "summary").click()
    score = browser.find_element(By.CSS_SELECTOR, "input[data-path='rules[0].min_score']")
    assert "0 – 1" in score.find_element(By.XPATH, "..").get_attribute("title") + text_at(
        browser, "input[data-path='rules[0].min_score'] ~ small.help"
    )
    score.send_keys("1.5")
    browser.find_element(By.ID, "validate").click()
    note = lambda: text_at(browser, "[data-error-for='rules[0].min_score']")  # noqa: E731
    assert "1" in wait_for(note, timeout=10, message="the range error beside min_score")
    score.send_keys(Keys.CONTROL, "a")
    score.send_keys("0.4\t")
    browser.find_element(By.ID, "validate").click()
    wait_for(lambda: text_of(browser, "edit-result") == "valid", timeout=10, message="valid")  # not "validating…"
    assert "+ rules[0].min_score: 0.4" in text_of(browser, "diff").splitlines()


def test_an_edit_shows_the_unsaved_mark_and_leaving_warns(browser):
    canvas = open_edit(browser)
    assert not browser.find_element(By.ID, "unsaved").is_displayed()
    leave = (
        "const e = new Event('beforeunload', {cancelable: true}); window.dispatchEvent(e); return e.defaultPrevented"
    )
    assert browser.execute_script(leave) is False
    drag(browser, canvas, STRIP[2], [0.9, 0.5])
    assert browser.find_element(By.ID, "unsaved").is_displayed()
    assert "dirty" in browser.find_element(By.ID, "tab-edit").get_attribute("class")
    assert browser.execute_script(leave) is True  # the browser asks before the edit is lost
    browser.find_element(By.ID, "reload-config").click()  # discard
    wait_for(lambda: not browser.find_element(By.ID, "unsaved").is_displayed(), timeout=10, message="clean again")


def test_add_rename_flip_and_remove_lines_and_zones_then_validate(browser):
    open_edit(browser)
    browser.find_element(By.ID, "add-line").click()
    name = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".lines-name[data-name='line-1']"), timeout=5)[0]
    name.send_keys(Keys.CONTROL, "a")  # (clear() would fire a change event of its own)
    name.send_keys("exit\t")  # the change event renames it
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".lines-name[data-name='exit']"), timeout=5)
    lines = "return EA.pages.edit.camera().lines"
    before = browser.execute_script(lines)["exit"]["in_side"]
    browser.find_element(By.CSS_SELECTOR, "[data-path$='.lines.exit'] .flip-line").click()
    after = browser.execute_script(lines)["exit"]["in_side"]
    assert after[1] < 0.5 < before[1]  # mirrored across the horizontal line at y = 0.5
    browser.find_element(By.ID, "add-zone").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".zones-name[data-name='zone-1']"), timeout=5)
    browser.find_element(By.CSS_SELECTOR, "[data-path$='.zones.door'] .remove-zones").click()
    browser.find_element(By.ID, "validate").click()
    wait_for(lambda: "not valid" in text_of(browser, "edit-result"), timeout=10, message="the rule lost its zone")
    assert "no zone 'door'" in text_at(browser, "[data-error-for='rules[0].zone']")
    diff = text_of(browser, "diff")
    assert "+ cameras[0].lines.exit: {points: " in diff and "+ cameras[0].zones.zone-1: {points: " in diff
    assert "- cameras[0].zones.door: {points: [[0.02, 0.02], " in diff


def test_a_post_without_the_csrf_token_is_refused(browser):
    assert fetch_status(browser, "POST", "/api/validate") == 403  # the browser's own session cookie, no token
    token = browser.execute_script("return EA.session.csrf")
    assert fetch_status(browser, "POST", "/api/validate", {"X-CSRF-Token": token}) == 400  # past the check


def test_the_actions_section_lists_the_action_and_its_test_leaves_a_record(browser, chime, shots):
    go(browser, "actions")
    wait_for(lambda: text_at(browser, ".action[data-action='door-chime'] h2"), timeout=10, message="the action")
    assert text_at(browser, ".action[data-action='door-chime'] h2") == "door-chime (http)"
    asked = len(chime.of_kind("ok"))
    browser.find_element(By.CSS_SELECTOR, ".action[data-action='door-chime'] button.test").click()
    wait_for(lambda: _accept_confirmation(browser), timeout=5, message="the confirmation")
    wait_for(lambda: len(chime.of_kind("ok")) > asked, timeout=20, message="the chime's request")
    records = lambda: browser.execute_script(  # noqa: E731
        "return [...document.querySelectorAll(`.action[data-action='door-chime'] .action-records tr`)]"
        ".slice(1).map((r) => r.innerText)"
    )
    row = wait_for(lambda: [r for r in records() if "technician\tok" in r], timeout=15, message="the record")[0]
    assert "pending" in row or "delivered" in row
    assert "outcome: ok" in text_at(browser, ".action[data-action='door-chime'] .action-output")
    screenshot(browser, shots, "actions")


def _accept_confirmation(driver) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        driver.switch_to.alert.accept()
        return True
    except NoAlertPresentException:
        return False


def test_with_the_live_view_switched_off_the_image_and_overlay_endpoints_refuse(site):
    daemon, watcher = site
    with restored(daemon, watcher), chromium() as driver:
        document = yaml.safe_load(daemon.config_path.read_text())
        document["web"]["live_view"] = False
        lines_before = len(daemon.log().splitlines())
        # the page's settings are the local file's (docs/security.md): a SIGHUP reload, not a remote set-config
        assert daemon.reload_file(yaml.safe_dump(document), watcher)["last_reload"]["outcome"] == "applied"
        url = page_url(daemon, after=lines_before)  # a change of `web:` restarts the page's server
        log_in(driver, url)
        assert fetch_status(driver, "GET", "/api/live/entrance") == 403
        assert fetch_status(driver, "GET", "/api/sight/entrance") == 403
        go(driver, "camera")
        wait_for(lambda: "disabled" in text_of(driver, "live-status"), timeout=10, message="the page says so")
    page_url(daemon)  # restored: served again


def test_logging_out_ends_the_session(browser):
    browser.find_element(By.ID, "logout").click()
    wait_for(lambda: browser.find_element(By.ID, "page-login").is_displayed(), timeout=10, message="the login form")
    assert not browser.find_element(By.ID, "nav").is_displayed()
    assert fetch_status(browser, "GET", "/api/overview") == 401


def test_wrong_passwords_are_rate_limited(tmp_path):
    require_chromium()
    broker = Mosquitto(tmp_path / "broker").start()
    page = PageDaemon(tmp_path, broker.port, login_max_failures=3)  # its own: the lock-out is per address
    try:
        with chromium() as driver:
            for attempt in range(3):
                log_in(driver, page.url, password=f"wrong guess {attempt}", wait=False)
                wait_for(lambda: text_of(driver, "login-error"), timeout=10, message="a refusal")
                assert "wrong user or password" in text_of(driver, "login-error")
            log_in(driver, page.url, wait=False)  # even the right one, now
            wait_for(lambda: "too many failed logins" in text_of(driver, "login-error"), timeout=10, message="limit")
            assert fetch_status(driver, "GET", "/api/overview") == 401
    finally:
        assert page.stop() == 0
        broker.stop()
