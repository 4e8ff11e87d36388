"""HTTP push receiver over real HTTP: each kind of request gets its status code and its counter."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from edge_agent.clock import SystemClock
from edge_agent.config.access_adapters import HttpPushAdapterConfig
from edge_agent.sources.access.http_push import HttpPushAdapter
from edge_agent.sources.access.signing import sign
from tests.test_access_common import EventLog, tokenizer

SECRET = b"push secret shared with the controller"
BEARER = "bearer-token-for-the-controller"


@pytest.fixture
def push(tmp_path):
    (tmp_path / "hmac").write_bytes(SECRET + b"\n")
    (tmp_path / "bearer").write_text(BEARER + "\n")

    def make(**overrides):
        config = HttpPushAdapterConfig.model_validate(
            {
                "type": "http_push",
                "id": "push-1",
                "port": 0,
                "default_door": "main-gate",
                "max_body_bytes": 1024,
                "auth": {
                    "hmac_secret_file": str(tmp_path / "hmac"),
                    "bearer_token_file": str(tmp_path / "bearer"),
                    "replay_window": 60,
                },
                **overrides,
            }
        )
        events = EventLog()
        adapter = HttpPushAdapter(config, events, SystemClock(), tokenizer())
        adapter.start()
        started.append(adapter)
        return adapter, events

    started: list[HttpPushAdapter] = []
    yield make
    for adapter in started:
        adapter.stop()


def post(adapter, body: bytes, headers: dict | None = None, path: str = "/events", method: str = "POST"):
    connection = http.client.HTTPConnection("127.0.0.1", adapter.port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def _post_status(adapter, body: bytes) -> int | None:
    """The status of a signed POST, or None when a still-busy receiver answered 503 and hung up mid-body."""
    try:
        return post(adapter, body, signed(body))[0]
    except ConnectionError:
        return None


def signed(body: bytes, timestamp: float | None = None, secret: bytes = SECRET) -> dict:
    stamp = str(int(time.time() if timestamp is None else timestamp))
    return {"X-Timestamp": stamp, "X-Signature": sign(secret, stamp, body), "Content-Type": "application/json"}


GRANT = json.dumps({"type": "access.granted", "reader": "r1", "card": "12345678"}).encode()


def test_signed_request_is_accepted_and_emitted(push):
    adapter, events = push()
    status, reply = post(adapter, GRANT, signed(GRANT))
    assert (status, reply["accepted"]) == (200, 1)
    [event] = events.events
    assert event.type == "access.granted" and event.door == "main-gate"
    assert event.credential_token == tokenizer().card("12345678")
    assert adapter.counters["events"] == 1 and adapter.online


def test_bad_signature_is_401_and_counted(push):
    adapter, events = push()
    status, reply = post(adapter, GRANT, signed(GRANT, secret=b"wrong secret"))
    assert (status, reply["reason"]) == (401, "bad_signature")
    tampered = signed(GRANT)
    status, _ = post(adapter, GRANT.replace(b"12345678", b"12345679"), tampered)
    assert status == 401
    assert adapter.counters["rejected.bad_signature"] == 2 and len(events) == 0


def test_expired_timestamp_is_401_with_reason(push):
    adapter, events = push()
    status, reply = post(adapter, GRANT, signed(GRANT, timestamp=time.time() - 3600))
    assert (status, reply["reason"]) == (401, "expired")
    assert "replay window" in reply["detail"]
    assert adapter.counters["rejected.expired"] == 1 and len(events) == 0


def test_replayed_request_is_409(push):
    adapter, events = push()
    headers = signed(GRANT)
    assert post(adapter, GRANT, headers)[0] == 200
    status, reply = post(adapter, GRANT, headers)
    assert (status, reply["reason"]) == (409, "replayed")
    assert adapter.counters["rejected.replayed"] == 1 and len(events) == 1


def test_oversized_body_is_413(push):
    adapter, events = push()
    body = json.dumps({"events": [json.loads(GRANT)] * 40}).encode()
    assert len(body) > 1024
    status, reply = post(adapter, body, signed(body))
    assert (status, reply["reason"]) == (413, "oversized")
    assert adapter.counters["rejected.oversized"] == 1 and len(events) == 0


@pytest.mark.parametrize(
    ("body", "reason", "detail"),
    [
        (b'{"type": "access.granted", ', "malformed", "invalid JSON"),
        (b"\xff\xfe{}", "malformed", "UTF-8"),
        (b'{"type": "door.exploded"}', "invalid_event", "body.type"),
        (b"[]", "invalid_event", "empty event list"),
    ],
)
def test_malformed_body_is_400_with_reason(push, body, reason, detail):
    adapter, events = push()
    status, reply = post(adapter, body, signed(body))
    assert (status, reply["reason"]) == (400, reason)
    assert detail in json.dumps(reply)
    assert adapter.counters[f"rejected.{reason}"] == 1 and len(events) == 0


def test_batch_keeps_good_events_and_reports_bad_ones(push):
    adapter, events = push()
    body = json.dumps({"events": [json.loads(GRANT), {"type": "nope"}, {"type": "door.opened"}]}).encode()
    status, reply = post(adapter, body, signed(body))
    assert (status, reply["accepted"]) == (200, 2)
    assert [r["at"] for r in reply["rejected"]] == ["body.events[1]"]
    assert [e.type for e in events.events] == ["access.granted", "door.opened"]


def test_bearer_token_and_missing_credentials(push):
    adapter, events = push()
    assert post(adapter, GRANT, {"Authorization": f"Bearer {BEARER}"})[0] == 200
    status, reply = post(adapter, GRANT, {"Authorization": "Bearer guess"})
    assert (status, reply["reason"]) == (401, "bad_token")
    status, reply = post(adapter, GRANT)
    assert (status, reply["reason"]) == (401, "missing_auth")
    assert len(events) == 1


def test_wrong_path_and_method(push):
    adapter, _ = push()
    assert post(adapter, GRANT, signed(GRANT), path="/other")[0] == 404
    assert post(adapter, b"", method="GET")[0] == 405
    assert adapter.counters["rejected.wrong_path"] == 1


def test_hikvision_multipart_post_with_picture(push):
    adapter, events = push(format="hikvision", hikvision_doors={2: "main-gate"}, max_body_bytes=8192)
    document = {
        "eventType": "AccessControllerEvent",
        "dateTime": "2026-01-01T08:00:00+08:00",
        "AccessControllerEvent": {"majorEventType": 5, "subEventType": 0x1B, "doorNo": 2, "cardReaderNo": 1},
    }
    boundary = "MIME_boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="AccessControllerEvent"\r\n'
            f"Content-Type: application/json\r\n\r\n{json.dumps(document)}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="Picture"; filename="face.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + b"\xff\xd8\xff" * 100
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = signed(body)
    headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    status, reply = post(adapter, body, headers)
    assert status == 200, reply
    [event] = events.events
    assert (event.type, event.door, event.raw["minor"]) == ("door.forced", "main-gate", 0x1B)


def test_slow_and_broken_clients_do_not_stop_the_receiver(push):
    adapter, events = push()
    import socket

    with socket.create_connection(("127.0.0.1", adapter.port)) as sock:  # promises 500 bytes, sends 10, hangs up
        sock.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n0123456789")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    assert adapter.counters["rejected.truncated"] == 1
    assert post(adapter, GRANT, signed(GRANT))[0] == 200 and len(events) == 1


def test_idle_connections_hold_no_thread_and_busy_handlers_answer_503(push):
    """Open connections cost a socket, not a thread; complete requests beyond max_connections are answered 503."""
    import socket
    import threading

    from tests.support.wait import wait_for

    release = threading.Event()
    adapter, events = push(max_connections=1)

    def slow_consumer(event):  # holds the only handler until released
        release.wait(10)
        events(event)

    adapter.rebind(slow_consumer)
    threads_before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", adapter.port)) for _ in range(40)]
    try:
        for sock in idle:  # half a request line each
            sock.sendall(b"POST /eve")
        wait_for(lambda: adapter.loops > 5, message="the receiver turning")
        assert threading.active_count() == threads_before, "an incomplete request holds no thread"
        first: list = []
        holder = threading.Thread(target=lambda: first.append(_post_status(adapter, GRANT)))
        holder.start()
        wait_for(lambda: threading.active_count() > threads_before + 1, message="the first request in its handler")
        second = json.dumps({"type": "door.opened", "reader": "r1"}).encode()
        status, reply = post(adapter, second, signed(second))
        assert (status, reply["reason"]) == (503, "busy") and adapter.counters["rejected.busy"] == 1
        release.set()
        holder.join(10)
        assert first == [200] and len(events) == 1
    finally:
        release.set()
        for sock in idle:
            sock.close()
    assert _post_status(adapter, second) == 200 and len(events) == 2
