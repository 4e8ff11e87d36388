"""The technician's page in a real browser: Debian's chromium driven by selenium, at a desk or as a phone.

Every test gets a browser of its own (a fresh profile: no cookies, no session, no storage), so none depends on what
another did. `site()` starts the daemon the browser tests share (a looping entrance clip in real time, a private
mosquitto); tests that change its config restore it (`restored`). A phone is Chrome's mobile emulation (390 x 844,
touch) and its fingers are CDP `Input.dispatchTouchEvent`s, which Chrome turns into the pointer events the page
handles.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import cv2
import pytest

from edge_agent.vision.models import fetch_model
from edge_agent.web.passwords import write_hash
from tests.support.assets import assets_dir, entrance_camera, model_path
from tests.support.broker import Mosquitto
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.wait import wait_for

PASSWORD = "correct horse battery"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")
STRIP = [[0.02, 0.02], [0.98, 0.02], [0.98, 0.06], [0.02, 0.06]]  # along the top edge: nobody's feet are there
DESK = (1280, 900)
PHONE = {"width": 390, "height": 844, "pixelRatio": 1.0, "touch": True}
PHONE_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome Mobile Safari/537.36"
)
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
)  # fmt: skip


def require_chromium() -> None:
    if CHROMEDRIVER is None or not Path(CHROMIUM).exists():
        message = "chromium and chromium-driver are not installed (.ci/run installs them)"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)


@contextlib.contextmanager
def chromium(phone: bool = False, language: str = "en-US"):
    """A fresh headless chromium (its own profile directory, removed after), at a desk or as a phone, asking for
    pages in `language` (Accept-Language)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    require_chromium()
    options = Options()
    options.binary_location = CHROMIUM
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--lang={language}"):
            options.add_argument(flag)
        options.add_experimental_option("prefs", {"intl.accept_languages": language})
        if phone:
            options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE, "userAgent": PHONE_AGENT})
        else:
            options.add_argument(f"--window-size={DESK[0]},{DESK[1]}")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.set_script_timeout(30)
            if phone:  # a finger, not a mouse: (pointer: coarse), touch events
                driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
            else:  # the viewport itself 1280 wide (the window has a frame around it)
                width, height = driver.execute_script("return [window.innerWidth, window.innerHeight]")
                driver.set_window_size(2 * DESK[0] - width, 2 * DESK[1] - height)
            yield driver
        finally:
            driver.quit()


def start_site(workdir: Path, chime_url: str) -> tuple[Mosquitto, Daemon, Watcher]:
    """A private broker and the daemon on the looping entrance clip, its page on a free port (not yet ready)."""
    model_path()
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
                zones={"door": {"points": STRIP}, "hall": {"points": [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}},
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
        actions=[{"name": "door-chime", "kind": "http", "url": f"{chime_url}/ok/chime", "remote": True}],
        commands={"confirm_timeout": 30},
        web={"enabled": True, "port": 0, "live_fps": 4, "login_max_failures": 3},
    )
    watcher = Watcher(broker.port)
    daemon = Daemon(workdir / "agent", config).start()
    return broker, daemon, watcher


@contextlib.contextmanager
def restored(daemon: Daemon, watcher: Watcher):
    """The test may change the daemon's config (an Apply, a reload); afterwards the file it started with is back and
    running, so the next test (in any order, or alone) meets the same daemon."""
    original = daemon.config_path.read_text()
    try:
        yield
    finally:
        if daemon.config_path.read_text() != original or watcher.command("status")["result"].get(
            "config_sha256"
        ) != _sha256(original):
            outcome = daemon.reload_file(original, watcher)["last_reload"]["outcome"]
            assert outcome == "applied", outcome


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def page_url(daemon: Daemon, after: int = 0) -> str:
    """The page's address from the daemon's log (port 0: the kernel picked it); the newest after `after` lines."""

    def found():
        lines = daemon.log().splitlines()[after:]
        urls = [m.group(1) for line in lines for m in [re.search(r"served on (https?://[^ \"]+/)", line)] if m]
        return urls[-1] if urls else None

    return wait_for(found, timeout=30, message="the page's address in the log")


