"""The Logs page's API: the agent's newest log lines and the last 24 h of health alerts, read-only.

Both come through the agent's face (edge_agent/control.py): the log lines from the in-memory ring on the
agent's logging (edge_agent/logs.py `LogRing`, redacted as the journal is), the health alerts from the
outbox. Every query parameter is checked against a fixed set or a number range; anything else is a 400 naming
the parameter, never passed on.
"""

from __future__ import annotations

import json
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge_agent.control import AgentControl
from edge_agent.logs import LEVELS
from edge_agent.web.context import WebContext
from edge_agent.web.responses import error

MAX_LINES = 1000  # the ring's own size (logs.RING_LINES): more can never be there
DEFAULT_LINES = 200
HEALTH_WINDOW_S = 24 * 3600
MAX_HEALTH_ALERTS = 500
_COMPONENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BadQuery(ValueError):
    """A query parameter outside what the page sends; the message names it."""


def log_query(params) -> tuple[int, str | None, str | None]:
    """(limit, level, component) from the query string, each checked."""
    raw_limit = params.get("limit", str(DEFAULT_LINES))
    if not raw_limit.isdigit() or len(raw_limit) > 6:
        raise BadQuery(f"limit must be a whole number from 1 to {MAX_LINES}")
    limit = min(MAX_LINES, max(1, int(raw_limit)))
    level = params.get("level") or None
    if level is not None and level not in LEVELS:
        raise BadQuery(f"level must be one of {', '.join(LEVELS)}")
    component = params.get("component") or None
    if component is not None and not _COMPONENT.match(component):
        raise BadQuery("component must be a component's name (letters, digits, _ and -)")
    return limit, level, component


def log_lines(agent: AgentControl, limit: int, level: str | None, component: str | None) -> dict:
    return {
        "lines": agent.log_lines(limit, level, component),
        "components": agent.log_components(),
        "levels": list(LEVELS),
        "timezone": agent.config.device.timezone,
    }


def health_history(agent: AgentControl, now: float) -> dict:
    alerts = []
    for row in agent.health_alerts(now - HEALTH_WINDOW_S, MAX_HEALTH_ALERTS):
        try:
            alert = json.loads(row.payload)
        except ValueError:
            continue
        if not isinstance(alert, dict):
            continue
        details = alert.get("details") or {}
        source = alert.get("source") or {}
        alerts.append(
            {
                "event_id": row.event_id,
                "type": alert.get("type"),
                "phase": alert.get("phase"),
                "severity": alert.get("severity"),
                "source": f"{source.get('kind')}:{source.get('id')}",
                "reason": details.get("reason"),
                "message": details.get("message"),
                "created_at": alert.get("created_at"),
                "state": row.state,
            }
        )
    return {"alerts": alerts, "hours": HEALTH_WINDOW_S // 3600, "timezone": agent.config.device.timezone}


async def logs(request: Request) -> Response:
    context: WebContext = request.app.state.context
    try:
        limit, level, component = log_query(request.query_params)
    except BadQuery as exc:
        return error(400, str(exc))
    return JSONResponse(await run_in_threadpool(log_lines, context.agent, limit, level, component))


async def health(request: Request) -> Response:
    context: WebContext = request.app.state.context
    return JSONResponse(await run_in_threadpool(health_history, context.agent, context.clock.wall()))
