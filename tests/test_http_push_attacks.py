"""Hostile clients against the HTTP push receiver, over real sockets (finding F7).

Slowloris: ten connections dripping a request head a byte at a time held every handler slot,
and signed events were answered 503 for as long as they dripped; now the real daemon stores a
signed event and answers it while they drip. Clients that reconnect faster than any deadline
are evicted oldest-first when the open connections are full. Each request has one total
deadline (head and body), however its bytes are spread out. A head that frames its body two
ways (Content-Length with Transfer-Encoding, or Content-Length twice) is refused, not guessed
at. A bounded fuzzer feeds the head parser and the live receiver hostile bytes.
"""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.clock import SystemClock
from edge_agent.config.access_adapters import HttpPushAdapterConfig
from edge_agent.sources.access.base import Rejected
from edge_agent.sources.access.http_push import HttpPushAdapter
from edge_agent.sources.access.http_wire import head_length, parse_head
from edge_agent.sources.access.signing import sign
from tests.support.broker import free_port
from tests.support.daemon import Daemon, Watcher, base_config
from tests.support.fuzz import fuzz_settings
from tests.support.wait import wait_for
from tests.test_access_common import EventLog, tokenizer
from tests.test_daemon_access import SECRET, access_section

GRANT = json.dumps({"type": "access.granted", "reader": "r1", "card": "12345678"}).encode()
_SEQUENCE = itertools.count()


def grant() -> bytes:
    """A grant no earlier request signed (an identical signed request in the same second is a replay)."""
    return json.dumps({"type": "access.granted", "reader": "r1", "codes": {"seq": next(_SEQUENCE)}}).encode()


