"""HTTP/1.x on the wire for the push receiver: a request head parsed strictly, a reply rendered.

Strict on purpose: the receiver answers one request per connection and never
forwards anything, but a lenient parser is how request smuggling starts, so a
head that two parsers could read two ways is refused instead of guessed at:
whitespace before a header's colon, folded (obs-fold) lines, control characters
in a value, a repeated Content-Length (`ambiguous_length`) or another repeated
header the receiver reads (`malformed`). Content-Length with Transfer-Encoding is
refused by the adapter's envelope check (`HttpPushAdapter.check_envelope`).
Pure functions, no I/O: the fuzzers feed them bytes directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from edge_agent.sources.access.base import Rejected

MAX_HEAD_BYTES = 16 * 1024  # request line + headers; a controller's head is a few hundred bytes
MAX_HEADERS = 64
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_TARGET = re.compile(r"^[\x21-\x7e]+$")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers the receiver reads: one of each, or the request is ambiguous.
_SINGULAR = frozenset(
    {"content-length", "transfer-encoding", "content-type", "authorization", "x-signature", "x-timestamp", "expect"}
)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Headers(Mapping[str, str]):
    """Request headers, looked up case-insensitively (`headers.get("Content-Length")`)."""

    def __init__(self, pairs: Mapping[str, str] | None = None):
        self._values: dict[str, str] = {name.lower(): value for name, value in (pairs or {}).items()}

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    version: str
    headers: Headers


@dataclass
class Response:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


def head_length(buffer: bytes | bytearray) -> int | None:
    """Bytes of the head at the start of `buffer` (blank line included), None while it is incomplete.

    Raises `Rejected("headers_too_large")` once MAX_HEAD_BYTES arrived without the blank line.
    """
    end = _HEAD_END.search(buffer, 0, MAX_HEAD_BYTES + 4)
    if end is not None:
        return end.end()
    if len(buffer) > MAX_HEAD_BYTES:
        raise Rejected("headers_too_large", f"request head longer than {MAX_HEAD_BYTES} bytes")
    return None


def parse_head(data: bytes) -> RequestHead:
    """The request line and headers of `data` (a complete head from `head_length`); `Rejected` names what is wrong."""
    text = data.decode("latin-1")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise Rejected("malformed", "empty request head")
    method, target, version = _request_line(lines[0])
    if len(lines) - 1 > MAX_HEADERS:
        raise Rejected("headers_too_large", f"more than {MAX_HEADERS} header lines")
    values: dict[str, str] = {}
    for number, line in enumerate(lines[1:], start=2):
        name, value = _header(line, number)
        key = name.lower()
        if key in values and key in _SINGULAR:
            reason = "ambiguous_length" if key == "content-length" else "malformed"
            raise Rejected(reason, f"header {name} given more than once (line {number})")
        values[key] = f"{values[key]}, {value}" if key in values else value
    return RequestHead(method, target, version, Headers(values))


def _request_line(line: str) -> tuple[str, str, str]:
    parts = line.split(" ")
    if len(parts) != 3:
        raise Rejected("malformed", "request line is not METHOD SP target SP HTTP/1.x")
    method, target, version = parts
    if not _TOKEN.match(method):
        raise Rejected("malformed", "request line: the method is not a token")
    if not _TARGET.match(target):
        raise Rejected("malformed", "request line: the target has spaces or non-ASCII characters")
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise Rejected("malformed", "request line: only HTTP/1.0 and HTTP/1.1 are spoken")
    return method, target, version


def _header(line: str, number: int) -> tuple[str, str]:
    if line[:1] in (" ", "\t"):
        raise Rejected("malformed", f"header line {number} is folded (obs-fold is not accepted)")
    name, colon, value = line.partition(":")
    if not colon or not _TOKEN.match(name):
        raise Rejected("malformed", f"header line {number} is not name: value (or its name is not a token)")
    value = value.strip(" \t")
    if _BAD_VALUE.search(value):
        raise Rejected("malformed", f"header {name} (line {number}) has control characters")
    return name, value


def render(response: Response) -> bytes:
    """The reply on the wire: JSON body, Content-Length, and Connection: close (one request per connection)."""
    body = response.encode()
    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = "Status"
    lines = [
        f"HTTP/1.1 {response.status} {phrase}",
        "Server: edge-agent",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in response.headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
