"""The `http` action toward a host given by name: the lookup is bounded by the try's deadline, and the
request still names the configured host (Host header; over TLS, SNI and the certificate check)."""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edge_agent.actions.http import HttpKind
from edge_agent.events.action import alert_fields
from tests.support.actions import action_configs, make_alert
from tests.support.broker import _openssl, make_ca
from tests.support.http_target import HttpTarget


def kind(url: str, **settings) -> HttpKind:
    action = {"name": "hook", "kind": "http", "url": url, "on": [{"rule": "anyone"}], **settings}
    return HttpKind(action_configs(action)[0])


def fields() -> dict:
    return alert_fields(make_alert(), "hook")


def test_a_host_by_name_is_looked_up_and_named_in_the_host_header():
    target = HttpTarget()
    try:
        attempt = kind(f"http://localhost:{target.port}/ok/x").run(fields(), timeout=5)
        assert attempt.ok, attempt.error
        (request,) = target.requests
        assert request.header("Host") == f"localhost:{target.port}"
    finally:
        target.close()


def test_a_lookup_that_hangs_ends_the_try_at_its_deadline(monkeypatch):
    release = threading.Event()
    real_getaddrinfo = socket.getaddrinfo

    def hanging_resolver(host, *args, **kwargs):
        if host == "speaker.lan":
            release.wait(30)  # a resolver with the uplink down: no answer for a long time
        return real_getaddrinfo("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging_resolver)
    try:
        attempt = kind("http://speaker.lan:9/play").run(fields(), timeout=0.5)
        assert not release.is_set()  # the try returned while the lookup was still hanging
        assert attempt.timed_out and not attempt.ok
    finally:
        release.set()


def _localhost_only_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate valid for the name `localhost` only (no IP address in it)."""
    ca_cert, ca_key = make_ca(directory, "ca")
    key, csr, cert, ext = (directory / f"server.{suffix}" for suffix in ("key", "csr", "crt", "ext"))
    ext.write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n")
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key), cwd=directory)
    _openssl("req", "-new", "-key", str(key), "-subj", "/CN=localhost", "-out", str(csr), cwd=directory)
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", "1", "-extfile", str(ext), "-out", str(cert), cwd=directory,
    )  # fmt: skip
    return ca_cert, cert, key


@pytest.fixture
def tls_target(tmp_path):
    ca, cert, key = _localhost_only_cert(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(self.headers.get("Host"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    class TlsServer(ThreadingHTTPServer):
        def get_request(self):
            connection, address = super().get_request()
            return context.wrap_socket(connection, server_side=True), address

    server = TlsServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield ca, server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_tls_to_a_host_by_name_checks_the_certificate_against_that_name(tls_target):
    ca, port, seen = tls_target
    attempt = kind(f"https://localhost:{port}/alert", ca_file=str(ca)).run(fields(), timeout=5)
    assert attempt.ok, attempt.error
    assert seen == [f"localhost:{port}"]
    # the same server by address: its certificate names only `localhost`, so verification refuses it
    refused = kind(f"https://127.0.0.1:{port}/alert", ca_file=str(ca)).run(fields(), timeout=5)
    assert not refused.ok and "certificate" in refused.error
