"""The technician's page on a phone: Chrome's mobile emulation (390 x 844 CSS px, touch) against the real daemon.

The technician tunes zones standing under the camera, phone in hand. Fingers are CDP `Input.dispatchTouchEvent`s
(Chrome makes the page's pointer events from them, as on a real phone): drag a corner, tap an edge to add a corner,
hold a corner to remove it, draw a mask and apply it. The navigation fits the screen, tables reflow rather than
scroll sideways, and handles are 44 px across. One daemon for the module (a looping entrance clip); each test has a
fresh browser, and the one that applies puts the config back. With EDGE_AGENT_DOCS_SCREENSHOTS=DIR the 390 px
screenshots of docs/technician.md are written there.
"""

from __future__ import annotations

import pytest

from tests.support.browser import (
    STRIP,
    chromium,
    finger_drag,
    finger_hold,
    finger_tap,
    go,
    log_in,
    page_url,
    require_chromium,
    restored,
    screenshot,
    start_site,
    table_rows,
    text_of,
)
from tests.support.http_target import HttpTarget
from tests.support.wait import wait_for

pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By

pytestmark = pytest.mark.slow
POINTS = "return EA.pages.edit.camera().zones.door.points"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require_chromium()
    chime = HttpTarget()
    broker, daemon, watcher = start_site(tmp_path_factory.mktemp("web-phone"), chime.url)
    try:
        watcher.wait_ready()
        yield daemon, watcher
    finally:
        code = daemon.stop()
        watcher.close()
        broker.stop()
        chime.close()
        assert code == 0, daemon.log()[-3000:]


@pytest.fixture
def phone(site):
    """A fresh phone browser, logged in."""
    with chromium(phone=True) as driver:
        log_in(driver, page_url(site[0]))
        yield driver


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("phone-screenshots")


def right_edges(driver, selector: str) -> list[float]:
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((n) => n.getBoundingClientRect().right)", selector
    )


HEADER = "header nav a, #logout, #lang-select"


def test_on_a_phone_the_navigation_fits_and_tables_reflow(phone, shots):
    assert phone.execute_script("return [window.innerWidth, matchMedia('(pointer: coarse)').matches]") == [390, True]
    wait_for(lambda: any(r.startswith("entrance") for r in table_rows(phone, "ov-cameras")), timeout=30)
    assert max(right_edges(phone, HEADER)) <= 390  # Actions, Logs, Log out and the language on screen
    assert all(phone.find_element(By.ID, n).is_displayed() for n in ("tab-logs", "logout", "lang-select"))
    assert phone.execute_script("return document.documentElement.scrollWidth") <= 390  # nothing scrolls sideways
    row = table_rows(phone, "ov-cameras")[0]
    assert "\n" in row  # a row is a card, a cell a line ("camera: entrance" via its data-label)
    screenshot(phone, shots, "overview-390")
    metrics = {"width": 360, "height": 740, "deviceScaleFactor": 1, "mobile": True}
    phone.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # a smaller phone still
    wait_for(lambda: phone.execute_script("return window.innerWidth") == 360, timeout=5, message="360 px")
    assert max(right_edges(phone, HEADER)) <= 360
    assert phone.execute_script("return document.documentElement.scrollWidth") <= 360


def open_edit(driver):
    go(driver, "edit")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#zones .zones-name"), timeout=10, message="the zones")
    driver.execute_script("document.getElementById('edit-canvas').scrollIntoView({block: 'start'})")


def test_drag_a_zone_corner_by_touch_and_the_handles_are_44_px(phone):
    open_edit(phone)
    across = phone.execute_script(
        "const c = document.getElementById('edit-canvas');"
        "return 2 * EA.touch.handleRadius(c) * c.getBoundingClientRect().width / c.width"
    )
    assert across == pytest.approx(44, abs=0.5)
    assert not phone.find_element(By.ID, "unsaved").is_displayed()
    finger_drag(phone, "edit-canvas", STRIP[2], [0.8, 0.7])
    points = phone.execute_script(POINTS)
    assert points[2] == pytest.approx([0.8, 0.7], abs=0.02) and points[0] == STRIP[0], points
    assert phone.find_element(By.ID, "unsaved").is_displayed()  # not applied yet, and it says so


def test_add_a_corner_by_tapping_an_edge_and_remove_it_by_holding_it(phone):
    open_edit(phone)
    finger_drag(phone, "edit-canvas", STRIP[2], [0.98, 0.5])  # a zone tall enough to tap its edge clearly
    finger_drag(phone, "edit-canvas", STRIP[3], [0.02, 0.5])
    finger_tap(phone, "edit-canvas", [0.5, 0.5])  # the bottom edge, between corners 2 and 3
    points = phone.execute_script(POINTS)
    assert len(points) == 5 and points[3] == pytest.approx([0.5, 0.5], abs=0.02), points
    finger_hold(phone, "edit-canvas", [0.5, 0.5], held_ms=900)  # past touch.js's 600 ms
    points = phone.execute_script(POINTS)
    assert len(points) == 4 and [0.5, 0.5] not in points, points
    finger_hold(phone, "edit-canvas", points[0], held_ms=100)  # a short touch selects; it removes nothing
    assert len(phone.execute_script(POINTS)) == 4
    phone.find_element(By.ID, "remove-corner").click()  # the button removes the selected corner
    assert len(phone.execute_script(POINTS)) == 3
    phone.find_element(By.ID, "remove-corner").click()  # nothing selected any more: the button is off
    assert len(phone.execute_script(POINTS)) == 3


def test_draw_a_mask_by_touch_and_apply_it(site, phone, shots):
    daemon, watcher = site
    with restored(daemon, watcher):
        open_edit(phone)
        phone.find_element(By.ID, "add-mask").click()
        phone.execute_script("document.getElementById('edit-canvas').scrollIntoView({block: 'start'})")
        finger_drag(phone, "edit-canvas", [0.3, 0.3], [0.45, 0.35])  # the new mask's far corner, by finger
        finger_tap(phone, "edit-canvas", [0.05, 0.17])  # its left edge, clear of every corner: a fifth corner
        mask = phone.execute_script("return EA.pages.edit.camera().masks[0]")
        assert len(mask) == 5 and mask[2] == pytest.approx([0.45, 0.35], abs=0.02), mask
        screenshot(phone, shots, "mask-edit-390")
        phone.execute_script("document.getElementById('apply').scrollIntoView({block: 'center'})")
        phone.find_element(By.ID, "apply").click()
        wait_for(lambda: text_of(phone, "edit-result").startswith("applied"), timeout=90, message="applied")
        assert "+ cameras[0].motion.masks[0]: [[0.05, 0.05], [0.3, 0.05], " in text_of(phone, "diff")
        running = watcher.command("get-config")["result"]["config"]["cameras"][0]["motion"]["masks"]
        assert len(running) == 1 and all(
            r == pytest.approx(m, abs=0.002) for r, m in zip(running[0], mask, strict=True)
        )
        assert not phone.find_element(By.ID, "unsaved").is_displayed()
        go(phone, "camera")
        phone.find_element(By.ID, "overlay-toggle").click()
        wait_for(lambda: "masks 1" in text_of(phone, "overlay-legend"), timeout=20, message="the mask in the overlay")
        wait_for(lambda: "tracks 0" not in text_of(phone, "overlay-legend"), timeout=60, message="a person tracked")
        screenshot(phone, shots, "overlay-390")
