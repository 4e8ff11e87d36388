"""The technician's page under attack, over real TCP against the real daemon (a subprocess).

Each test is one finding of the attacker's review, reproduced as the attacker did it: forged
X-Forwarded-For (F5), a huge body (F6), hostile JSON (F13), a foreign Host (DNS rebinding), and
clients that drip their request byte by byte (slowloris). The daemon must answer each with a
clear 4xx, log no traceback and go on serving everyone else.
"""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from tests.support.broker import Mosquitto
from tests.support.wait import wait_for
from tests.support.web import PASSWORD
from tests.support.web_daemon import PageDaemon, memory_kb, read_reply, status_of

TRUSTED_PROXY = "127.0.0.9"  # a loopback address of its own: connections from it stand for a reverse proxy
REQUEST_TIMEOUT = 2.0
HUGE = 300 * 2**20  # the review's body: 300 MB


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("web-attacks")
    broker = Mosquitto(workdir / "broker").start()
    running = PageDaemon(
        workdir,
        broker.port,
        live_view=False,
        login_max_failures=3,
        login_window=2,
        request_timeout=REQUEST_TIMEOUT,
        trusted_proxies=[TRUSTED_PROXY],
        allowed_hosts=["edge-box.example"],
    )
    yield running
    code = running.stop()
    broker.stop()
    log = running.log()
    assert code == 0 and "Traceback" not in log, log[-3000:]


def login_failures(page: PageDaemon) -> list[dict]:
    return [entry for entry in page.audit() if entry["action"] == "login_failed"]


def test_f5_forwarded_for_from_an_ssh_tunnel_client_neither_escapes_the_lock_out_nor_forges_the_audit(page):
    attacker = page.client()  # from 127.0.0.1, where every SSH-tunnel client comes from
    before = len(login_failures(page))
    statuses = [
        attacker.post(
            "/api/login", json={"password": f"guess {i}"}, headers={"X-Forwarded-For": f"203.0.113.{i}"}
        ).status_code
        for i in range(4)
    ]
    assert statuses == [401, 401, 401, 429]  # the fourth is locked out whatever address it claims
    assert {entry["address"] for entry in login_failures(page)[before:]} == {"127.0.0.1"}
    assert wait_for(  # the window (2 s) passes, and the technician gets in again
        lambda: page.client().post("/api/login", json={"password": PASSWORD}).status_code == 200,
        timeout=15,
        interval=0.5,
        message="the lock-out to end",
    )


def test_f5_a_configured_trusted_proxy_s_forwarded_address_is_believed(page):
    proxy = page.client(transport=httpx.HTTPTransport(local_address=TRUSTED_PROXY))
    before = len(login_failures(page))
    reply = proxy.post("/api/login", json={"password": "wrong"}, headers={"X-Forwarded-For": "198.51.100.7"})
    assert reply.status_code == 401
    assert [entry["address"] for entry in login_failures(page)[before:]] == ["198.51.100.7"]


