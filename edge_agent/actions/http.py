"""The `http` action: one request to a LAN device, with the standard library only (http.client).

The host and port are fixed in the config; templates fill only the path and query (percent-encoded),
header values (control characters removed) and the body (JSON values or text), so alert content is
data wherever it lands. One try has a hard deadline: a timer shuts the socket when `timeout` runs
out, however slowly the target drips its answer; a host given by name is looked up on a helper
thread bounded by the same deadline (the system resolver cannot be interrupted, and with the uplink
down it may wait far longer than any action should: the lookup is abandoned, not waited for).
Secret headers are read from their files once,
when the action is built, and never appear in a log line or an error.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from edge_agent import __version__
from edge_agent.actions.base import ActionBuildError, ActionEnv, Attempt, Fields
from edge_agent.actions.templates import render_header, render_json, render_text, render_url
from edge_agent.config.actions import HttpAction
from edge_agent.config.base import read_secret
from edge_agent.connection_errors import describe_connection_error

MAX_RESPONSE_BYTES = 64 * 1024  # read and discarded: the answer's status is what counts
_BODYLESS = ("GET", "DELETE")


@dataclass(frozen=True)
class HttpRequest:
    """One request as sent: `origin` (scheme, host, port: fixed by the config) and the rendered target, headers
    in the order they go out (http.client adds only `Host`), the body; `secret` names the secret headers."""

    method: str
    origin: str
    target: str
    headers: list[tuple[str, bytes]]
    body: bytes | None
    secret: frozenset[str]

    @property
    def url(self) -> str:
        return self.origin + self.target


class HttpKind:
    def __init__(self, config: HttpAction, env: ActionEnv | None = None):
        self.config = config
        scheme, rest = config.url.split("://", 1)
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        self._target_template = rest[cut:]
        self.origin = f"{scheme}://{rest[:cut]}"
        address = urlsplit(f"{scheme}://{rest[:cut]}")
        self._host = address.hostname
        self._port = address.port or (443 if scheme == "https" else 80)
        self._context = _tls_context(config) if scheme == "https" else None
        self._secrets = _read_secret_headers(config)
        self._own_content_type = any(name.lower() == "content-type" for name in config.headers)

    def run(self, fields: Fields, timeout: float) -> Attempt:
        deadline = time.monotonic() + timeout
        expired = threading.Event()
        connection: http.client.HTTPConnection | None = None
        timer: threading.Timer | None = None
        try:
            connection = self._connection(_resolve(self._host, self._port, timeout), timeout)
            connection.connect()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            connection.sock.settimeout(remaining)
            timer = threading.Timer(remaining, _abort, (connection, expired))
            timer.daemon = True
            timer.start()
            status, reason = self._exchange(connection, fields)
        except Exception as exc:
            if expired.is_set() or isinstance(exc, TimeoutError):
                return Attempt(ok=False, timed_out=True, error=f"no answer within {timeout:g} s")
            return Attempt(ok=False, error=describe_connection_error(exc, self._host, self._port))
        finally:
            if timer is not None:
                timer.cancel()
            if connection is not None:
                connection.close()
        if 200 <= status < 300:
            return Attempt(ok=True, status_code=status)
        return Attempt(ok=False, status_code=status, error=f"HTTP {status} {_printable(reason)[:100]}".rstrip())

    def close(self) -> None:
        pass

    def _connection(self, address: str, timeout: float) -> http.client.HTTPConnection:
        """A connection to the looked-up `address` that still names the configured host: in `Host` and, over TLS,
        in SNI and the certificate check."""
        if self._context is not None:
            return _TlsConnection(address, self._port, timeout, self._context, self._host)
        return http.client.HTTPConnection(address, self._port, timeout=timeout)

    def request(self, fields: Fields) -> HttpRequest:
        """The request one try sends for these fields: what `run` puts on the wire, and what
        `edge-agent actions render` shows (secret header values included: the caller masks them)."""
        config = self.config
        target = render_url(self._target_template, fields)
        if not target.startswith("/"):
            target = "/" + target
        body, content_type = self._body(fields)
        headers = [("User-Agent", f"edge-agent/{__version__}".encode())]
        if content_type is not None and not self._own_content_type:
            headers.append(("Content-Type", content_type.encode()))
        if body is not None or config.method not in _BODYLESS:
            headers.append(("Content-Length", str(len(body or b"")).encode()))
        headers += [(name, render_header(template, fields)) for name, template in config.headers.items()]
        headers += list(self._secrets.items())
        return HttpRequest(config.method, self.origin, target, headers, body, frozenset(self._secrets))

    def _exchange(self, connection: http.client.HTTPConnection, fields: Fields) -> tuple[int, str]:
        request = self.request(fields)
        connection.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", self._host_header())
        for name, value in request.headers:
            connection.putheader(name, value)
        connection.endheaders(request.body)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return response.status, response.reason or ""

    def _host_header(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        default = 443 if self._context is not None else 80
        return host if self._port == default else f"{host}:{self._port}"

    def _body(self, fields: Fields) -> tuple[bytes | None, str | None]:
        if self.config.body is not None:
            document = render_json(self.config.body, fields)
            return json.dumps(document, ensure_ascii=False).encode("utf-8"), "application/json"
        if self.config.body_text is not None:
            return render_text(self.config.body_text, fields).encode("utf-8"), "text/plain; charset=utf-8"
        return None, None


class _TlsConnection(http.client.HTTPSConnection):
    """HTTPS to an address looked up beforehand, verifying the certificate against the configured name."""

    def __init__(self, address: str, port: int, timeout: float, context: ssl.SSLContext, name: str):
        super().__init__(address, port, timeout=timeout, context=context)
        self._name = name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._name)


def _resolve(host: str, port: int, timeout: float) -> str:
    """`host` itself when it is an address; else its first address, looked up within `timeout` seconds."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    found: dict[str, object] = {}

    def look_up() -> None:
        try:
            found["address"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
        except OSError as exc:
            found["error"] = exc

    lookup = threading.Thread(target=look_up, name=f"resolve-{host}", daemon=True)
    lookup.start()
    lookup.join(timeout)
    if lookup.is_alive():
        raise TimeoutError(f"looking up {host} took longer than {timeout:g} s")
    if "error" in found:
        raise found["error"]
    return str(found["address"])


def _abort(connection: http.client.HTTPConnection, expired: threading.Event) -> None:
    """The deadline passed: shut the socket, so a read or write blocked in the action's worker returns now."""
    expired.set()
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


def _tls_context(config: HttpAction) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ActionBuildError(f"action {config.name!r}: ca_file {config.ca_file} cannot be used: {exc}") from None
    if not config.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _read_secret_headers(config: HttpAction) -> dict[str, bytes]:
    """The secret header values, read now; the error names the header and file, never the value."""
    secrets = {}
    for name, path in config.secret_headers.items():
        try:
            value = read_secret(path).get_secret_value()
        except (OSError, UnicodeDecodeError) as exc:
            raise ActionBuildError(f"action {config.name!r}: secret header {name} ({path}): {exc}") from None
        if not value or any(c in value for c in "\r\n\0"):
            raise ActionBuildError(
                f"action {config.name!r}: secret header {name} ({path}) is empty or holds a line break"
            )
        secrets[name] = value.encode("utf-8")
    return secrets
