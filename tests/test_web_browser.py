"""The technician's page in a real browser (Debian's chromium, driven by selenium) against the real daemon.

One daemon (a looping file camera played in real time, a private mosquitto) and one headless
browser serve every test here, in order: log in, see a live image, drag a zone onto the people
and apply it (get-config shows it, an intrusion alert follows), a bad value shows its error and
applies nothing, a POST without the CSRF token is refused, the Actions section's Test runs an
action (a local HTTP server gets it, the record shows), live view switched off refuses images,
logging out ends the session, wrong passwords are rate-limited. Screenshots are saved under the
test's tmp dir; with EDGE_AGENT_DOCS_SCREENSHOTS=DIR the three in docs/ are written there too.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import cv2
import pytest
import yaml

from edge_agent.vision.models import fetch_model
from edge_agent.web.passwords import write_hash
from tests.support.assets import assets_dir, entrance_camera, model_path
from tests.support.broker import Mosquitto
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.http_target import HttpTarget
from tests.support.wait import wait_for

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

PASSWORD = "correct horse battery"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")
STRIP = [[0.02, 0.02], [0.98, 0.02], [0.98, 0.06], [0.02, 0.06]]  # along the top edge: nobody's feet are there
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
    if CHROMEDRIVER is None or not Path(CHROMIUM).exists():
        message = "chromium and chromium-driver are not installed (.ci/run installs them)"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    model_path()
    workdir = tmp_path_factory.mktemp("web-browser")
    models = workdir / "models"
    fetch_model("yolox_nano", models, mirror_dir=assets_dir())
    broker = Mosquitto(workdir / "broker").start()
    state = workdir / "state"
    write_hash(state / "web" / "password", PASSWORD)
    config = base_config(
        state,
        broker.port,
        detector={"models_dir": str(models), "threads": 1},
        cameras=[
            entrance_camera(
                zones={"door": {"points": STRIP}},
                lines={"entry": {"points": [[0.1, 0.8], [0.9, 0.8]], "in_side": [0.5, 0.95]}},
            )
        ],
        rules=[
            {
                "name": "after-hours",
                "type": "intrusion",
                "camera": "entrance",
                "zone": "door",
                "classes": ["person"],
                "min_dwell": 0.2,
                "cooldown": 0,
                "severity": "major",
            }
        ],
        actions=[{"name": "door-chime", "kind": "http", "url": f"{chime.url}/ok/chime", "remote": True}],
        commands={"confirm_timeout": 30},
        web={"enabled": True, "port": 0, "live_fps": 4, "login_max_failures": 3},
    )
    watcher = Watcher(broker.port)
    daemon = Daemon(workdir / "agent", config).start()
    try:
        watcher.wait_ready()
        yield workdir, daemon, watcher
    finally:
        code = daemon.stop()
        watcher.close()
        broker.stop()
        assert code == 0, daemon.log()[-3000:]


def page_url(daemon: Daemon, after: int = 0) -> str:
    """The page's address from the daemon's log (port 0: the kernel picked it); the newest after `after` lines."""

    def found():
        lines = daemon.log().splitlines()[after:]
        urls = [m.group(1) for line in lines for m in [re.search(r"served on (https?://[^ \"]+/)", line)] if m]
        return urls[-1] if urls else None

    return wait_for(found, timeout=30, message="the page's address in the log")


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1100,900",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


def screenshot(driver, directory: Path, name: str) -> Path:
    """Saved as a test artifact; also into EDGE_AGENT_DOCS_SCREENSHOTS, made small enough for the repo."""
    path = directory / f"{name}.png"
    driver.save_screenshot(str(path))
    docs = os.environ.get("EDGE_AGENT_DOCS_SCREENSHOTS")
    if docs:
        image = cv2.imread(str(path))
        scale = 900 / image.shape[1]
        small = cv2.resize(image, (900, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(Path(docs) / f"technician-{name}.png"), small, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


def text_of(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def table_rows(driver, table_id: str) -> list[str]:
    """Text of each data row (header left out), read in one step: the pages redraw their tables as they refresh."""
    return driver.execute_script(
        "return [...document.querySelectorAll(`#${arguments[0]} tr`)].slice(1).map((r) => r.innerText)", table_id
    )


def text_at(driver, selector: str) -> str | None:
    """Text of the first element matching `selector`, read in one step (the page re-renders its lists)."""
    return driver.execute_script("const n = document.querySelector(arguments[0]); return n && n.textContent", selector)


def log_in(driver, url: str, password: str = PASSWORD) -> None:
    driver.get(url)
    wait_for(lambda: driver.find_element(By.ID, "page-login").is_displayed(), timeout=10, message="the login form")
    field = driver.find_element(By.ID, "login-password")
    field.clear()
    field.send_keys(password)
    driver.find_element(By.ID, "login-button").click()


def fetch_status(driver, method: str, path: str, headers: dict | None = None) -> int:
    """What the page's own origin gets for a request made with the browser's cookies (not the page's JS)."""
    return driver.execute_async_script(
        """const [method, path, headers, done] = arguments;
        const init = {method, credentials: "same-origin", headers: {"Content-Type": "application/json", ...headers}};
        if (method !== "GET") init.body = "{}";
        fetch(path, init).then((r) => done(r.status), () => done(-1));""",
        method,
        path,
        headers or {},
    )


def test_log_in_and_see_the_overview(site, browser, shots):
    _, daemon, _ = site
    log_in(browser, page_url(daemon))

    def camera_row():
        return next((row for row in table_rows(browser, "ov-cameras") if row.startswith("entrance\tyes")), None)

    wait_for(camera_row, timeout=30, message="the camera online in the overview")
    assert "MQTT connected" in text_of(browser, "ov-summary")
    assert "edge_agent_session" not in browser.execute_script("return document.cookie")  # HttpOnly


def canvas_spread(driver, canvas_id: str) -> float:
    """Standard deviation of the canvas's grey levels (0 for a blank or single-colour picture)."""
    return driver.execute_script(
        """const c = document.getElementById(arguments[0]);
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let n = 0, sum = 0, sq = 0;
        for (let i = 0; i < d.length; i += 16) {
          const g = (d[i] + d[i + 1] + d[i + 2]) / 3; n++; sum += g; sq += g * g;
        }
        const mean = sum / n; return Math.sqrt(sq / n - mean * mean);""",
        canvas_id,
    )


def test_the_live_image_is_not_blank(site, browser):
    browser.get(browser.current_url.split("#")[0] + "#camera")
    wait_for(lambda: text_of(browser, "live-status") == "live", timeout=20, message="a live image")
    assert wait_for(lambda: canvas_spread(browser, "live-canvas") > 20, timeout=10, message="pixels that vary")
    size = browser.execute_script("const c = document.getElementById('live-canvas'); return [c.width, c.height];")
    assert size == [768, 432]  # the clip's own frame, drawn as it came
    rows = lambda: table_rows(browser, "line-counts")  # noqa: E731
    assert wait_for(lambda: any(row.startswith("entry\t") for row in rows()), timeout=10, message="live line counts")


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


def test_drag_a_zone_corner_and_apply_then_an_intrusion_follows(site, browser, shots):
    _, _, watcher = site
    browser.get(browser.current_url.split("#")[0] + "#edit")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#zones .zones-name"), timeout=10, message="the zones")
    canvas = browser.find_element(By.ID, "edit-canvas")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    wait_for(lambda: canvas_spread(browser, "edit-canvas") > 20, timeout=10, message="the picture under the zone")
    assert not [a for a in watcher.payloads("alerts/intrusion") if a["rule"] == "after-hours"]
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

    def intrusion():
        alerts = watcher.payloads("alerts/intrusion")
        return [a for a in alerts if a["rule"] == "after-hours" and a["phase"] == "start"]

    alert = wait_for(intrusion, timeout=90, message="an intrusion alert for a person now inside the zone")[0]
    assert alert["details"]["zone"] == "door" and alert["details"]["object_class"] == "person"
    assert alert["created_at"] >= time.strftime("%Y-%m-%dT%H:%M", time.gmtime(applied_at - 60))
    browser.get(browser.current_url.split("#")[0] + "#overview")
    rows = lambda: table_rows(browser, "ov-alerts")  # noqa: E731
    wait_for(lambda: any("intrusion" in row for row in rows()), timeout=10, message="the alert in the overview")
    screenshot(browser, shots, "overview")  # the docs' overview: with an alert in it


def test_a_bad_value_shows_its_error_next_to_the_field_and_applies_nothing(site, browser):
    _, daemon, watcher = site
    before = watcher.command("get-config")["result"]["config"]
    browser.get(browser.current_url.split("#")[0] + "#edit")
    selector = "input[data-path='rules[0].min_dwell']"
    field = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, selector), timeout=10, message="the rule")[0]
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


