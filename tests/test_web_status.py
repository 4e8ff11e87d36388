"""The installed box tells a technician where its page is: the startup log and `edge-agent status` show the page's
URL and its TLS certificate's SHA-256 fingerprint (the real daemon as a subprocess, a certificate made by
`edge-agent web cert`, the fingerprint checked against one computed here from the certificate's DER bytes)."""

from __future__ import annotations

import hashlib
import re
import ssl
import subprocess
import sys

from tests.support.broker import Mosquitto
from tests.support.daemon import ROOT
from tests.support.web_daemon import PageDaemon


def edge_agent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", *args], capture_output=True, text=True, cwd=ROOT)


def test_the_startup_log_and_status_show_the_url_and_the_certificate_fingerprint(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = edge_agent("web", "cert", "--cert", str(cert), "--key", str(key), "--name", "localhost")
    assert made.returncode == 0, made.stderr
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.read_text())).hexdigest().upper()
    expected = ":".join(digest[i : i + 2] for i in range(0, 64, 2))
    assert f"SHA-256 fingerprint: {expected}" in made.stdout

    broker = Mosquitto(tmp_path / "broker").start()
    page = PageDaemon(tmp_path, broker.port, tls={"cert_file": str(cert), "key_file": str(key)})
    try:
        assert page.url.startswith("https://127.0.0.1:")
        assert re.search(rf"TLS certificate, SHA-256 fingerprint {expected}\b", page.log()), page.log()[-2000:]
        status = edge_agent("status", "--config", str(page.daemon.config_path))
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"page:    {page.url}\n" in status.stdout
        assert f"TLS certificate SHA-256 fingerprint: {expected}\n" in status.stdout
        assert f"running (pid {page.pid})" in status.stdout
    finally:
        assert page.stop() == 0
        broker.stop()
    stopped = edge_agent("status", "--config", str(page.daemon.config_path))
    assert stopped.returncode == 69  # EX_UNAVAILABLE: nothing serves the page now
    assert "not serving its page" in stopped.stdout and f"fingerprint: {expected}" in stopped.stdout


def test_status_without_tls_says_how_to_reach_the_page(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        f"device: {{id: dev-1, site: site-1, state_dir: {tmp_path / 'state'}}}\n"
        "mqtt: {host: 127.0.0.1}\nweb: {enabled: true, port: 8443}\n"
    )
    status = edge_agent("status", "--config", str(config))
    assert status.returncode == 69, status.stderr
    assert "page:    enabled; configured as http://127.0.0.1:8443/" in status.stdout
    assert "SSH tunnel" in status.stdout
