"""The `http` action against a real local HTTP server: ok, slow, failing, silent and dripping targets; hostile
alert content arrives as data only; secrets are sent and never shown."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from pydantic import ValidationError

from edge_agent.actions.base import ActionBuildError
from edge_agent.actions.http import HttpKind
from edge_agent.config import AgentConfig
from edge_agent.config.redaction import REDACTED, redact
from edge_agent.events.action import alert_fields
from edge_agent.store.episodes import EpisodeSink
from edge_agent.store.state_store import StateStore
from tests.support.actions import action_configs, make_alert, records_of, schema_problems, start_runner
from tests.support.wait import wait_for

HOSTILE = "a\"b'c; rm -rf / $(touch pwned) `id` {type} %0d%0a\r\nX-Injected: 1\n{{zone}} & ?x=1#frag /../"


def http_action(url: str, name: str = "hook", **settings) -> dict:
    return {"name": name, "kind": "http", "url": url, "on": [{"rule": "anyone"}], **settings}


def kind(url: str, **settings) -> HttpKind:
    return HttpKind(action_configs(http_action(url, **settings))[0])


def fields(**details) -> dict:
    return alert_fields(make_alert(**details), "hook")


def test_ok_sends_the_json_body_with_typed_values(target):
    attempt = kind(
        f"{target.url}/ok/{{rule}}", body={"zone": "{zone}", "count": "{count}", "text": "{count} in {zone}"}
    ).run(fields(count=3), timeout=5)
    assert attempt.ok and attempt.status_code == 200
    (request,) = target.requests
    assert request.method == "POST" and request.path == "/ok/anyone"
    assert json.loads(request.body) == {"zone": "room", "count": 3, "text": "3 in room"}
    assert request.header("Content-Type") == "application/json"


def test_slow_target_within_the_timeout_is_ok(target):
    attempt = kind(f"{target.url}/slow/x", method="PUT", body_text="zone {zone}").run(fields(), timeout=5)
    assert attempt.ok and target.of_kind("slow")[0].body == b"zone room"


def test_failing_target_is_retried_and_recorded_failed_with_its_status(target, outbox):
    runner = start_runner(outbox, http_action(f"{target.url}/fail/x", retries=2, retry_delay=0.05))
    try:
        runner.offer(make_alert())
        (record,) = wait_for(lambda: records_of(outbox, "hook"), message="the failed run's record")
    finally:
        runner.stop()
    assert record["outcome"] == "failed" and record["attempts"] == 3 and record["status_code"] == 500
    assert "HTTP 500" in record["error"] and len(target.of_kind("fail")) == 3
    assert schema_problems(record) == []


def test_a_silent_target_times_out_while_alerts_are_stored_and_other_actions_run(target, tmp_path, outbox):
    runner = start_runner(
        outbox,
        http_action(f"{target.url}/hang/x", name="silent", timeout=1.0, retries=1, retry_delay=0.05),
        http_action(f"{target.url}/ok/x", name="fine", on=[{"rule": "later"}]),
    )
    state = StateStore.beside(tmp_path / "outbox.db")
    sink = EpisodeSink(outbox, state)
    sink.listen(runner.offer)
    try:
        sink.emit(make_alert())
        wait_for(lambda: target.holding, message="the silent target to hold the request")
        later = [make_alert(rule="later", phase="instant") for _ in range(3)]
        for alert in later:
            sink.emit(alert)  # stored and offered while the silent target holds the first try
        assert target.holding and all(outbox.get(alert.event_id) for alert in later)
        fine = wait_for(lambda: len(records_of(outbox, "fine")) == 3 and records_of(outbox, "fine"), message="fine")
        (silent,) = wait_for(lambda: records_of(outbox, "silent"), timeout=10, message="the timeout record")
    finally:
        runner.stop()
        state.close()
    assert [record["outcome"] for record in fine] == ["ok"] * 3
    assert max(record["finished_at"] for record in fine) < silent["finished_at"]
    assert silent["outcome"] == "timeout" and silent["attempts"] == 2 and len(target.of_kind("hang")) == 2
    assert schema_problems(silent) == [] and all(schema_problems(record) == [] for record in fine)


def test_the_deadline_is_total_even_when_the_target_drips(target):
    attempt = kind(f"{target.url}/drip/x").run(fields(), timeout=1.0)
    assert attempt.timed_out and not attempt.ok and "within 1 s" in attempt.error


@pytest.fixture
def tls_dripper():
    """A TCP server that answers a TLS ClientHello with the header of a 16 KiB handshake record, then one byte of it
    every 0.1 s: each read returns in time, the handshake never ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(b"\x16\x03\x03\x40\x00")
            while not stop.wait(0.1):
                try:
                    connection.sendall(b"\x00")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def test_the_deadline_covers_a_tls_handshake_the_target_drips(tls_dripper):
    action = kind(f"https://127.0.0.1:{tls_dripper}/x")
    attempts = []
    trying = threading.Thread(target=lambda: attempts.append(action.run(fields(), timeout=1.0)), daemon=True)
    trying.start()
    trying.join(20)  # unbounded, the handshake would take half an hour
    assert attempts and attempts[0].timed_out and "within 1 s" in attempts[0].error


