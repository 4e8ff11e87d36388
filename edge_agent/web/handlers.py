"""The page's API: each handler does its blocking work (scrypt, SQLite, JPEG, a reload) off the event loop."""

from __future__ import annotations

import hashlib
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge_agent.publish.commands import CommandError
from edge_agent.web import action_panel, editing, safe_json, views
from edge_agent.web.app import SECURITY_HEADERS, WebContext, error
from edge_agent.web.passwords import PasswordUnset, hash_version, read_hash, verify_password
from edge_agent.web.security import COOKIE, same_text

log = logging.getLogger(__name__)


def _context(request: Request) -> WebContext:
    return request.app.state.context


async def _json_body(request: Request):
    """The body as JSON, parsed under safe_json's limits (a BadJson is a ValueError: a 400 naming the problem).

    guard.py has read the body already: at most guard.MAX_BODY bytes, within web.request_timeout.
    The parse is a worker thread's: a 256 kB body of tiny items takes tens of milliseconds.
    """
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ValueError("send application/json")
    return await run_in_threadpool(safe_json.parse, await request.body())


def _credentials(body, default_user: str) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise ValueError("send {user, password} as a JSON object")
    user, password = body.get("user", default_user), body.get("password", "")
    if not isinstance(user, str) or not isinstance(password, str):
        raise ValueError("user and password must be strings")
    return user, password


async def login(request: Request) -> Response:
    context = _context(request)
    address = request.client.host if request.client else "unknown"
    wait = context.limiter.retry_after(address)
    if wait is not None:
        log.warning("web: login from %s refused: too many failed attempts", address)
        context.audit.record(None, "login_refused", address=address)
        return error(429, f"too many failed logins; try again in {wait:.0f} s", retry_after=round(wait))
    user = context.config.user
    try:
        given_user, password = _credentials(await _json_body(request), user)
    except ValueError as exc:
        return error(400, str(exc))
    try:
        stored = await run_in_threadpool(read_hash, context.password_path)
    except PasswordUnset as exc:
        return error(503, str(exc))
    # scrypt runs whoever is named, and the name is compared in constant time: an unknown user answers
    # as slowly as the real one, so the time of the answer does not tell which names exist
    password_ok = await run_in_threadpool(verify_password, password, stored)
    ok = same_text(given_user, user) and password_ok
    context.limiter.record(address, ok)
    context.audit.record(user if ok else None, "login" if ok else "login_failed", address=address)
    if not ok:
        log.warning("web: failed login from %s", address)
        return error(401, "wrong user or password")
    token, session = context.sessions.create(user, hash_version(stored))
    log.info("web: %s logged in from %s", user, address)
    response = JSONResponse({"user": user, "csrf": session.csrf}, headers=SECURITY_HEADERS)
    response.set_cookie(COOKIE, token, httponly=True, secure=context.secure, samesite="strict", path="/")
    return response


async def logout(request: Request) -> Response:
    context = _context(request)
    context.sessions.end(request.state.token)
    context.audit.record(request.state.session.user, "logout")
    response = JSONResponse({"logged_out": True})
    response.delete_cookie(COOKIE, path="/", httponly=True, secure=context.secure, samesite="strict")
    return response


async def session(request: Request) -> Response:
    context = _context(request)
    cameras = [camera.id for camera in context.agent.config.cameras if camera.enabled]
    return JSONResponse(
        {
            "user": request.state.session.user,
            "csrf": request.state.session.csrf,
            "live_view": context.config.live_view,
            "live_fps": context.config.live_fps,
            "cameras": cameras,
        }
    )


async def overview(request: Request) -> Response:
    context = _context(request)
    figures = await run_in_threadpool(views.overview, context.agent)
    figures["web"] = {"logins": dict(context.limiter.counts), "sessions": context.sessions.count()}
    return JSONResponse(figures)


async def lines(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(views.line_counts, _context(request).agent))


async def live_image(request: Request) -> Response:
    context = _context(request)
    if not context.config.live_view:
        return error(403, "the live view is disabled on this device (web.live_view: false)")
    camera_id = request.path_params["camera_id"]
    if camera_id not in {camera.id for camera in context.agent.config.cameras}:
        return error(404, f"no camera {camera_id!r}")
    wait = context.live.too_soon(request.state.session.last_image, camera_id)
    if wait is not None:
        return error(429, "too many images; at most web.live_fps per second", retry_after=round(wait, 2))
    data = await run_in_threadpool(context.live.jpeg, camera_id)
    if data is None:
        return error(503, f"camera {camera_id!r} has no frame yet")
    return Response(data, media_type="image/jpeg")


