"""The Logs page's API and the catalogue script, over real HTTP against a real agent (in process), and the ring itself.

The log lines come from the in-memory ring on the process's logging (edge_agent/logs.py `LogRing`), read through
the agent's face; the health alerts from the outbox. Attacks as in test_web_attacks.py: no login, a huge or
negative N, a level or component that is not one (injection, traversal, markup), a hostile Accept-Language or
language cookie. Each gets a clear 4xx (or is ignored), nothing is reflected, and nothing is logged as an error.
A secret in the config never shows on any answer of the page, though a log line carried it.
"""

from __future__ import annotations

import logging

import httpx
import pytest

from edge_agent.control import AgentControl
from edge_agent.logs import LEVELS, LogRing, RedactingFilter, log_ring
from edge_agent.publish.commands import CommandError
from tests.support.broker import Mosquitto
from tests.support.wait import wait_for
from tests.support.web import WebAgent, logged_in

SECRET = "s3cret-broker-pass-4711"


# -- the ring --------------------------------------------------------------------------------------------------------
def record(name: str, level: int, message: str, *args, exc=None, **extra) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, message, args, exc)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_the_ring_keeps_the_newest_lines_and_filters_by_level_and_component():
    ring = LogRing(capacity=5)
    for i in range(7):
        level = logging.WARNING if i % 2 else logging.INFO
        ring.handle(record(f"edge_agent.{'web.app' if i < 4 else 'daemon.agent'}", level, "line %d", i, camera="c1"))
    assert [line["msg"] for line in ring.lines(100)] == ["line 6", "line 5", "line 4", "line 3", "line 2"]
    assert [line["msg"] for line in ring.lines(100, level="warning")] == ["line 5", "line 3"]
    assert [line["msg"] for line in ring.lines(100, component="web")] == ["line 3", "line 2"]
    assert [line["msg"] for line in ring.lines(1, level="info", component="daemon")] == ["line 6"]
    assert ring.lines(100, level="error") == []
    assert ring.components() == ["daemon", "web"]
    assert ring.lines(1)[0]["camera"] == "c1" and ring.lines(1)[0]["level"] == "info"


def test_the_ring_masks_registered_secrets_and_keeps_an_exception_to_one_line():
    from edge_agent.logs import redact

    redact(SECRET)
    ring = LogRing()
    try:
        raise ValueError(f"could not log in with {SECRET}")
    except ValueError as exc:
        error = (type(exc), exc, exc.__traceback__)
    ring.handle(record("edge_agent.publish.mqtt_client", logging.ERROR, "password %s refused", SECRET, exc=error))
    line = ring.lines(1)[0]
    assert SECRET not in str(line) and line["msg"] == "password **** refused"
    assert line["exc"] == "ValueError: could not log in with ****"  # no traceback: its frames' text is not redacted


# -- the page --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def page(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("web-logs")
    broker = Mosquitto(workdir / "broker").start()  # anonymous: the user and password below are accepted
    running = WebAgent(
        workdir,
        broker.port,
        mqtt={"username": "edge", "password": SECRET},
        web={"enabled": True, "port": 0, "live_view": False},
    )
    yield running
    running.stop()
    broker.stop()


def test_unauthenticated_requests_are_refused(page):
    client = httpx.Client(base_url=page.url)
    for path in ("/api/logs", "/api/logs?level=error&limit=5", "/api/health"):
        reply = client.get(path)
        assert reply.status_code == 401 and "lines" not in reply.text and "alerts" not in reply.text, path


def test_the_page_lists_log_lines_newest_first_filtered_by_level_and_component(page):
    client, _ = logged_in(page)
    logging.getLogger("edge_agent.sources.camera").warning("camera %s lost its stream", "gate-7")
    logging.getLogger("edge_agent.web.app").error("a web error for the filter")
    reply = client.get("/api/logs", params={"limit": 1000})
    assert reply.status_code == 200
    body = reply.json()
    assert set(body["levels"]) == set(LEVELS) and {"sources", "web"} <= set(body["components"])
    seqs = [line["seq"] for line in body["lines"]]
    assert seqs == sorted(seqs, reverse=True)
    warned = client.get("/api/logs", params={"level": "warning", "component": "sources"}).json()["lines"]
    assert warned[0]["msg"] == "camera gate-7 lost its stream" and warned[0]["logger"] == "edge_agent.sources.camera"
    assert {line["component"] for line in warned} == {"sources"}
    errors = client.get("/api/logs", params={"level": "error"}).json()["lines"]
    assert errors[0]["msg"] == "a web error for the filter" and {line["level"] for line in errors} <= {
        "error",
        "critical",
    }
    assert len(client.get("/api/logs", params={"limit": 1}).json()["lines"]) == 1