def log_in(driver, url: str, password: str = PASSWORD, wait: bool = True) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    wait_for(lambda: driver.find_element(By.ID, "page-login").is_displayed(), timeout=10, message="the login form")
    field = driver.find_element(By.ID, "login-password")
    field.clear()
    field.send_keys(password)
    driver.find_element(By.ID, "login-button").click()
    if wait:
        wait_for(lambda: driver.execute_script("return Boolean(EA.session)"), timeout=15, message="logged in")


def go(driver, page: str) -> None:
    driver.execute_script("location.hash = arguments[0]", "#" + page)
    wait_for(lambda: driver.execute_script("return !document.getElementById(arguments[0]).hidden", "page-" + page))


def text_of(driver, element_id: str) -> str:
    return driver.execute_script("const n = document.getElementById(arguments[0]); return n && n.innerText", element_id)


def text_at(driver, selector: str) -> str | None:
    """Text of the first element matching `selector`, read in one step (the page re-renders its lists)."""
    return driver.execute_script("const n = document.querySelector(arguments[0]); return n && n.textContent", selector)


def table_rows(driver, table_id: str) -> list[str]:
    """Text of each data row (header left out), read in one step: the pages redraw their tables as they refresh."""
    return driver.execute_script(
        "return [...document.querySelectorAll(`#${arguments[0]} tr`)].slice(1).map((r) => r.innerText)", table_id
    )


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


def fetch_json(driver, path: str):
    return driver.execute_async_script(
        """const [path, done] = arguments;
        fetch(path, {credentials: "same-origin"}).then((r) => r.json()).then(done, () => done(null));""",
        path,
    )


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


def screenshot(driver, directory: Path, name: str) -> Path:
    """Saved as a test artifact; also into EDGE_AGENT_DOCS_SCREENSHOTS as docs/technician-NAME.png, at the width the
    page was shown at (390 or 1280), compressed for the repo."""
    path = directory / f"{name}.png"
    driver.save_screenshot(str(path))
    docs = os.environ.get("EDGE_AGENT_DOCS_SCREENSHOTS")
    if docs:
        image = cv2.imread(str(path))
        cv2.imwrite(str(Path(docs) / f"technician-{name}.png"), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


# -- a finger -----------------------------------------------------------------------------------------------
def canvas_point(driver, canvas_id: str, point: list[float]) -> tuple[float, float]:
    """A normalized point of a canvas in viewport CSS pixels (where a finger would touch it)."""
    box = driver.execute_script(
        "const b = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return [b.left, b.top, b.width, b.height]",
        canvas_id,
    )
    return box[0] + point[0] * box[2], box[1] + point[1] * box[3]


def touch(driver, kind: str, at: tuple[float, float] | None = None) -> None:
    points = [] if at is None else [{"x": at[0], "y": at[1], "radiusX": 6, "radiusY": 6, "force": 1, "id": 0}]
    driver.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})


def finger_drag(driver, canvas_id: str, start: list[float], end: list[float], steps: int = 6) -> None:
    """Touch a canvas at `start`, slide to `end`, lift: touch events as a phone sends them."""
    a, b = canvas_point(driver, canvas_id, start), canvas_point(driver, canvas_id, end)
    touch(driver, "touchStart", a)
    for step in range(1, steps + 1):
        k = step / steps
        touch(driver, "touchMove", (a[0] + (b[0] - a[0]) * k, a[1] + (b[1] - a[1]) * k))
    touch(driver, "touchEnd")


def finger_tap(driver, canvas_id: str, point: list[float]) -> None:
    touch(driver, "touchStart", canvas_point(driver, canvas_id, point))
    touch(driver, "touchEnd")


def finger_hold(driver, canvas_id: str, point: list[float], held_ms: int) -> None:
    """Touch and hold still for `held_ms` (the gesture's own length, timed in the page: touch.js judges a hold by the
    events' times), then lift."""
    touch(driver, "touchStart", canvas_point(driver, canvas_id, point))
    driver.execute_async_script("setTimeout(arguments[1], arguments[0])", held_ms)
    touch(driver, "touchEnd")
