"""The page's Actions panel over real HTTP: a real agent (in process, its uplink down) and a real local HTTP server
as the action's target. Listing (figures, records, no secret), render (the body, nothing sent), a test run through
the agent's own runner (the target gets it, the record is stored, listed and audited; the rate limit holds), and the
login wall, CSRF and unknown names."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.actions import schema_problems
from tests.support.broker import free_port
from tests.support.http_target import HttpTarget
from tests.support.wait import wait_for
from tests.support.web import WebAgent, logged_in

TOKEN = "s3cret-token-9f8e7d"


@pytest.fixture(scope="module")
def target():
    server = HttpTarget()
    yield server
    server.close()


@pytest.fixture(scope="module")
def page(tmp_path_factory, target):
    workdir = tmp_path_factory.mktemp("web-actions")
    secret = workdir / "siren.token"
    secret.write_text(f"Bearer {TOKEN}\n")
    secret.chmod(0o600)
    siren = {
        "name": "siren",
        "kind": "http",
        "url": f"{target.url}/ok/siren/{{door}}",
        "headers": {"X-Site": "lobby", "X-Door": "{door}"},
        "secret_headers": {"Authorization": str(secret)},
        "body": {"door": "{door}", "event": "{event_id}", "message": "{message}"},
        "on": [{"type": "door.forced"}],  # no door adapter here: only the panel runs it
        "rate_limit": {"count": 2, "per": 3600},
        "retries": 0,
    }
    idle = {"name": "idle", "kind": "http", "url": f"{target.url}/ok/idle", "remote": True, "enabled": False}
    running = WebAgent(
        workdir, free_port(), web={"enabled": True, "port": 0, "live_view": False}, actions=[siren, idle]
    )
    yield running
    running.stop()


def listed(client: httpx.Client, name: str) -> dict:
    reply = client.get("/api/actions")
    assert reply.status_code == 200, reply.text
    return next(action for action in reply.json()["actions"] if action["name"] == name)


def audit_lines(page: WebAgent) -> list[dict]:
    path = page.path.parent / "state" / "web" / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_listing_shows_each_action_with_its_figures_and_never_a_secret(page, target):
    client, _ = logged_in(page)
    reply = client.get("/api/actions")
    assert reply.status_code == 200 and reply.json()["running"] is True
    assert TOKEN not in reply.text
    siren, idle = listed(client, "siren"), listed(client, "idle")
    assert siren["kind"] == "http" and siren["target"] == f"POST {target.url}/ok/siren/{{door}}"
    assert (
        siren["on"] == [{"type": "door.forced", "phases": ["start", "instant"], "dispositions": []}]
        and siren["remote"] is False
    )
    assert siren["rate_limit"] == {"count": 2, "per": 3600.0}
    assert siren["figures"] == {"kind": "http", "queued": 0, "off_schedule": 0, "outcomes": {}}
    assert idle["enabled"] is False and idle["figures"] is None and idle["records"] == []


def test_render_shows_the_body_masks_the_secret_and_sends_nothing(page, target):
    client, csrf = logged_in(page)
    before = len(target.requests)
    reply = client.post("/api/actions/siren/render", json={}, headers={"X-CSRF-Token": csrf})
    assert reply.status_code == 200, reply.text
    shown = reply.json()
    assert shown["alert"].startswith("door.forced instant from door sample")
    body = json.loads(shown["rendered"]["body"])
    assert body["door"] == "sample" and body["message"] == "sample alert (edge-agent actions)"
    headers = dict(shown["rendered"]["headers"])
    assert headers["Authorization"].startswith("<secret from ")
    # a fixed header may be a credential whatever its name: masked on the page; one made only of alert fields is data
    assert headers["X-Site"] == "**********" and headers["X-Door"] == "sample" and "lobby" not in reply.text
    assert TOKEN not in reply.text and "body (" in shown["text"]

    facts = {"sample": {"type": "door.forced", "door": "back; $(reboot)", "message": 'say "hi"\nnow'}}
    custom = client.post("/api/actions/siren/render", json=facts, headers={"X-CSRF-Token": csrf}).json()
    assert json.loads(custom["rendered"]["body"])["door"] == "back; $(reboot)"
    assert custom["rendered"]["url"].endswith("/ok/siren/back%3B%20%24%28reboot%29")
    wrong = client.post("/api/actions/siren/render", json={"sample": {"colour": "red"}}, headers={"X-CSRF-Token": csrf})
    assert wrong.status_code == 400 and "colour" in wrong.json()["error"]
    assert len(target.requests) == before


def test_a_test_run_goes_through_the_agent_and_is_recorded_listed_and_audited(page, target):
    client, csrf = logged_in(page)
    reply = client.post("/api/actions/siren/test", json={}, headers={"X-CSRF-Token": csrf})
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert result["ok"] is True and result["outcome"] == "ok"
    record = result["record"]
    assert record["trigger"] == "technician" and record["status_code"] == 200 and record["attempts"] == 1
    assert "alert_event_id" not in record and schema_problems(record) == []  # a sample is not an alert to name
    sent = target.of_kind("ok")[-1]
    assert sent.path == "/ok/siren/sample" and sent.header("Authorization") == f"Bearer {TOKEN}"
    assert json.loads(sent.body)["message"] == "sample alert (edge-agent actions)"

    def stored() -> list[dict]:
        return [r for r in listed(client, "siren")["records"] if r["event_id"] == result["record_event_id"]]

    shown = wait_for(stored, timeout=10, message="the record in the listing")[0]
    assert shown["outcome"] == "ok" and shown["trigger"] == "technician" and shown["state"] == "pending"
    assert listed(client, "siren")["figures"]["outcomes"]["ok"] >= 1
    entry = audit_lines(page)[-1]
    assert entry["action"] == "action_test" and entry["user"] == "technician" and entry["outcome"] == "ok"
    assert entry["action_name"] == "siren" and entry["record_event_id"] == result["record_event_id"]


def test_a_stored_alert_fills_the_templates_and_the_rate_limit_still_holds(page, target):
    client, csrf = logged_in(page)
    page.agent.delivery.health.emit("config_rejected", "an alert for the actions panel")
    alert = wait_for(
        lambda: [
            a for a in client.get("/api/alerts?type=agent.health").json()["alerts"] if "panel" in (a["message"] or "")
        ],
        timeout=10,
        message="the stored alert",
    )[0]
    chosen = {"event_id": alert["event_id"]}
    rendered = client.post("/api/actions/siren/render", json=chosen, headers={"X-CSRF-Token": csrf}).json()
    assert json.loads(rendered["rendered"]["body"])["event"] == alert["event_id"]

    outcomes = []  # 2 runs an hour: the third test (counting the previous test's) is refused
    while not outcomes or (outcomes[-1].status_code == 200 and len(outcomes) < 3):
        outcomes.append(client.post("/api/actions/siren/test", json=chosen, headers={"X-CSRF-Token": csrf}))
    ran, refused = outcomes[:-1], outcomes[-1]
    assert ran and ran[0].json()["record"]["alert_event_id"] == alert["event_id"]
    assert json.loads(target.requests[-1].body)["event"] == alert["event_id"]
    assert refused.status_code == 429 and refused.json()["outcome"] == "rate_limited", refused.text
    assert refused.json()["record"]["attempts"] == 0
    assert audit_lines(page)[-1]["outcome"] == "rate_limited"
    missing = client.post("/api/actions/siren/test", json={"event_id": "nope"}, headers={"X-CSRF-Token": csrf})
    assert missing.status_code == 404 and "no alert nope" in missing.json()["error"]


def test_login_csrf_unknown_and_disabled_actions_are_refused(page, target):
    before = len(target.requests)
    anonymous = httpx.Client(base_url=page.url)
    assert anonymous.get("/api/actions").status_code == 401
    assert anonymous.post("/api/actions/siren/test", json={}).status_code == 401
    client, csrf = logged_in(page)
    assert client.post("/api/actions/siren/test", json={}).status_code == 403
    assert client.post("/api/actions/siren/test", json={}, headers={"X-CSRF-Token": "guess"}).status_code == 403
    assert client.post("/api/actions/siren/render", json={}).status_code == 403
    unknown = client.post("/api/actions/nosuch/test", json={}, headers={"X-CSRF-Token": csrf})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "no action named 'nosuch' (configured: siren, idle)"
    assert client.post("/api/actions/nosuch/render", json={}, headers={"X-CSRF-Token": csrf}).status_code == 404
    idle = client.post("/api/actions/idle/test", json={}, headers={"X-CSRF-Token": csrf})
    assert idle.status_code == 409 and "disabled" in idle.json()["error"]
    assert len(target.requests) == before


def test_n6_no_secret_or_environment_value_in_the_panel_s_listing_or_render(tmp_path, mosquitto, target):
    """The page's Render showed a URL's password and query secrets, a body's pin and an environment value."""
    import os

    from edge_agent.config.redaction import REDACTED

    os.environ["EA_PANEL_TOKEN"] = "panel-env-SECRET-41"
    try:
        action = {
            "name": "relay",
            "kind": "http",
            "url": f"{target.url}/ok/relay" + "?pwd=pwdSECRET1&key=keySECRET3&code=${EA_PANEL_TOKEN}&door={door}",
            "headers": {"User-Agent": "ua-${EA_PANEL_TOKEN}"},
            "body": {"pin": "pinSECRET4", "nested": ["${EA_PANEL_TOKEN}"], "door": "{door}"},
            "on": [{"type": "door.forced"}],
        }
        page = WebAgent(
            tmp_path, mosquitto.port, web={"enabled": True, "port": 0, "live_view": False}, actions=[action]
        )
        try:
            client, csrf = logged_in(page)
            listing = client.get("/api/actions")
            render = client.post("/api/actions/relay/render", json={}, headers={"X-CSRF-Token": csrf})
            got = page.agent.face.redacted_config()
        finally:
            page.stop()
    finally:
        del os.environ["EA_PANEL_TOKEN"]
    assert render.status_code == 200, render.text
    shown = listing.text + render.text + json.dumps(got)
    for secret in ("pwdSECRET1", "keySECRET3", "pinSECRET4", "panel-env-SECRET-41"):
        assert secret not in shown, secret
    assert REDACTED in render.text and '"door": "sample"' in render.json()["rendered"]["body"]