async def editable_config(request: Request) -> Response:
    agent = _context(request).agent
    text = agent.config_text
    return JSONResponse({"edit": editing.editable(text), "digest": _digest(text)})


async def validate(request: Request) -> Response:
    context = _context(request)
    try:
        text, old = _proposed(context, await _json_body(request))
    except ValueError as exc:
        return error(400, str(exc))
    issues = await run_in_threadpool(editing.problems, text, context.agent.environ)
    return JSONResponse({"ok": not issues, "errors": issues, "diff": editing.diff(old, text)})


async def apply(request: Request) -> Response:
    context = _context(request)
    user = request.state.session.user
    try:
        body = await _json_body(request)
        text, old = _proposed(context, body)
    except ValueError as exc:
        return error(400, str(exc))
    if body.get("digest") != _digest(old):
        return error(409, "the running config changed since this page loaded it; reload the page")
    issues = await run_in_threadpool(editing.problems, text, context.agent.environ)
    change = editing.diff(old, text)
    if issues:
        context.audit.record(user, "apply", outcome="invalid", errors=issues, diff=change)
        return JSONResponse({"ok": False, "errors": issues, "diff": change}, status_code=422)
    outcome = await run_in_threadpool(_apply_text, context, text, user)
    context.audit.record(user, "apply", outcome=outcome.get("outcome"), result=outcome, diff=change)
    status = 200 if outcome.get("outcome") == "applied" else 409
    return JSONResponse({"ok": status == 200, "result": outcome, "diff": change}, status_code=status)


def _apply_text(context: WebContext, text: str, user: str) -> dict:
    # one Apply at a time from the page: a second one (another tab, a double click) would race the digest check
    if not context.applying.acquire(blocking=False):
        return {"outcome": "refused", "error": "another Apply is in progress; wait for its outcome"}
    try:
        return context.agent.apply_config_text(text, origin=f"web {user}", persist=True)
    except CommandError as exc:
        return {"outcome": "refused", "error": str(exc), **(getattr(exc, "result", None) or {})}
    finally:
        context.applying.release()


async def alerts(request: Request) -> Response:
    filters = {key: request.query_params.get(key) for key in views.ALERT_FILTERS}
    try:
        limit = min(500, max(1, int(request.query_params.get("limit", 100))))
    except ValueError:
        return error(400, "limit must be a number")
    found = await run_in_threadpool(views.alerts, _context(request).agent, filters, limit)
    return JSONResponse({"alerts": found})


def _proposed(context: WebContext, body) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise editing.BadEdit("send {edit: {...}}")
    old = context.agent.config_text
    return editing.merged_text(old, body.get("edit")), old


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def actions(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(action_panel.listing, _context(request).agent))


async def action_render(request: Request) -> Response:
    context = _context(request)
    try:
        body = await _json_body(request)
        shown = await run_in_threadpool(action_panel.render, context.agent, request.path_params["name"], body)
    except ValueError as exc:
        return error(400, str(exc))
    except action_panel.PanelError as exc:
        return error(exc.status, str(exc))
    return JSONResponse(shown)


async def action_test(request: Request) -> Response:
    """Run the action once now, for real; audited like Apply (who, which action, the outcome)."""
    context = _context(request)
    user, name = request.state.session.user, request.path_params["name"]
    try:
        body = await _json_body(request)
        status, reply = await run_in_threadpool(action_panel.run_now, context.agent, name, body)
    except ValueError as exc:
        return error(400, str(exc))
    except action_panel.PanelError as exc:
        if exc.status != 404:  # an unknown name ran nothing and names nothing worth keeping
            context.audit.record(user, "action_test", action_name=name, outcome="refused", error=str(exc))
        return error(exc.status, str(exc))
    log.info("web: %s tested action %s: %s", user, name, reply["outcome"])
    context.audit.record(
        user,
        "action_test",
        action_name=name,
        outcome=reply["outcome"],
        record_event_id=reply["record_event_id"],
        alert=reply["alert"],
        error=reply.get("record", {}).get("error"),
    )
    return JSONResponse(reply, status_code=status)
