"""The page's JSON API described for scripts and for the fuzzer (OpenAPI 3.0), served at /api/openapi.json.

Written by hand: the routes are few and their bodies small. tests/test_web_fuzz.py checks that
every /api route in app.api_routes() is described here and nothing else is, and fuzzes each
against the real daemon. Behind the login like the rest of the API: it tells nothing secret, but
an unauthenticated visitor has no use for it. Answers are described loosely (an object): the
handlers' docs and docs/technician.md say what they hold.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_ANY_OBJECT = {"type": "object"}
_ERROR = {
    "description": "refused; `error` says why",
    "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}},
}
_POINT = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
_SHAPE = {"type": "object", "properties": {"points": {"type": "array", "items": _POINT}}}
_SHAPES = {"type": "object", "additionalProperties": _SHAPE}
_EDIT = {
    "type": "object",
    "properties": {
        "cameras": {
            "type": "array",
            "items": {"type": "object", "properties": {"id": {"type": "string"}, "zones": _SHAPES, "lines": _SHAPES}},
        },
        "rules": {"type": "array", "items": _ANY_OBJECT},
    },
}
_SAMPLE = {
    "type": "object",
    "properties": {
        "sample": {
            "type": "object",
            "properties": {
                key: {"type": "integer" if key == "count" else "string"}
                for key in ("type", "rule", "phase", "source", "severity", "zone", "door", "count", "message")
            },
        },
        "event_id": {"type": "string"},
    },
}


def _json_body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _answers(*errors: int, ok: int = 200, media: str = "application/json") -> dict:
    body = _ANY_OBJECT if media.endswith("json") else {"type": "string", "format": "binary"}
    answers = {str(ok): {"description": "done", "content": {media: {"schema": body}}}}
    answers.update({str(status): _ERROR for status in (400, 401, 403, 413, 421, *errors)})
    return answers


def _path_parameter(name: str) -> list[dict]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]


_ALERT_QUERY = [
    {"name": key, "in": "query", "required": False, "schema": {"type": "string"}}
    for key in ("type", "camera", "door", "phase")
] + [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 500}}]

_LOG_QUERY = [
    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {
        "name": "level",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["debug", "info", "warning", "error", "critical"]},
    },
    {"name": "component", "in": "query", "required": False, "schema": {"type": "string"}},
]

SPEC: dict = {
    "openapi": "3.0.3",
    "info": {
        "title": "edge-agent technician's page",
        "version": "1",
        "description": "Log in with POST /api/login (a session cookie and a CSRF token come back); every other "
        "call needs the cookie, and every POST the token in X-CSRF-Token. See docs/technician.md.",
    },
    "paths": {
        "/api/login": {
            "post": {
                "summary": "log in: {user, password}; answers {user, csrf} and sets the session cookie",
                "requestBody": _json_body(
                    {"type": "object", "properties": {"user": {"type": "string"}, "password": {"type": "string"}}}
                ),
                "responses": _answers(429, 503),
            }
        },
        "/api/logout": {"post": {"summary": "end this session", "responses": _answers()}},
        "/api/session": {"get": {"summary": "who is logged in, the CSRF token, the cameras", "responses": _answers()}},
        "/api/overview": {"get": {"summary": "health, broker, cameras, outbox, last alerts", "responses": _answers()}},
        "/api/lines": {"get": {"summary": "live in/out counts of every line", "responses": _answers()}},
        "/api/live/{camera_id}": {
            "get": {
                "summary": "the camera's live image (JPEG), at most web.live_fps per session",
                "parameters": _path_parameter("camera_id"),
                "responses": _answers(404, 429, 503, media="image/jpeg"),
            }
        },
        "/api/evidence/{event_id}": {
            "get": {
                "summary": "an alert's kept evidence (JPEG snapshot, MJPEG/AVI clip); recorded as evidence_sent",
                "parameters": _path_parameter("event_id")
                + [{"name": "kind", "in": "query", "required": False, "schema": {"type": "string"}}],
                "responses": _answers(404, 429, media="image/jpeg"),
            }
        },
        "/api/sight/{camera_id}": {
            "get": {
                "summary": "what the detector sees (detections, tracks, motion, masks, zone occupancy), at most "
                "web.live_fps per session",
                "parameters": _path_parameter("camera_id"),
                "responses": _answers(404, 429, 503),
            }
        },
        "/api/config": {"get": {"summary": "the editable part of the config and its digest", "responses": _answers()}},
        "/api/validate": {
            "post": {
                "summary": "check an edit as check-config would; nothing changes",
                "requestBody": _json_body({"type": "object", "properties": {"edit": _EDIT}}),
                "responses": _answers(422),
            }
        },
        "/api/apply": {
            "post": {
                "summary": "apply an edit (make-before-break, reverted when not confirmed)",
                "requestBody": _json_body(
                    {"type": "object", "properties": {"edit": _EDIT, "digest": {"type": "string"}}}
                ),
                "responses": _answers(409, 422),
            }
        },
        "/api/alerts": {
            "get": {"summary": "newest alerts, filtered", "parameters": _ALERT_QUERY, "responses": _answers()}
        },
        "/api/actions": {"get": {"summary": "every action with its figures and records", "responses": _answers()}},
        "/api/actions/{name}/render": {
            "post": {
                "summary": "what one try of the action would send; nothing is sent",
                "parameters": _path_parameter("name"),
                "requestBody": _json_body(_SAMPLE),
                "responses": _answers(404, 409, 422),
            }
        },
        "/api/actions/{name}/test": {
            "post": {
                "summary": "run the action once now, for real (audited)",
                "parameters": _path_parameter("name"),
                "requestBody": _json_body(_SAMPLE),
                "responses": _answers(404, 409, 422, 429, 503),
            }
        },
        "/api/console": {
            "get": {"summary": "the guards' console: open alerts, door states, snoozes", "responses": _answers()}
        },
        "/api/console/dispose": {
            "post": {
                "summary": "dispose of an alert (operator or technician; audited)",
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "properties": {
                            "event_id": {"type": "string"},
                            "state": {
                                "type": "string",
                                "enum": ["acknowledged", "dispatched", "resolved", "false_alarm"],
                            },
                            "note": {"type": "string"},
                        },
                    }
                ),
                "responses": _answers(409),
            }
        },
        "/api/console/snooze": {
            "post": {
                "summary": "snooze a rule for some minutes, with a reason (audited; reports what it hid)",
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "properties": {
                            "rule": {"type": "string"},
                            "minutes": {"type": "number"},
                            "reason": {"type": "string"},
                        },
                    }
                ),
                "responses": _answers(409),
            }
        },
        "/api/console/arm": {
            "post": {
                "summary": "end a rule's snooze (or disarm) now",
                "requestBody": _json_body({"type": "object", "properties": {"rule": {"type": "string"}}}),
                "responses": _answers(409),
            }
        },
        "/api/logs": {
            "get": {
                "summary": "the agent's newest log lines (redacted, from memory), newest first",
                "parameters": _LOG_QUERY,
                "responses": _answers(),
            }
        },
        "/api/health": {
            "get": {"summary": "the health alerts of the last 24 h, newest first", "responses": _answers()}
        },
        "/api/openapi.json": {"get": {"summary": "this description", "responses": _answers()}},
    },
}


async def document(request: Request) -> Response:
    return JSONResponse(SPEC)