@pytest.mark.parametrize(
    "params, named",
    [
        ({"limit": "1" + "0" * 12}, "limit"),  # a huge N
        ({"limit": "-5"}, "limit"),
        ({"limit": "1e9"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"level": "warning' OR '1'='1"}, "level"),  # injection
        ({"level": "WARNING"}, "level"),
        ({"level": "<script>alert(1)</script>"}, "level"),
        ({"component": "../../etc/passwd"}, "component"),
        ({"component": "web%00"}, "component"),
        ({"component": "x" * 5000}, "component"),
    ],
)
def test_hostile_query_parameters_are_refused_naming_the_parameter(page, params, named):
    client, _ = logged_in(page)
    reply = client.get("/api/logs", params=params)
    assert reply.status_code == 400, reply.text
    message = reply.json()["error"]
    assert message.startswith(named) and "script" not in message and "passwd" not in message


def test_a_large_but_plain_n_is_capped_at_what_the_ring_holds(page):
    client, _ = logged_in(page)
    reply = client.get("/api/logs", params={"limit": "999999"})
    assert reply.status_code == 200 and len(reply.json()["lines"]) <= log_ring().capacity


def test_an_unknown_component_is_no_lines_not_an_error(page):
    client, _ = logged_in(page)
    assert client.get("/api/logs", params={"component": "nosuch"}).json()["lines"] == []


def test_a_rejected_config_shows_in_the_health_history(page):
    client, _ = logged_in(page)
    face: AgentControl = page.agent.face
    with pytest.raises(CommandError):
        face.apply_config_text("device: [not, a, mapping", origin="test", persist=False)

    def rejected():
        alerts = client.get("/api/health").json()["alerts"]
        return [a for a in alerts if a["type"] == "agent.health" and a["reason"] == "config_rejected"]

    alert = wait_for(rejected, timeout=10, message="the config_rejected health alert")[0]
    assert alert["created_at"] and alert["source"].startswith("device:")
    assert client.get("/api/health").json()["hours"] == 24


def test_a_secret_in_the_config_never_shows_on_the_page(page):
    """The broker password is inline in the config; a log line carries it (as a careless message might)."""
    client, _ = logged_in(page)
    connected = lambda: page.agent.face.status_report().get("mqtt_connected")  # noqa: E731
    wait_for(connected, timeout=20, message="connected with the password")
    logging.getLogger("edge_agent.publish.connection").warning("connecting with password %s", SECRET)
    lines = client.get("/api/logs", params={"limit": 1000}).json()["lines"]
    assert any(line["msg"] == "connecting with password ****" for line in lines)
    for path in ("/", "/i18n.js", "/api/session", "/api/overview", "/api/config", "/api/alerts", "/api/health"):
        reply = client.get(path, params={"limit": 1000} if path == "/api/logs" else None)
        assert reply.status_code == 200 and SECRET not in reply.text, path
    assert SECRET not in client.get("/api/logs", params={"limit": 1000}).text


def test_the_catalogue_script_follows_the_cookie_then_accept_language_and_reflects_nothing(page):
    client = httpx.Client(base_url=page.url)  # public: the login page needs its words
    chinese = client.get("/i18n.js", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert chinese.status_code == 200 and chinese.headers["content-type"].startswith("text/javascript")
    assert '"lang": "zh-CN"' in chinese.text and "Accept-Language" in chinese.headers["vary"]
    assert chinese.headers["x-content-type-options"] == "nosniff"
    chooser = httpx.Client(base_url=page.url, cookies={"edge_agent_lang": "en"})
    chosen = chooser.get("/i18n.js", headers={"Accept-Language": "zh-CN"})
    assert '"lang": "en"' in chosen.text  # the technician's choice wins
    hostile = "</script><script>alert(1)</script>"
    for headers, cookies in (
        ({"Accept-Language": hostile}, {}),
        ({"Accept-Language": "zh;q=" + "9" * 4000}, {}),
        ({}, {"edge_agent_lang": hostile}),
        ({}, {"edge_agent_lang": "../../../etc/passwd"}),
    ):
        reply = httpx.Client(base_url=page.url, cookies=cookies).get("/i18n.js", headers=headers)
        assert reply.status_code == 200 and '"lang": "en"' in reply.text
        assert "alert(1)" not in reply.text and "passwd" not in reply.text


@pytest.fixture(scope="module", autouse=True)
def ring_at_start() -> int:
    """The ring's newest line number when this module's first test starts: the ring is the process's, and in a
    whole-suite run other modules' tests log web errors of their own before these run."""
    lines = log_ring().lines(1)
    return lines[0]["seq"] if lines else 0  # newest first


def test_no_request_above_left_an_error_in_the_log(ring_at_start):
    web_errors = [
        line
        for line in log_ring().lines(1000, level="error")
        if line["component"] in ("web", "uvicorn") and line["seq"] > ring_at_start
    ]
    assert [line for line in web_errors if line["msg"] != "a web error for the filter"] == []


def test_the_ring_handler_is_attached_once_and_redacts():
    root = logging.getLogger()
    assert [h for h in root.handlers if isinstance(h, LogRing)] == [log_ring()]
    assert any(isinstance(f, RedactingFilter) for f in log_ring().filters)
