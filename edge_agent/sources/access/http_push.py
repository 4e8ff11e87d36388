"""HTTP push receiver: controllers POST events; we authenticate, bound, parse and acknowledge.

Status codes (docs/access-control.md): 200 accepted (the body lists any events
of a batch refused individually), 400 malformed or invalid (and a head with
both Content-Length and Transfer-Encoding, or Content-Length twice:
`ambiguous_length`), 401 missing or bad credentials or a timestamp outside the
replay window, 404 wrong path, 405 wrong method, 408 no complete request
within `request_timeout` of connecting, 409 a replayed signed request, 411 no
Content-Length (Transfer-Encoding is not accepted), 413 body over
max_body_bytes, 431 head over 16 KiB, 503 `busy` (max_connections complete
requests already being handled), `evicted` (closed to make room among
max_open_connections) or alerts that could not be stored (`store_unavailable`,
with Retry-After). Every refusal is counted under its reason.

The sockets are in `http_server.py` (one loop reads every connection; only
complete requests get a handler thread: why, there) and the wire format in
`http_wire.py`; this module decides what a request means.

A 200 means every valid event of the body is stored. A batch is acknowledged
as a whole: when the store fails on one event, the rest are not tried (each
try would wait out the store's busy timeout) and the reply is 503, naming the
events already stored and those not. Controllers resend the whole body, not a
part of it, so the events stored by an unacknowledged request are remembered
(by identity, up to UNACKNOWLEDGED_LIMIT) and a resend skips them: each event
is stored exactly once without the controller having to read our reply.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from edge_agent.config.access_adapters import HttpPushAdapterConfig
from edge_agent.config.base import read_secret
from edge_agent.sources.access.base import AccessAdapter, Outcome, Rejected, event_identity
from edge_agent.sources.access.hikvision import HikvisionLayout, parse_hikvision
from edge_agent.sources.access.http_server import PushServer
from edge_agent.sources.access.http_wire import Response
from edge_agent.sources.access.normalize import EventContext, decode_json, event_objects, parse_generic
from edge_agent.sources.access.signing import RequestAuthenticator

log = logging.getLogger(__name__)

__all__ = ["HttpPushAdapter", "Response"]

_STATUS = {
    "malformed": 400,
    "ambiguous_length": 400,
    "invalid_event": 400,
    "truncated": 400,
    "unmapped_code": 400,
    "missing_auth": 401,
    "bad_signature": 401,
    "bad_token": 401,
    "expired": 401,
    "timeout": 408,
    "replayed": 409,
    "length_required": 411,
    "oversized": 413,
    "headers_too_large": 431,
    "busy": 503,
    "evicted": 503,
}
BUSY_RETRY_AFTER_S = 1
STORE_RETRY_AFTER_S = 5  # about the store's busy timeout: a lock held longer is not going away at once
UNACKNOWLEDGED_LIMIT = 1024


class HttpPushAdapter(AccessAdapter):
    type = "http_push"

    def __init__(self, config: HttpPushAdapterConfig, on_event, clock, tokenizer):
        super().__init__(config, on_event, clock, tokenizer)
        auth = config.auth
        secret = read_secret(auth.hmac_secret_file)
        bearer = read_secret(auth.bearer_token_file)
        self.auth = RequestAuthenticator(
            hmac_secret=secret.get_secret_value().encode() if secret else None,
            bearer_token=bearer.get_secret_value() if bearer else None,
            replay_window=auth.replay_window,
            cache_size=auth.replay_cache_size,
            clock=clock,
        )
        self.layout = HikvisionLayout(dict(config.hikvision_doors), dict(config.reader_directions))
        self._server: PushServer | None = None
        self.port: int | None = None
        self._unacknowledged: OrderedDict[tuple, None] = OrderedDict()  # stored, but the request got a 503
        self._unacknowledged_lock = threading.Lock()
        self.loops = 0

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        server = PushServer(self, on_turn=self._turned)
        server.start()  # raises when the port cannot be bound: the adapter stays offline and is retried
        self._server = server
        self.port = server.port
        self.set_online(True)
        log.info("adapter %s listening on %s:%d", self.id, self.config.bind, self.port, extra={"adapter": self.id})

    def stop(self, timeout: float = 5.0) -> None:
        """Ends the receiver's loop; one that hangs is abandoned after `timeout` and the port released anyway."""
        server, self._server = self._server, None
        if server is not None:
            server.stop(timeout)
        self.set_online(False)

    def _turned(self) -> None:
        self.loops += 1  # the access stage's hang check reads this

    def alive(self) -> bool:
        return self._server is not None and self._server.alive()

    # -- request handling --------------------------------------------------

    def check_envelope(self, method: str, path: str, headers: Mapping[str, str]) -> Response | int:
        """Before reading the body: the body length to read, or the response that ends the request."""
        if path.split("?", 1)[0] != self.config.path:
            return self.refuse(Rejected("wrong_path", "no receiver at this path"), 404)
        if method != "POST":
            return self.refuse(Rejected("wrong_method", f"{method} is not accepted, POST events"), 405)
        length_text = headers.get("Content-Length")
        if headers.get("Transfer-Encoding") is not None:  # no transfer coding is spoken here: say which framing
            if length_text is not None:
                return self.refuse(
                    Rejected("ambiguous_length", "both Content-Length and Transfer-Encoding: send Content-Length only")
                )
            return self.refuse(
                Rejected("length_required", "Transfer-Encoding is not accepted; send the body with a Content-Length")
            )
        if length_text is None or not length_text.strip().isdigit() or len(length_text.strip()) > 18:
            return self.refuse(Rejected("length_required", "a Content-Length header (decimal digits) is required"))
        length = int(length_text)
        if length > self.config.max_body_bytes:
            return self.refuse(
                Rejected("oversized", f"body of {length} bytes exceeds max_body_bytes {self.config.max_body_bytes}")
            )
        return length

    def process(self, headers: Mapping[str, str], body: bytes, declared_length: int | None = None) -> Response:
        """Authenticate, parse and emit one request's events."""
        try:
            if declared_length is not None and len(body) < declared_length:
                raise Rejected("truncated", f"body ended after {len(body)} of {declared_length} bytes")
            self.auth.verify(headers, body)
            events = self._parse(headers.get("Content-Type", ""), body)
        except Rejected as error:
            return self.refuse(error)
        return self._emit_all(events)

    def _emit_all(self, events: list[tuple[str, Any]]) -> Response:
        stored: list[str] = []
        not_stored: list[str] = []
        refused: list[dict] = []
        for where, outcome in events:
            if isinstance(outcome, Rejected):
                self.reject(outcome)
                refused.append({"at": where, "reason": outcome.reason, "detail": outcome.detail})
            elif not_stored:  # the store just failed: a try would only wait out its busy timeout again
                not_stored.append(where)
            elif self._stored_before(outcome):
                self.count("resent_already_stored")
                stored.append(where)
            else:
                result = self.emit(outcome)
                if result is Outcome.stored:
                    stored.append(where)
                elif result is Outcome.retry:
                    not_stored.append(where)
                else:
                    refused.append({"at": where, "reason": "internal_error", "detail": "the event was not handled"})
        if not_stored:
            return self._store_unavailable(events, stored, not_stored, refused)
        self.count("requests_accepted" if stored else "requests_refused")
        if not stored:
            first = refused[0]
            status = 500 if first["reason"] == "internal_error" else _STATUS.get(first["reason"], 400)
            return Response(status, {"ok": False, "reason": first["reason"], "rejected": refused})
        return Response(200, {"ok": True, "accepted": len(stored), "rejected": refused})

    def _stored_before(self, event) -> bool:
        """Stored while handling an earlier copy of this request that was answered 503 (forgotten once seen)."""
        identity = event_identity(event)
        with self._unacknowledged_lock:
            if identity not in self._unacknowledged:
                return False
            del self._unacknowledged[identity]
            return True

    def _store_unavailable(self, events, stored: list[str], not_stored: list[str], refused: list[dict]) -> Response:
        wheres = set(stored)
        with self._unacknowledged_lock:
            for where, outcome in events:
                if where in wheres:
                    self._unacknowledged[event_identity(outcome)] = None
            while len(self._unacknowledged) > UNACKNOWLEDGED_LIMIT:
                self._unacknowledged.popitem(last=False)
        self.reject(Rejected("store_unavailable", f"{len(not_stored)} event(s) could not be stored; retry later"))
        body = {"ok": False, "reason": "store_unavailable", "stored": stored, "not_stored": not_stored}
        if refused:
            body["rejected"] = refused
        return Response(503, body, {"Retry-After": str(STORE_RETRY_AFTER_S)})

    def _parse(self, content_type: str, body: bytes) -> list[tuple[str, Any]]:
        ctx = EventContext(self.id, self.clock.wall(), self.tokenizer, self.config.default_door)
        if self.config.format == "hikvision":
            document = decode_json(_json_part(content_type, body), "body")
            return [("body", _outcome(lambda: parse_hikvision(document, ctx, self.layout)))]
        document = decode_json(body, "body")
        return [
            (where, _outcome(lambda obj=obj, where=where: parse_generic(obj, ctx, where)))
            for where, obj in event_objects(document, "body")
        ]

    def refuse(self, error: Rejected, status: int | None = None) -> Response:
        """Count the refusal under its reason and answer it (503s say when to come back)."""
        self.reject(error)
        status = status or _STATUS.get(error.reason, 400)
        headers = {"Retry-After": str(BUSY_RETRY_AFTER_S)} if error.reason in ("busy", "evicted") else {}
        return Response(status, {"ok": False, "reason": error.reason, "detail": error.detail}, headers)


def _outcome(parse):
    try:
        return parse()
    except Rejected as error:
        return error


def _json_part(content_type: str, body: bytes) -> bytes:
    """The body itself, or the first JSON part of a multipart post (pictures are never read)."""
    if not content_type.lower().startswith("multipart/"):
        return body
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise Rejected("malformed", "body: multipart content type without a readable boundary")
    for part in message.iter_parts():
        payload = part.get_payload(decode=True) or b""
        if part.get_content_type() == "application/json" or payload.lstrip()[:1] == b"{":
            return payload
    raise Rejected("malformed", "body: multipart post without a JSON part")
