"""The Starlette app: routes, the login wall and the CSRF check. Handlers live in handlers.py.

What the app and the handlers share is in context.py (`WebContext`) and responses.py (headers, errors).

Every request first passes guard.py (its Host, its body's size and pace). Every /api route but
login needs a live session (one whose password is still the stored one); every POST also needs
the session's CSRF token in the X-CSRF-Token header (403 without it) and, when the browser sends
an Origin, the page's own origin. JSON bodies only: a cross-site form cannot send one without a
CORS preflight.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from edge_agent.web import console, evidence_view, handlers, i18n, log_view, openapi
from edge_agent.web.accounts import current_versions
from edge_agent.web.context import WebContext
from edge_agent.web.guard import RequestGuard
from edge_agent.web.responses import SECURITY_HEADERS, error
from edge_agent.web.security import COOKIE, csrf_ok

log = logging.getLogger(__name__)

BOTH = ("technician", "operator")

STATIC = Path(__file__).resolve().parent / "static"


def logged_in(handler, roles: tuple[str, ...] = ("technician",)):
    """The request's session as `request.state.session`; POSTs must carry its CSRF token; the session's role must be
    one of `roles` (an operator reaches only the console's routes: 403 elsewhere)."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        context: WebContext = request.app.state.context
        token = request.cookies.get(COOKIE)
        session = context.sessions.get(token, current_versions(context.config.user, context.password_path))
        if session is None:
            return error(401, "log in first")
        if session.role not in roles:
            log.warning("web: %s (%s) refused %s %s", session.user, session.role, request.method, request.url.path)
            context.audit.record(session.user, "refused", path=request.url.path, role=session.role)
            return error(403, f"the {session.role} role cannot use this (the guards' console is at /#console)")
        if request.method == "POST":
            if not csrf_ok(session, request.headers.get("x-csrf-token")) or not same_origin(request):
                log.warning(
                    "web: %s %s refused: no valid CSRF token or foreign origin", request.method, request.url.path
                )
                return error(403, "missing or wrong CSRF token")
        request.state.session = session
        request.state.token = token
        response = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    return guarded


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # an opaque origin (sandboxed frame, file://) is never ours
    return urlsplit(origin).netloc == request.headers.get("host")


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


def api_routes() -> list[Route]:
    """Every /api route (web/openapi.py describes each; tests/test_web_fuzz.py checks that they agree)."""
    return [
        Route("/api/login", handlers.login, methods=["POST"]),
        Route("/api/logout", logged_in(handlers.logout, BOTH), methods=["POST"]),
        Route("/api/console", logged_in(console.board, BOTH), methods=["GET"]),
        Route("/api/console/dispose", logged_in(console.dispose, BOTH), methods=["POST"]),
        Route("/api/console/snooze", logged_in(console.snooze, BOTH), methods=["POST"]),
        Route("/api/console/arm", logged_in(console.arm, BOTH), methods=["POST"]),
        Route("/api/session", logged_in(handlers.session, BOTH), methods=["GET"]),
        Route("/api/overview", logged_in(handlers.overview), methods=["GET"]),
        Route("/api/lines", logged_in(handlers.lines), methods=["GET"]),
        Route("/api/live/{camera_id}", logged_in(handlers.live_image), methods=["GET"]),
        Route("/api/evidence/{event_id}", logged_in(evidence_view.evidence), methods=["GET"]),
        Route("/api/sight/{camera_id}", logged_in(handlers.sight), methods=["GET"]),
        Route("/api/config", logged_in(handlers.editable_config), methods=["GET"]),
        Route("/api/validate", logged_in(handlers.validate), methods=["POST"]),
        Route("/api/apply", logged_in(handlers.apply), methods=["POST"]),
        Route("/api/alerts", logged_in(handlers.alerts), methods=["GET"]),
        Route("/api/actions", logged_in(handlers.actions), methods=["GET"]),
        Route("/api/actions/{name}/render", logged_in(handlers.action_render), methods=["POST"]),
        Route("/api/actions/{name}/test", logged_in(handlers.action_test), methods=["POST"]),
        Route("/api/logs", logged_in(log_view.logs), methods=["GET"]),
        Route("/api/health", logged_in(log_view.health), methods=["GET"]),
        Route("/api/openapi.json", logged_in(openapi.document), methods=["GET"]),
    ]


def create_app(context: WebContext) -> RequestGuard:
    routes = [
        Route("/", index),
        Route("/i18n.js", i18n.catalogue_script),
        *api_routes(),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.context = context
    config = context.config
    return RequestGuard(app, config.page_hosts(), config.request_timeout, SECURITY_HEADERS, context.refused)