def test_add_rename_flip_and_remove_lines_and_zones_then_validate(site, browser):
    browser.find_element(By.ID, "reload-config").click()  # discard the bad value of the test before
    wait_for(lambda: text_at(browser, "[data-error-for='rules[0].min_dwell']") == "", timeout=5, message="discarded")
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
    browser.find_element(By.ID, "reload-config").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".zones-name[data-name='door']"), timeout=5)


def test_a_post_without_the_csrf_token_is_refused(site, browser):
    assert fetch_status(browser, "POST", "/api/validate") == 403  # the browser's own session cookie, no token
    token = browser.execute_script("return EA.session.csrf")
    assert fetch_status(browser, "POST", "/api/validate", {"X-CSRF-Token": token}) == 400  # past the check


def test_the_actions_section_lists_the_action_and_its_test_leaves_a_record(site, browser, chime, shots):
    browser.execute_script("location.hash = '#actions'")
    wait_for(lambda: text_at(browser, ".action[data-action='door-chime'] h2"), timeout=10, message="the action")
    assert text_at(browser, ".action[data-action='door-chime'] h2") == "door-chime (http)"
    browser.find_element(By.CSS_SELECTOR, ".action[data-action='door-chime'] button.test").click()
    wait_for(lambda: _accept_confirmation(browser), timeout=5, message="the confirmation")
    wait_for(lambda: chime.of_kind("ok"), timeout=20, message="the chime's request")
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


