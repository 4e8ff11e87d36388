"""The page in a real browser (Debian's chromium through selenium): login shows only the login, the zh-CN page has no
English left, the Logs page filters by level, times show the site's offset.

Each test opens a fresh browser session of its own and changes no config, so each runs alone
(`pytest -k NAME`); the daemon (a looping clip, a private broker, the site in Asia/Shanghai) is the module's and
starts for whichever test comes first. With EDGE_AGENT_DOCS_SCREENSHOTS=DIR the zh-CN overview is saved there at
390 px and 1280 px (docs/technician.md).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import pytest

from edge_agent.vision.models import fetch_model
from edge_agent.web.passwords import write_hash
from tests.support.assets import assets_dir, entrance_camera, model_path
from tests.support.broker import Mosquitto
from tests.support.browser import PASSWORD, chromium, log_in, page_url, require_chromium
from tests.support.daemon import Daemon, base_config
from tests.support.wait import wait_for

pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By

# Latin words the zh-CN page may show: names and units, not words of the page
NAMES = {"edge-agent", "MQTT", "HTTP", "English", "fps", "ms"}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_chromium()
    model_path()
    workdir = tmp_path_factory.mktemp("web-i18n-browser")
    models = workdir / "models"
    fetch_model("yolox_nano", models, mirror_dir=assets_dir())
    broker = Mosquitto(workdir / "broker").start()
    state = workdir / "state"
    write_hash(state / "web" / "password", PASSWORD)
    config = base_config(
        state,
        broker.port,
        device={"timezone": "Asia/Shanghai"},
        detector={"models_dir": str(models), "threads": 1},
        cameras=[entrance_camera(zones={"door": {"points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]}})],
        rules=[{"name": "lobby", "type": "intrusion", "camera": "entrance", "zone": "door", "min_dwell": 0.2}],
        web={"enabled": True, "port": 0, "live_fps": 2},
    )
    daemon = Daemon(workdir / "agent", config).start()
    try:
        yield daemon, page_url(daemon)
    finally:
        code = daemon.stop()
        broker.stop()
        assert code == 0, daemon.log()[-3000:]


@pytest.fixture
def browser():
    with chromium() as driver:
        yield driver


@pytest.fixture
def chinese_browser():
    with chromium(language="zh-CN") as driver:
        yield driver


def visible_text(driver) -> str:
    return driver.execute_script("return document.body.innerText")


def test_the_login_page_shows_only_the_login(site, browser):
    _, url = site
    browser.get(url)
    wait_for(lambda: browser.find_element(By.ID, "page-login").is_displayed(), timeout=15, message="the login form")
    shown = browser.execute_script(
        "return [...document.querySelectorAll('nav, nav *, main > section')]"
        ".filter((n) => n.offsetParent !== null || getComputedStyle(n).display !== 'none' && n.getClientRects().length)"
        ".map((n) => n.id || n.tagName)"
    )
    assert shown == ["page-login"], shown  # no tabs, no Log out, no other page: CSS display:flex lost to [hidden]
    assert not browser.find_element(By.ID, "logout").is_displayed()
    assert not browser.find_element(By.ID, "tab-overview").is_displayed()


def leftover_english(text: str, names: set[str]) -> list[str]:
    """Latin words of two letters or more that are not a name: an id, a config key as written, a unit. A word of
    ids joined by `:` `/` `.` (`摄像头:entrance`'s id, `docs/actions.md`) counts as a name when each part is one."""
    words = re.findall(r"[A-Za-z][A-Za-z0-9_.:/-]*[A-Za-z0-9]", text)
    return sorted({w for w in words if not all(part in names for part in re.split(r"[:/.]", w) if part)})


# per page: what to do on it first (a script, or None), when its first refresh has filled it, and what is not the
# page's own words (the agent's log lines and messages, the config's keys as written, a rule field's help text: the
# config's JSON Schema descriptions, in English)
PAGES = [
    ("overview", None, "#ov-alerts tr + tr", ["#ov-alerts td:nth-child(7)"]),  # the alert's message: the agent's
    ("camera", None, "#live-status:not(:empty)", []),
    # what the detector sees: its legend, the zone occupancy table
    ("camera", "document.getElementById('overlay-toggle').click()", "#overlay-legend:not(:empty)", []),
    ("edit", None, "#zones .item", ["#rules label", "#diff"]),  # a rule's keys (min_dwell, classes): the config's
    # a mask drawn (not applied: the unsaved mark shows too), then discarded so nothing asks before leaving
    ("edit", "document.getElementById('add-mask').click()", "#masks .item", ["#rules label", "#diff"]),
    ("alerts", None, "#alerts-table tr + tr", ["#alerts-table td:nth-child(7)"]),
    ("actions", None, "#actions-status:not(:empty)", []),
    (
        "logs",
        None,
        "#log-lines tr + tr",
        # the components (web, daemon, …: the code's own names), the lines, the health alerts' messages
        ["#log-component option + option", "#log-lines td:nth-child(3)", "#log-lines td:nth-child(4)"]
        + ["#health-alerts td:nth-child(7)"],
    ),
]
READY = {"camera": "return true", "edit": "return EA.pages.edit.edit !== null"}
SECTION_TEXT = """const [page, others] = arguments;
const section = document.getElementById("page-" + page);
let text = section.innerText;
for (const node of section.querySelectorAll(others.join(",") || "x-none")) text = text.replace(node.innerText, "");
return text;"""


def test_the_zh_cn_page_has_no_english_left(site, chinese_browser, tmp_path):
    """The overview with an alert in it (its type, phase, severity, source and delivery state are words too), then
    every other page's own words."""
    daemon, url = site
    log_in(chinese_browser, url)
    rows = lambda table: chinese_browser.execute_script(  # noqa: E731
        "return [...document.querySelectorAll(`#${arguments[0]} tr`)].slice(1).map((r) => r.innerText)", table
    )
    wait_for(lambda: any(row.startswith("entrance\t是") for row in rows("ov-cameras")), timeout=30, message="camera")
    wait_for(lambda: any("入侵" in row for row in rows("ov-alerts")), timeout=90, message="an intrusion alert row")
    assert chinese_browser.execute_script("return document.documentElement.lang") == "zh-CN"
    assert chinese_browser.find_element(By.ID, "tab-overview").text == "概览"
    names = NAMES | {"site-1", "dev-1", "entrance", "lobby", "door", "technician", "actions", "docs", "md"}
    version = re.search(r"程序版本 (\S+)", visible_text(chinese_browser))
    names |= set(re.split(r"[:/.]", version.group(1))) if version else set()
    header = chinese_browser.find_element(By.TAG_NAME, "header").text
    assert leftover_english(header, names) == [], header
    for page, before, filled, others in PAGES:
        chinese_browser.execute_script(f"location.hash = '#{page}'")
        wait_for(lambda p=page: chinese_browser.find_element(By.ID, f"page-{p}").is_displayed(), timeout=10)
        if before:  # once the page has what it acts on (the edit page: the config)
            wait_for(lambda p=page: chinese_browser.execute_script(READY[p]), timeout=15, message=f"{page} ready")
            chinese_browser.execute_script(before)
        wait_for(lambda f=filled: chinese_browser.find_elements(By.CSS_SELECTOR, f), timeout=15, message=filled)
        text = chinese_browser.execute_script(SECTION_TEXT, page, others)
        assert leftover_english(text, names) == [], (page, text)
    chinese_browser.execute_script("document.getElementById('reload-config').click()")  # the drawn mask discarded
    wait_for(lambda: not chinese_browser.find_elements(By.CSS_SELECTOR, "#masks .item"), timeout=15, message="gone")
    shoot(chinese_browser, url, tmp_path)


def shoot(driver, url: str, tmp_path: Path) -> None:
    """The zh-CN overview at a phone's width and a laptop's, for docs/technician.md (EDGE_AGENT_DOCS_SCREENSHOTS)."""
    docs = os.environ.get("EDGE_AGENT_DOCS_SCREENSHOTS")
    if not docs:
        return
    driver.get(url + "#overview")
    for width in (390, 1280):  # the viewport itself that wide (a phone's is also touch-sized: mobile)
        metrics = {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": width < 600}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#ov-cameras tr"), timeout=15)
        path = tmp_path / f"zh-{width}.png"
        driver.save_screenshot(str(path))
        image = cv2.imread(str(path))
        if image.shape[1] > 900:
            image = cv2.resize(image, (900, round(image.shape[0] * 900 / image.shape[1])), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(Path(docs) / f"technician-zh-CN-{width}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def test_the_logs_page_filters_by_level_and_shows_the_site_s_offset(site, browser):
    _, url = site
    log_in(browser, url)
    browser.execute_script("location.hash = '#logs'")

    def levels() -> list[str]:
        return browser.execute_script(
            "return [...document.querySelectorAll('#log-lines tr')].slice(1).map((r) => r.dataset.level)"
        )

    wait_for(lambda: "info" in levels(), timeout=15, message="info lines (the agent's start)")
    times = browser.execute_script(
        "return [...document.querySelectorAll('#log-lines tr')].slice(1).map((r) => r.cells[0].innerText)"
    )
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+08:00", t) for t in times), times[:3]
    select = browser.find_element(By.ID, "log-level")
    select.find_element(By.CSS_SELECTOR, "option[value='warning']").click()
    wait_for(lambda: "info" not in levels(), timeout=15, message="only warnings and worse")
    assert set(levels()) <= {"warning", "error", "critical"}
    assert "Logs and health" in visible_text(browser) and "Health alerts, last 24 hours" in visible_text(browser)


def test_the_language_switch_is_kept(site, browser):
    _, url = site
    browser.get(url)
    wait_for(lambda: browser.find_element(By.ID, "login-button").text == "Log in", timeout=15, message="English")
    browser.find_element(By.CSS_SELECTOR, "#lang-select option[value='zh-CN']").click()
    wait_for(lambda: browser.find_element(By.ID, "login-button").text == "登录", timeout=15, message="Chinese")
    browser.get(url)  # a new visit keeps the choice (the cookie), though the browser asks for English
    wait_for(lambda: browser.find_element(By.ID, "login-button").text == "登录", timeout=15, message="kept")


def test_a_validation_error_is_in_chinese_with_its_key_path_as_written(site, chinese_browser):
    """Validate only: nothing is applied, so the other tests see the config unchanged."""
    _, url = site
    log_in(chinese_browser, url)
    chinese_browser.execute_script("location.hash = '#edit'")
    selector = "input[data-path='rules[0].min_dwell']"
    field = wait_for(lambda: chinese_browser.find_elements(By.CSS_SELECTOR, selector), timeout=15, message="rule")[0]
    field.clear()
    field.send_keys("soon")
    chinese_browser.find_element(By.ID, "validate").click()
    note = chinese_browser.find_element(By.CSS_SELECTOR, "[data-error-for='rules[0].min_dwell']")
    wait_for(lambda: note.text, timeout=15, message="the error beside the field")
    assert note.text == "应为数字；实际为 'soon'"  # the page's own phrases in Chinese, the value as typed
    listed = chinese_browser.find_element(By.ID, "edit-errors").text
    assert "rules[0].min_dwell: 应为数字；实际为 'soon'" in listed  # the key path as written
    assert chinese_browser.find_element(By.ID, "edit-result").text == "校验未通过：1 个问题；未应用任何更改"