def request_head(page: PageDaemon, method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {page.host}:{page.port}", *headers, "", ""]
    return "\r\n".join(lines).encode()


@pytest.mark.parametrize("method, path", [("POST", "/api/login"), ("POST", "/api/validate"), ("GET", "/api/session")])
def test_f6_a_content_length_over_the_limit_is_refused_before_any_body_is_read(page, method, path):
    with page.connect() as sock:
        sock.sendall(request_head(page, method, path, "Content-Type: application/json", f"Content-Length: {HUGE}"))
        reply = read_reply(sock)  # nothing of the body is sent: the answer must come without it
    assert status_of(reply) == 413, reply[:300]
    assert b"too large" in reply and b"connection: close" in reply.lower()


def stream_chunked(sock: socket.socket, total: int, chunk: int = 64 * 1024) -> tuple[int, bytes]:
    """Send up to `total` bytes as a chunked body until the server answers or hangs up: (bytes sent, answer)."""
    data = b"[" * chunk
    framed = f"{chunk:x}\r\n".encode() + data + b"\r\n"
    sent = 0
    sock.settimeout(10)
    try:
        while sent < total:
            sock.sendall(framed)
            sent += chunk
            sock.setblocking(False)
            try:
                early = sock.recv(65536)
            except BlockingIOError:
                early = None
            finally:
                sock.settimeout(10)
            if early is not None:
                return sent, early + read_reply(sock)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent, read_reply(sock)


def test_f6_a_streamed_body_is_cut_off_at_the_limit_and_the_daemon_stays_small(page):
    before = memory_kb(page.pid)
    with page.connect() as sock:
        sock.sendall(
            request_head(page, "POST", "/api/login", "Content-Type: application/json", "Transfer-Encoding: chunked")
        )
        sent, reply = stream_chunked(sock, HUGE)
    after = memory_kb(page.pid)
    assert status_of(reply) == 413, reply[:300]
    assert sent < HUGE // 10  # the daemon stopped taking it long before the end
    grown_mb = {name: (after[name] - before[name]) / 1024 for name in before}
    assert grown_mb["VmHWM"] < 50 and grown_mb["VmRSS"] < 50, grown_mb  # the peak too, not only what is left
    assert page.client().get("/").status_code == 200


POINT_4000_DIGITS = '{"edit": {"cameras": [{"id": "c", "zones": {"z": {"points": [[1' + "0" * 4000 + ", 0]]}}}]}}"
HOSTILE_JSON = {
    "nested 1000 deep": ('{"edit": ' + "[" * 1000 + "]" * 1000 + "}", "nested"),
    "an int of 4000 digits": (POINT_4000_DIGITS, "digits"),
    "a float of 10**5000": ('{"edit": {"x": 1e5000}}', "number"),
    "NaN": ('{"edit": {"x": NaN}}', "NaN"),
    "an escaped NUL in a name": ('{"edit": {"cameras": [{"id": "a\\u0000b"}]}}', "control character"),
    "an escaped ESC in a key": ('{"edit": {"\\u001b[31m": 1}}', "control character"),
    "a lone surrogate": ('{"edit": {"cameras": [{"id": "\\ud800"}]}}', "surrogate"),
    "not UTF-8": (b'{"edit": "\xff"}', "UTF-8"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(HOSTILE_JSON))
def test_f13_hostile_json_gets_a_400_naming_the_problem_and_no_traceback(page, name):
    body, problem = HOSTILE_JSON[name]
    client, csrf = page.logged_in()
    headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf}
    content = body if isinstance(body, bytes) else body.encode()
    for path in ("/api/validate", "/api/login"):
        reply = client.post(path, content=content, headers=headers)
        assert reply.status_code == 400, (path, reply.status_code, reply.text[:300])
        assert problem.lower() in reply.json()["error"].lower(), reply.json()
    assert "Traceback" not in page.log()
    assert client.get("/api/session").status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8443", "127.0.0.1.nip.io", "localhost.evil.example"])
def test_a_foreign_host_header_is_refused_with_a_clear_message(page, host):
    client = page.client()
    for method, path in (("GET", "/"), ("GET", "/api/session"), ("POST", "/api/login")):
        reply = client.request(method, path, headers={"Host": host}, json={"password": PASSWORD})
        assert reply.status_code == 421, (method, path, reply.status_code)
        assert "web.allowed_hosts" in reply.json()["error"] and "set-cookie" not in reply.headers


def test_the_page_s_own_names_are_served(page):
    client = page.client()
    own = (
        f"127.0.0.1:{page.port}",
        f"localhost:{page.port}",
        "LOCALHOST.",
        "[::1]",
        "127.0.0.2",
        "edge-box.example:443",
    )
    for host in own:
        assert client.get("/", headers={"Host": host}).status_code == 200, host


def test_a_request_without_a_host_is_refused(page):
    with page.connect() as sock:
        sock.sendall(b"GET /api/session HTTP/1.0\r\n\r\n")
        reply = read_reply(sock)
    assert status_of(reply) == 421, reply[:300]


class Dripper:
    """A client that sends its request one byte at a time and never finishes (slowloris)."""

    def __init__(self, page: PageDaemon, start: bytes):
        self.sock = page.connect()
        self.sock.sendall(start)
        self.received = b""
        self.closed = threading.Event()

    def drip(self) -> None:
        """Reads what the server said, then sends one more byte; marks the connection closed once the server has."""
        if self.closed.is_set():
            return
        self.sock.setblocking(False)
        try:
            chunk = self.sock.recv(65536)  # before sending: a byte sent to a closed socket may reset the answer
            self.received += chunk
            if not chunk:
                self.closed.set()
                return
        except BlockingIOError:
            pass
        except OSError:  # reset: the server closed it
            self.closed.set()
            return
        try:
            self.sock.sendall(b"a")
        except OSError:
            self.closed.set()

    def close(self) -> None:
        self.sock.close()


def test_dripping_clients_are_cut_off_and_never_hold_the_page(page):
    heads = [Dripper(page, f"GET /api/session HTTP/1.1\r\nHost: {page.host}\r\nX-Slow: ".encode()) for _ in range(5)]
    body_head = request_head(page, "POST", "/api/login", "Content-Type: application/json", "Content-Length: 100000")
    bodies = [Dripper(page, body_head) for _ in range(5)]
    drippers = heads + bodies
    stop = threading.Event()

    def drip_all():
        while not stop.wait(0.2):
            for dripper in drippers:
                dripper.drip()

    thread = threading.Thread(target=drip_all, daemon=True)
    thread.start()
    try:
        client, _ = page.logged_in()  # while ten connections drip, the technician is served
        assert client.get("/api/session").status_code == 200
        assert client.get("/api/overview").status_code == 200
        wait_for(
            lambda: all(d.closed.is_set() for d in drippers),
            timeout=REQUEST_TIMEOUT * 5,
            message="the server to close every dripping connection",
        )
        # a late body is told so (a reset can overtake the answer when a byte crosses the server's close)
        answers = [status_of(d.received) for d in bodies if d.received]
        assert answers and set(answers) == {408}, [d.received[:80] for d in bodies]
        assert not any(d.received for d in heads)  # no head, no answer: the connection is just closed
    finally:
        stop.set()
        thread.join(5)
        for dripper in drippers:
            dripper.close()
    assert page.client().get("/").status_code == 200


def test_the_overlay_is_refused_with_the_live_view_off(page):
    """What the detector sees is part of the live view: with web.live_view false, no overlay either."""
    client, _ = page.logged_in()
    reply = client.get("/api/sight/anything")
    assert reply.status_code == 403 and "web.live_view: false" in reply.json()["error"]