def signed_headers(body: bytes, secret: bytes = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {"X-Timestamp": stamp, "X-Signature": sign(secret, stamp, body), "Content-Type": "application/json"}


def post(port: int, body: bytes, timeout: float = 5.0) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/events", body=body, headers=signed_headers(body))
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def exchange(port: int, raw: bytes, timeout: float = 5.0) -> bytes:
    """Send `raw`, half-close, and read the reply to EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # refused before we finished sending: the reply is still there to read
            pass
        chunks = []
        while chunk := _recv(sock):
            chunks.append(chunk)
        return b"".join(chunks)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""


def final_reply(raw: bytes) -> tuple[int, dict] | None:
    """Status and JSON body of the last response in `raw` (an interim 100 Continue skipped); None if there is none."""
    while raw.startswith(b"HTTP/1.1 100 "):
        raw = raw.split(b"\r\n\r\n", 1)[1]
    if not raw:
        return None
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


class Drippers:
    """`count` Slowloris clients, each dripping an endless request head a byte every `every` s; cut off, they return."""

    HEAD = b"POST /events HTTP/1.1\r\nHost: controller\r\nContent-Type: application/json\r\nX-Pad: "

    def __init__(self, port: int, count: int, every: float):
        self._port, self._every = port, every
        self._sockets: list[socket.socket | None] = [None] * count
        self._positions = [0] * count
        self.sent = 0
        self.connects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drippers", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for index in range(len(self._sockets)):
                self._drip(index)
            self._stop.wait(self._every)

    def _drip(self, index: int) -> None:
        sock = self._sockets[index]
        try:
            if sock is None:
                sock = self._sockets[index] = socket.create_connection(("127.0.0.1", self._port), timeout=2)
                self._positions[index] = 0
                self.connects += 1
            position = self._positions[index]
            sock.send(self.HEAD[position : position + 1] or b"a")
            self._positions[index] += 1
            self.sent += 1
        except OSError:  # cut off (answered, evicted, timed out): come back, as an attacker does
            if sock is not None:
                sock.close()
            self._sockets[index] = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self._sockets:
            if sock is not None:
                sock.close()


@pytest.fixture
def drippers() -> Iterator[list[Drippers]]:
    started: list[Drippers] = []
    yield started
    for group in started:
        group.close()


@pytest.fixture
def receiver(tmp_path):
    (tmp_path / "hmac").write_bytes(SECRET + b"\n")
    started: list[HttpPushAdapter] = []

    def make(**overrides) -> tuple[HttpPushAdapter, EventLog]:
        config = HttpPushAdapterConfig.model_validate(
            {
                "type": "http_push",
                "id": "push-1",
                "port": 0,
                "default_door": "main-gate",
                "max_body_bytes": 4096,
                "auth": {"hmac_secret_file": str(tmp_path / "hmac"), "replay_window": 60},
                **overrides,
            }
        )
        events = EventLog()
        adapter = HttpPushAdapter(config, events, SystemClock(), tokenizer())
        adapter.start()
        started.append(adapter)
        return adapter, events

    yield make
    for adapter in started:
        adapter.stop()


def test_ten_drippers_do_not_keep_a_signed_event_out_of_the_daemon(tmp_path, mosquitto, drippers):
    port = free_port()
    access = access_section(tmp_path, port)
    access["adapters"][0]["max_connections"] = 8  # the finding's set-up: ten drippers, eight handler slots
    config = base_config(tmp_path / "state", mosquitto.port, access=access)
    watcher = Watcher(mosquitto.port)
    daemon = Daemon(tmp_path / "agent", config).start()
    try:
        assert watcher.wait_ready()["ok"]
        group = Drippers(port, count=10, every=0.3)
        drippers.append(group)
        wait_for(lambda: group.sent >= 40, timeout=10, message="ten connections dripping")
        # Answered within 2 s (the client gives up after that), while all ten drip.
        status, reply = post(port, json.dumps({"type": "door.forced", "codes": {"seq": 1}}).encode(), timeout=2)
        assert (status, reply.get("accepted")) == (200, 1), reply
        assert group.connects == 10, "the drippers were not simply cut off: all ten kept their connections"
        [alert] = wait_for(lambda: watcher.payloads("alerts/door.forced"), timeout=15, message="door.forced stored")
        assert alert["source"] == {"kind": "door", "id": "main-gate"}
    finally:
        watcher.close()
        daemon.stop()
    assert "Traceback" not in daemon.log()


def test_drippers_cycling_past_the_open_connection_limit_are_evicted_oldest_first(receiver, drippers):
    adapter, events = receiver(max_open_connections=12, max_connections=2)
    group = Drippers(adapter.port, count=30, every=0.2)  # more than fit: each reconnect evicts the oldest
    drippers.append(group)
    wait_for(lambda: adapter.counters.get("rejected.evicted", 0) >= 30, timeout=15, message="drippers evicted")
    assert post(adapter.port, grant(), timeout=2)[0] == 200
    assert len(events) == 1 and adapter.counters.get("rejected.busy", 0) == 0


def test_connections_over_the_limit_evict_the_oldest_incomplete_one(receiver):
    adapter, events = receiver(max_open_connections=3)
    idle = [socket.create_connection(("127.0.0.1", adapter.port), timeout=5) for _ in range(3)]
    try:
        idle[0].sendall(b"POST /eve")  # the oldest: half a request line
        assert post(adapter.port, grant())[0] == 200
        reply = final_reply(idle[0].recv(4096))
        assert reply == (503, {"ok": False, "reason": "evicted", "detail": reply[1]["detail"]})
        assert "3 connections were open" in reply[1]["detail"]
        assert adapter.counters["rejected.evicted"] == 1 and len(events) == 1
    finally:
        for sock in idle:
            sock.close()


def test_a_request_has_one_total_deadline_however_its_bytes_are_spread(receiver):
    adapter, events = receiver(request_timeout=1.5)
    sock = socket.create_connection(("127.0.0.1", adapter.port), timeout=10)
    stop = threading.Event()

    def drip() -> None:  # a byte every 0.2 s: each read is prompt, the request never completes
        head = b"POST /events HTTP/1.1\r\nHost: controller\r\nX-Pad: " + b"a" * 1000
        for byte in head:
            if stop.wait(0.2):
                return
            try:
                sock.send(bytes([byte]))
            except OSError:
                return

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        reply = final_reply(sock.recv(4096))  # blocks until the receiver answers (10 s socket timeout)
        assert reply is not None and reply[0] == 408 and reply[1]["reason"] == "timeout"
        assert "within 1.5 s" in reply[1]["detail"]
        assert adapter.counters["rejected.timeout"] == 1
    finally:
        stop.set()
        dripper.join(5)
        sock.close()
    assert post(adapter.port, grant())[0] == 200 and len(events) == 1


def _raw_request(headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = ["POST /events HTTP/1.1", "Host: controller", *(f"{name}{value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


@pytest.mark.parametrize(
    ("framing", "chunked", "status", "reason"),
    [
        ([("Content-Length: ", "{n}"), ("Transfer-Encoding: ", "chunked")], False, 400, "ambiguous_length"),
        ([("Transfer-Encoding: ", "chunked"), ("Content-Length: ", "{n}")], True, 400, "ambiguous_length"),
        ([("Content-Length: ", "{n}"), ("Transfer-Encoding: ", "gzip")], False, 400, "ambiguous_length"),
        ([("Content-Length: ", "{n}"), ("Content-Length: ", "{n}")], False, 400, "ambiguous_length"),
        ([("Transfer-Encoding: ", "chunked")], True, 411, "length_required"),
        ([("Transfer-Encoding: ", "identity"), ("Content-Length: ", "{n}")], False, 400, "ambiguous_length"),
        ([("Content-Length: ", "{n}"), ("Transfer-Encoding : ", "chunked")], False, 400, "malformed"),
        ([("Content-Length: ", "{n}"), ("X-Note: ", "a\r\n Transfer-Encoding: chunked")], False, 400, "malformed"),
    ],
    ids=["cl-then-te", "te-then-cl", "cl-te-gzip", "cl-twice", "te-only", "te-identity", "space-colon", "folded"],
)
def test_a_body_framed_two_ways_is_refused_and_counted(receiver, framing, chunked, status, reason):
    adapter, events = receiver()
    body = _chunked(GRANT) if chunked else GRANT
    signature = [(f"{name}: ", value) for name, value in signed_headers(GRANT).items()]
    headers = [(name, value.format(n=len(body))) for name, value in framing] + signature
    reply = final_reply(exchange(adapter.port, _raw_request(headers, body)))
    assert reply is not None and (reply[0], reply[1].get("reason")) == (status, reason), reply
    assert adapter.counters[f"rejected.{reason}"] == 1 and len(events) == 0
    assert post(adapter.port, grant())[0] == 200 and len(events) == 1  # still serving


# -- fuzzing -------------------------------------------------------------

HEADER_NAMES = ["Content-Length", "Transfer-Encoding", "Expect", "X-Signature", "X-Timestamp", "Content-Type", "Host"]
HEADER_VALUES = ["0", "5", "-1", "99999999999999999999", "chunked", "100-continue", "sha256=00", "\x00", "a\r\n b", ""]
REFUSAL_REASONS = {
    "malformed",
    "ambiguous_length",
    "headers_too_large",
    "length_required",
    "oversized",
    "truncated",
    "wrong_path",
    "wrong_method",
    "missing_auth",
    "bad_signature",
    "bad_token",
    "expired",
    "replayed",
    "invalid_event",
    "timeout",
}
ALLOWED_5XX = {"busy", "evicted", "store_unavailable"}


def mostly(usual: list, unusual: list) -> st.SearchStrategy:
    """`usual` values three times in four, so most requests get past the first check and reach the later ones."""
    return st.one_of(st.sampled_from(usual), st.sampled_from(usual), st.sampled_from(usual), st.sampled_from(unusual))


header_lines = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(HEADER_NAMES), st.sampled_from(HEADER_NAMES), st.text(max_size=12)),
        mostly([": "], [":", " : ", ":\t"]),
        st.one_of(st.sampled_from(HEADER_VALUES), st.text(max_size=20)),
    ),
    max_size=4,
)
request_lines = st.tuples(
    mostly(["POST"], ["GET", "PUT", "P OST", "", "post"]),
    mostly(["/events", "/events?x=1"], ["/", "*", "/ev ents", "/événements", ""]),
    mostly(["HTTP/1.1", "HTTP/1.0"], ["HTTP/2.0", "HTTP/1.1 extra", ""]),
)


@st.composite
def plausible_requests(draw) -> bytes:
    """A controller's POST with one thing off: the body, its length, a stray header, the signature."""
    body = draw(st.one_of(st.just(GRANT), st.builds(grant), st.binary(max_size=60), st.just(b"x" * 300)))
    stamp = str(int(time.time()) + draw(st.sampled_from([0, 0, 0, -3600])))
    signature = sign(SECRET, stamp, body) if draw(st.integers(0, 3)) else "sha256=" + "0" * 64
    length = len(body) + draw(st.sampled_from([0, 0, 0, -1, 1, 10**6]))
    headers = [f"Content-Length: {max(length, 0)}", f"X-Timestamp: {stamp}", f"X-Signature: {signature}"]
    headers += draw(
        st.lists(
            st.sampled_from(
                [
                    "Expect: 100-continue",
                    "Content-Type: multipart/form-data",
                    "Transfer-Encoding: chunked",
                    "Authorization: Bearer x",
                ]
            ),
            max_size=2,
            unique=True,
        )
    )
    head = "\r\n".join(["POST /events HTTP/1.1", "Host: controller", *draw(st.permutations(headers))])
    return head.encode() + b"\r\n\r\n" + body


@st.composite
def hostile_requests(draw) -> bytes:
    """Odd request lines, headers, line endings and body lengths."""
    method, target, version = draw(request_lines)
    headers = [f"{name}{colon}{value}" for name, colon, value in draw(header_lines)]
    if draw(st.booleans()):  # a signed, well-framed body the receiver may accept
        body = draw(st.one_of(st.just(GRANT), st.binary(max_size=60)))
        stamp = str(int(time.time()))
        headers += [
            f"Content-Length: {len(body)}",
            f"X-Timestamp: {stamp}",
            f"X-Signature: {sign(SECRET, stamp, body)}",
        ]
    else:
        body = draw(st.binary(max_size=80))
    newline = draw(mostly(["\r\n"], ["\n", "\r"]))
    head = newline.join([f"{method} {target} {version}", *headers]) + newline + newline
    return draw(st.sampled_from(["", "\r\n"])).encode() + head.encode("utf-8", "surrogatepass") + body


raw_requests = st.one_of(plausible_requests(), hostile_requests(), st.binary(max_size=300))


@pytest.mark.fuzz
@fuzz_settings(300)
@given(data=raw_requests)
def test_the_head_parser_refuses_with_a_known_reason_or_parses(data):
    try:
        size = head_length(data.lstrip(b"\r\n"))
        if size is not None:
            head = parse_head(data.lstrip(b"\r\n")[:size])
            assert head.version in ("HTTP/1.0", "HTTP/1.1") and " " not in head.target
    except Rejected as error:
        assert error.reason in {"malformed", "ambiguous_length", "headers_too_large"}, error


@pytest.mark.fuzz
@fuzz_settings(200)
@given(raw=raw_requests)
def test_the_live_receiver_answers_hostile_bytes_with_documented_codes(receiver, raw):
    adapter = _fuzzed_receiver(receiver)
    before = adapter.counters
    reply = final_reply(exchange(adapter.port, raw))
    after = adapter.counters
    if reply is None:  # only a connection that sent no request at all is closed without a word
        assert not raw.strip(b"\r\n"), raw
        return
    status, body = reply
    assert status < 500 or body["reason"] in ALLOWED_5XX, body
    if status >= 400:
        reason = body["reason"]
        assert reason in REFUSAL_REASONS | ALLOWED_5XX, body
        assert after.get(f"rejected.{reason}", 0) == before.get(f"rejected.{reason}", 0) + 1, (body, after)
    assert adapter.counters.get("internal_errors", 0) == 0
    assert post(adapter.port, grant())[0] == 200  # still serving


_FUZZED: list = []  # [the fixture's factory, the adapter it made]: held, so a factory's id is never reused


def _fuzzed_receiver(receiver) -> HttpPushAdapter:
    """One receiver for every example of a run (hypothesis calls the test many times with one fixture)."""
    if not _FUZZED or _FUZZED[0] is not receiver:
        _FUZZED[:] = [receiver, receiver(request_timeout=2, max_body_bytes=256)[0]]
    return _FUZZED[1]
