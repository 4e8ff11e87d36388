"""The page's API: each handler does its blocking work (scrypt, SQLite, JPEG, a reload) off the event loop."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge_agent.config.redaction import scrub
from edge_agent.publish.commands import CommandError
from edge_agent.web import action_panel, editing, safe_json, views
from edge_agent.web.accounts import accounts, find
from edge_agent.web.context import WebContext
from edge_agent.web.passwords import PasswordUnset, hash_version, verify_password
from edge_agent.web.responses import SECURITY_HEADERS, error
from edge_agent.web.rule_schema import rule_schema
from edge_agent.web.security import COOKIE

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
        if context.limiter.first_refusal(address):  # one line per lockout, not one per try
            log.warning("web: login from %s refused: too many failed attempts", address)
            context.audit.record(None, "login_refused", address=address)
        return error(429, f"too many failed logins; try again in {wait:.0f} s", retry_after=round(wait))
    try:
        given_user, password = _credentials(await _json_body(request), context.config.user)
    except ValueError as exc:
        return error(400, str(exc))
    known = await run_in_threadpool(accounts, context.config.user, context.password_path)
    if not known:
        return error(503, str(PasswordUnset(f"no password set ({context.password_path}): run `edge-agent web passwd`")))
    # scrypt runs whoever is named (an unknown name is checked against another account's hash), and the name is
    # compared with every account in constant time: the answer's time does not tell which names exist
    account = find(given_user, known)
    password_ok = await run_in_threadpool(verify_password, password, (account or known[0]).stored)
    ok = account is not None and password_ok
    user = account.user if ok else None
    context.limiter.record(address, ok)
    context.audit.record(user, "login" if ok else "login_failed", address=address)
    if not ok:
        log.warning("web: failed login from %s", address)
        return error(401, "wrong user or password")
    token, session = context.sessions.create(account.user, hash_version(account.stored), account.role)
    log.info("web: %s (%s) logged in from %s", user, account.role, address)
    response = JSONResponse({"user": user, "role": account.role, "csrf": session.csrf}, headers=SECURITY_HEADERS)
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
            "role": request.state.session.role,
            "csrf": request.state.session.csrf,
            "live_view": context.config.live_view,
            "live_fps": context.config.live_fps,
            "cameras": cameras,
            "timezone": context.agent.config.device.timezone,  # the page shows times in the site's zone
        }
    )


async def overview(request: Request) -> Response:
    context = _context(request)
    figures = await run_in_threadpool(views.overview, context.agent)
    figures["web"] = {"logins": dict(context.limiter.counts), "sessions": context.sessions.count()}
    return JSONResponse(figures)


async def lines(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(views.line_counts, _context(request).agent))


def _live_refusal(request: Request, key: str, what: str) -> Response | None:
    """The live view's checks, shared by the image and the overlay: enabled, a known camera, the session's pace."""
    context = _context(request)
    if not context.config.live_view:
        return error(403, "the live view is disabled on this device (web.live_view: false)")
    camera_id = request.path_params["camera_id"]
    if camera_id not in {camera.id for camera in context.agent.config.cameras}:
        return error(404, f"no camera {camera_id!r}")
    wait = context.live.too_soon(request.state.session.last_image, key + camera_id)
    if wait is not None:
        return error(429, f"too many {what}; at most web.live_fps per second", retry_after=round(wait, 2))
    return None


async def live_image(request: Request) -> Response:
    refusal = _live_refusal(request, "", "images")
    if refusal is not None:
        return refusal
    camera_id = request.path_params["camera_id"]
    data = await run_in_threadpool(_context(request).live.jpeg, camera_id)
    if data is None:
        return error(503, f"camera {camera_id!r} has no frame yet")
    return Response(data, media_type="image/jpeg")


async def sight(request: Request) -> Response:
    """The overlay: what the detector sees (detections, tracks, motion, masks, occupancy), as values, never kept."""
    refusal = _live_refusal(request, "sight/", "overlays")  # its own pace, beside the image's (ids have no "/")
    if refusal is not None:
        return refusal
    camera_id = request.path_params["camera_id"]
    seen = await run_in_threadpool(_context(request).agent.sight, camera_id)
    if seen is None:
        return error(503, f"camera {camera_id!r} is not running")
    return JSONResponse(seen)


async def editable_config(request: Request) -> Response:
    """The file's zones, lines and rules (the page edits the file, see web/editing.py), and whether the running
    config differs from it (a `persist: false` change an Apply would end)."""
    agent = _context(request).agent
    try:
        texts = await run_in_threadpool(editing.read_texts, agent)
        edit = await run_in_threadpool(editing.editable, texts.file)
    except (editing.FileUnreadable, editing.BadEdit) as exc:
        return error(503, str(exc))
    differs_in = await run_in_threadpool(editing.running_differs_in, texts.file, agent)
    return JSONResponse(
        {
            "edit": edit,
            "digest": texts.digest,
            "config_file": str(agent.config_path),
            "running_differs": differs_in != [],
            "running_differs_in": differs_in,
            "rule_schema": rule_schema(),  # the rule forms are generated from it (static/schema_form.js)
        }
    )


async def validate(request: Request) -> Response:
    context = _context(request)
    try:
        body = await _json_body(request)
        texts = await run_in_threadpool(editing.read_texts, context.agent)
        proposal = await run_in_threadpool(_proposed, texts, body)
    except editing.FileUnreadable as exc:
        return error(503, str(exc))
    except ValueError as exc:
        return error(400, str(exc))
    issues = await run_in_threadpool(editing.problems, context.agent, proposal.text, proposal.secrets)
    return JSONResponse({"ok": not issues, "errors": issues, "diff": proposal.changes})


async def apply(request: Request) -> Response:
    context = _context(request)
    user = request.state.session.user
    try:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise editing.BadEdit("send {edit: {...}, digest}")
    except ValueError as exc:
        return error(400, str(exc))
    status, reply = await run_in_threadpool(_apply_edit, context, body, user)
    return JSONResponse(reply, status_code=status)


def _apply_edit(context: WebContext, body: dict, user: str) -> tuple[int, dict]:
    """(status, reply), every attempt audited. One Apply at a time from the page: a second one (another tab, a
    double click) would race the digest check."""
    if not context.applying.acquire(blocking=False):
        reason = "another Apply is in progress; wait for its outcome"
        context.audit.record(user, "apply", outcome="refused", error=reason)
        return 409, {"ok": False, "error": reason}
    try:
        return _apply_locked(context, body, user)
    finally:
        context.applying.release()


def _apply_locked(context: WebContext, body: dict, user: str) -> tuple[int, dict]:
    agent = context.agent
    try:
        texts = editing.read_texts(agent)
        proposal = _proposed(texts, body)
    except editing.FileUnreadable as exc:
        return 503, {"ok": False, "error": str(exc)}
    except ValueError as exc:
        return 400, {"ok": False, "error": str(exc)}
    if body.get("digest") != texts.digest:
        return _refused(context, user, proposal, "the config changed since this page loaded it; reload the page")
    issues = editing.problems(agent, proposal.text, proposal.secrets)
    if issues:
        context.audit.record(user, "apply", outcome="invalid", errors=issues, diff=proposal.changes)
        return 422, {"ok": False, "errors": issues, "diff": proposal.changes}
    differs_in = editing.running_differs_in(texts.file, agent)
    if differs_in != [] and body.get("replace_running") is not True:
        sections = f" ({', '.join(differs_in)})" if differs_in else ""
        reason = (
            f"the running config differs from the file on disk{sections}, e.g. after a remote set-config with "
            "persist: false. Apply starts from the file and would end that change; confirm to replace it "
            "(replace_running: true)"
        )
        return _refused(context, user, proposal, reason)
    try:
        outcome = agent.apply_config_text(proposal.text, origin=f"web {user}", persist=True)
    except CommandError as exc:
        outcome = {"outcome": "refused", "error": str(exc), **(getattr(exc, "result", None) or {})}
    outcome = scrub(outcome, proposal.secrets)  # a refusal quotes config issues
    context.audit.record(user, "apply", outcome=outcome.get("outcome"), result=outcome, diff=proposal.changes)
    ok = outcome.get("outcome") == "applied"
    return (200 if ok else 409), {"ok": ok, "result": outcome, "diff": proposal.changes}


def _refused(context: WebContext, user: str, proposal: editing.Proposal, reason: str) -> tuple[int, dict]:
    context.audit.record(user, "apply", outcome="refused", error=reason, diff=proposal.changes)
    return 409, {"ok": False, "error": reason, "diff": proposal.changes}


def _proposed(texts: editing.Texts, body) -> editing.Proposal:
    if not isinstance(body, dict):
        raise editing.BadEdit("send {edit: {...}}")
    return editing.propose(texts.file, body.get("edit"))


async def alerts(request: Request) -> Response:
    filters = {key: request.query_params.get(key) for key in views.ALERT_FILTERS}
    try:
        limit = min(500, max(1, int(request.query_params.get("limit", 100))))
    except ValueError:
        return error(400, "limit must be a number")
    found = await run_in_threadpool(views.alerts, _context(request).agent, filters, limit)
    return JSONResponse({"alerts": found})


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