def test_with_the_live_view_switched_off_the_image_endpoint_refuses(site, browser):
    _, daemon, watcher = site
    document = yaml.safe_load(daemon.config_path.read_text())
    document["web"]["live_view"] = False
    lines_before = len(daemon.log().splitlines())
    # the page's settings are the local file's (docs/security.md): a SIGHUP reload, not a remote set-config
    assert daemon.reload_file(yaml.safe_dump(document), watcher)["last_reload"]["outcome"] == "applied"
    url = page_url(daemon, after=lines_before)  # a change of `web:` restarts the page's server
    log_in(browser, url)
    wait_for(lambda: fetch_status(browser, "GET", "/api/session") == 200, timeout=10, message="logged in again")
    assert fetch_status(browser, "GET", "/api/live/entrance") == 403
    browser.get(url + "#camera")
    wait_for(lambda: "disabled" in text_of(browser, "live-status"), timeout=10, message="the page says so")


def test_logging_out_ends_the_session(site, browser):
    browser.find_element(By.ID, "logout").click()
    wait_for(lambda: browser.find_element(By.ID, "page-login").is_displayed(), timeout=10, message="the login form")
    assert fetch_status(browser, "GET", "/api/overview") == 401


def test_wrong_passwords_are_rate_limited(site, browser):
    _, daemon, _ = site
    url = page_url(daemon)
    for attempt in range(3):
        log_in(browser, url, password=f"wrong guess {attempt}")
        wait_for(lambda: text_of(browser, "login-error"), timeout=10, message="a refusal")
        assert "wrong user or password" in text_of(browser, "login-error")
    log_in(browser, url)  # even the right one, now
    wait_for(lambda: "too many failed logins" in text_of(browser, "login-error"), timeout=10, message="rate limit")
    assert fetch_status(browser, "GET", "/api/overview") == 401