def test_a_closed_port_fails_clearly():
    attempt = kind("http://127.0.0.1:9/ok").run(fields(), timeout=2)
    assert not attempt.ok and not attempt.timed_out and "refused" in attempt.error


def test_hostile_alert_content_arrives_as_data_only(target):
    action = kind(
        f"{target.url}/ok/{{zone}}?m={{message}}&t={{type}}",
        headers={"X-Zone": "{zone}", "X-Fixed": "fixed"},
        body={"zone": "{zone}", "note": "zone={zone}; message={message}", "count": "{count}"},
    )
    attempt = action.run(fields(zone=HOSTILE, message=HOSTILE + "\x00end"), timeout=5)
    assert attempt.ok
    (request,) = target.requests
    path, _, query = request.path.partition("?")
    assert path.count("/") == 2 and unquote(path.rsplit("/", 1)[1]) == HOSTILE
    assert parse_qsl(query, keep_blank_values=True, strict_parsing=True) == [
        ("m", HOSTILE + "\x00end"),
        ("t", "intrusion"),
    ]
    assert urlsplit(request.path).fragment == ""
    assert json.loads(request.body) == {
        "zone": HOSTILE,
        "note": f"zone={HOSTILE}; message={HOSTILE}\x00end",
        "count": 1,
    }
    names = sorted(name.lower() for name, _ in request.headers)
    assert names == ["content-length", "content-type", "host", "user-agent", "x-fixed", "x-zone"]
    assert request.header("X-Zone").encode("latin-1").decode("utf-8") == HOSTILE.replace("\r", " ").replace("\n", " ")
    assert request.header("X-Fixed") == "fixed"


def test_secret_headers_are_read_at_build_sent_and_never_shown(target, tmp_path, outbox, caplog):
    secret = tmp_path / "token"
    secret.write_text("s3cret-token-value\n")
    caplog.set_level(logging.DEBUG)
    runner = start_runner(
        outbox, http_action(f"{target.url}/fail/x", secret_headers={"Authorization": str(secret)}, retries=0)
    )
    secret.write_text("changed after the build")
    try:
        runner.offer(make_alert())
        (record,) = wait_for(lambda: records_of(outbox, "hook"), message="the record")
    finally:
        runner.stop()
    assert target.requests[0].header("Authorization") == "s3cret-token-value"
    assert "s3cret" not in json.dumps(record) and "s3cret" not in caplog.text


def test_tls_is_verified_by_default(tmp_path):
    action = kind("https://127.0.0.1:9/x")
    assert action._context.verify_mode.name == "CERT_REQUIRED" and action._context.check_hostname
    with pytest.raises(ActionBuildError, match="ca_file"):
        kind("https://127.0.0.1:9/x", ca_file=str(tmp_path / "missing.pem"))


@pytest.mark.parametrize(
    "settings, complaint",
    [
        ({"url": "http://{zone}.local/x"}, "host and port must be fixed"),
        ({"url": "http://user:pw@device/x"}, "secret_headers"),
        ({"url": "ftp://device/x"}, "http:// or https://"),
        ({"url": "http://device/{nope}"}, "unknown field {nope}"),
        ({"headers": {"Content-Length": "1"}}, "set by the agent"),
        ({"headers": {"X-A": "a\r\nX-B: b"}}, "line break"),
        ({"headers": {"Bad Name": "x"}}, "not an HTTP header name"),
        ({"body": {"a": "{zone"}}, "unbalanced"),
        ({"rate_limit": {"count": 1_000_000, "per": 86_400}}, "less than or equal to 10000"),  # kept: 1 time per run
    ],
)
def test_unsafe_http_configs_are_refused(settings, complaint):
    with pytest.raises(ValidationError, match=re.escape(complaint)):
        action_configs({**http_action("http://device/x"), **settings})


def test_credentials_in_plain_headers_are_redacted_in_get_config(tmp_path):
    """docs say tokens go in secret_headers; one put in `headers` anyway must not leave the box with get-config."""
    (tmp_path / "key").write_text("k3y\n")
    config = AgentConfig.model_validate(
        {
            "device": {"id": "dev-1", "site": "site-1"},
            "actions": [
                http_action(
                    "http://10.0.0.9/x",
                    headers={"Authorization": "Bearer abc", "Cookie": "s=1", "X-Api-Key": "k", "X-Zone": "{zone}"},
                    secret_headers={"X-Device-Key": str(tmp_path / "key")},
                    on=[{"type": "door.forced"}],
                )
            ],
        }
    )
    action = redact(config.model_dump(mode="json"))["actions"][0]
    assert action["headers"] == {
        "Authorization": REDACTED,
        "Cookie": REDACTED,
        "X-Api-Key": REDACTED,
        "X-Zone": "{zone}",
    }
    assert action["secret_headers"] == {"X-Device-Key": str(tmp_path / "key")}  # a path, not the secret
