"""The guards' console: open alerts with age and source, dispositions, snoozes and door states.

Reached by the `operator` role and the technician (web/accounts.py), through the agent's face only. What it
changes goes the way a remote command's does, with the console user as `by` and `origin: console`: a
disposition is stored and committed to the outbox on the box (so it works with the uplink down and reaches
the platform when it is back), and a snooze is audited in the state store and in the page's audit log. It
cannot edit the config, run or test an action, or see a camera: those routes answer 403 to an operator.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge_agent.actions.response_desk import ResponseRefused
from edge_agent.config.errors import describe_validation_errors
from edge_agent.events.disposition import DispositionState
from edge_agent.web import handlers
from edge_agent.web.context import WebContext
from edge_agent.web.responses import error


class DisposeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=64)
    state: DispositionState
    note: str = Field(default="", max_length=500)


class SnoozeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str = Field(min_length=1, max_length=64)
    minutes: float = Field(gt=0, le=24 * 60)
    reason: str = Field(min_length=1, max_length=200)


class ArmBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str = Field(min_length=1, max_length=64)


def _context(request: Request) -> WebContext:
    return request.app.state.context


async def board(request: Request) -> Response:
    """Everything the console shows: open alerts, door states, snoozes and disarms, the rules one may snooze."""
    agent = _context(request).agent

    def read() -> dict:
        try:
            response = agent.response_snapshot()
        except ResponseRefused:
            response = {}
        rules = [rule.name for rule in agent.config.rules if rule.enabled]
        return {"alerts": agent.open_alerts(), "doors": agent.door_states(), "response": response, "rules": rules}

    return JSONResponse(await run_in_threadpool(read))


async def _body(request: Request, model: type[BaseModel]) -> BaseModel:
    data = await handlers._json_body(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(describe_validation_errors(exc.errors())) from None


async def _act(request: Request, model: type[BaseModel], act) -> Response:
    context = _context(request)
    session = request.state.session
    try:
        body = await _body(request, model)
    except ValueError as exc:
        return error(400, str(exc))
    try:
        result = await run_in_threadpool(act, context.agent, body, session.user)
    except ResponseRefused as exc:
        return error(409, str(exc), result=exc.result)
    context.audit.record(session.user, f"console_{request.url.path.rsplit('/', 1)[1]}", **body.model_dump())
    return JSONResponse(result)


async def dispose(request: Request) -> Response:
    return await _act(
        request, DisposeBody, lambda agent, b, user: agent.dispose(b.event_id, b.state, user, b.note, "console")
    )


async def snooze(request: Request) -> Response:
    return await _act(
        request,
        SnoozeBody,
        lambda agent, b, user: agent.control_alerts("snooze", f"rule:{b.rule}", user, "console", b.minutes, b.reason),
    )


async def arm(request: Request) -> Response:
    return await _act(
        request, ArmBody, lambda agent, b, user: agent.control_alerts("arm", f"rule:{b.rule}", user, "console")
    )
