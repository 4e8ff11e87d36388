"""The page's JSON API fuzzed from its own OpenAPI description (schemathesis) against the real daemon.

Property: whatever a logged-in client sends to any operation (bodies that fit the description and
bodies that do not), the answer is never a 5xx, the daemon's log never shows a traceback, and the
daemon goes on serving. The description the daemon serves must be the one fuzzed here, and must
name exactly the routes the app has (a new route without a description fails here).
"""

from __future__ import annotations

import copy

import pytest
import requests
import schemathesis

from edge_agent.web.app import api_routes
from edge_agent.web.openapi import SPEC
from tests.support.broker import Mosquitto
from tests.support.fuzz import fuzz_settings
from tests.support.http_target import HttpTarget
from tests.support.web import PASSWORD
from tests.support.web_daemon import PageDaemon

ACTION = "chime"


def fuzzed_spec() -> dict:
    """SPEC with the action's name as the likely one (random names would almost all be 404s)."""
    spec = copy.deepcopy(SPEC)
    for path in ("/api/actions/{name}/render", "/api/actions/{name}/test"):
        spec["paths"][path]["post"]["parameters"][0]["schema"] = {"type": "string", "enum": [ACTION]}
    return spec


# logout would end the fuzzing session; the login wall tests (test_web_http.py) cover it
FUZZED = schemathesis.openapi.from_dict(fuzzed_spec()).exclude(path="/api/logout")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    """The daemon (one http action to a local server, so render and test have something to do) and a session."""
    workdir = tmp_path_factory.mktemp("web-fuzz")
    broker = Mosquitto(workdir / "broker").start()
    target = HttpTarget()
    action = {
        "name": ACTION,
        "kind": "http",
        "url": f"{target.url}/ok/chime",
        "remote": True,
        "rate_limit": {"count": 2, "per": 60},
    }
    page = PageDaemon(workdir, broker.port, {"actions": [action]}, login_max_failures=20, login_window=1)
    session = requests.Session()
    reply = session.post(page.url + "api/login", json={"password": PASSWORD}, timeout=30)
    assert reply.status_code == 200, reply.text
    session.headers["X-CSRF-Token"] = reply.json()["csrf"]
    yield page, session
    assert session.get(page.url + "api/overview", timeout=30).status_code == 200  # still serving
    code = page.stop()
    target.close()
    broker.stop()
    assert code == 0 and "Traceback" not in page.log(), page.log()[-3000:]


def test_the_served_description_is_the_fuzzed_one_and_names_every_route(fuzzed):
    page, session = fuzzed
    served = session.get(page.url + "api/openapi.json", timeout=30)
    assert served.status_code == 200 and served.json() == SPEC
    routes = {(route.path, method.lower()) for route in api_routes() for method in route.methods - {"HEAD"}}
    described = {(path, method) for path, methods in SPEC["paths"].items() for method in methods}
    assert routes == described
    assert requests.get(page.url + "api/openapi.json", timeout=30).status_code == 401  # behind the login


@pytest.mark.fuzz
@FUZZED.parametrize()
@fuzz_settings(ci_examples=8)
def test_no_request_to_the_api_gets_a_5xx_or_a_traceback(case, fuzzed):
    page, session = fuzzed
    tracebacks = page.log().count("Traceback")
    response = case.call(base_url=page.url.rstrip("/"), session=session, timeout=30)
    assert response.status_code < 500, case.as_curl_command()
    assert page.log().count("Traceback") == tracebacks, case.as_curl_command()  # each failure names its own request
    assert page.daemon.running()
