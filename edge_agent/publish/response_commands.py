"""The response commands: `dispose`, `arm`, `disarm` and `snooze` (docs/mqtt-api.md, docs/response.md).

Each argument model is strict (extra fields refused, lengths bounded); the handlers go through the agent's
face, which raises ResponseRefused (actions/response_desk.py) saying why nothing changed: the dispatcher
answers that like a CommandError. Controls from here are `origin: remote`: the desk applies the remote-change
policy to their target (config/policy.py), as `set-config` would to the same rule or camera.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from edge_agent.actions.response_desk import ResponseRefused
from edge_agent.control import AgentControl
from edge_agent.events.disposition import DispositionState

_WHO = Field(default="platform", min_length=1, max_length=64, description="Who asks (a platform user); audited.")


FREE_TEXT = ("note", "reason")  # may hold line breaks and tabs; names and ids may not


def _no_control_characters(value: Any, info: ValidationInfo) -> Any:
    """Names, notes and reasons go into the box's audit, the published disposition and the platform's database:
    a NUL or a lone surrogate there is refused by PostgreSQL (the platform would lose the disposition), and other
    control characters forge log lines."""
    if isinstance(value, str):
        allowed = "\n\t" if info.field_name in FREE_TEXT else ""
        for char in value:
            code = ord(char)
            if (code < 0x20 and char not in allowed) or code == 0x7F or 0xD800 <= code <= 0xDFFF:
                raise ValueError(f"control character U+{code:04X} is not allowed")
    return value


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")

    _plain = field_validator("*")(_no_control_characters)


class DisposeArgs(_Args):
    event_id: str = Field(min_length=1, max_length=64, description="The start or instant alert answered.")
    state: DispositionState = Field(description="acknowledged, dispatched, resolved or false_alarm.")
    by: str = Field(min_length=1, max_length=64, description="Who decided (a platform user's name).")
    note: str = Field(default="", max_length=500, description="Free text, published with the disposition.")


class TargetArgs(_Args):
    rule: str | None = Field(default=None, min_length=1, max_length=64, description="A video rule's name.")
    camera: str | None = Field(default=None, min_length=1, max_length=64, description="A camera id.")
    all: bool = Field(default=False, description="Every rule and camera (agent health is never disarmed).")
    by: str = _WHO
    reason: str = Field(default="", max_length=200, description="Why; audited.")

    @model_validator(mode="after")
    def _one_target(self) -> TargetArgs:
        given = [name for name in ("rule", "camera") if getattr(self, name) is not None] + (["all"] if self.all else [])
        if len(given) != 1:
            raise ValueError(f"give exactly one of rule, camera or all: true (found {given or 'none'})")
        return self

    @property
    def target(self) -> str:
        return "all" if self.all else f"rule:{self.rule}" if self.rule is not None else f"camera:{self.camera}"


class SnoozeArgs(_Args):
    rule: str = Field(min_length=1, max_length=64, description="The video rule to snooze.")
    minutes: float = Field(gt=0, le=24 * 60, description="How long; it ends by itself (at most a day).")
    reason: str = Field(min_length=1, max_length=200, description="Why (a delivery, works on site); audited, reported.")
    by: str = _WHO


def response_handlers(agent: AgentControl) -> dict[str, tuple[type[BaseModel], Callable[[Any, str | None], dict]]]:
    """name -> (args model, handler(args, request_id)) for the dispatcher."""

    def dispose(args: DisposeArgs, _: str | None) -> dict:
        return agent.dispose(args.event_id, args.state, args.by, args.note, origin="remote")

    def control(command: str) -> Callable[[TargetArgs, str | None], dict]:
        return lambda args, _: agent.control_alerts(command, args.target, f"remote:{args.by}", "remote", 0, args.reason)

    def snooze(args: SnoozeArgs, _: str | None) -> dict:
        by = f"remote:{args.by}"
        return agent.control_alerts("snooze", f"rule:{args.rule}", by, "remote", args.minutes, args.reason)

    return {
        "dispose": (DisposeArgs, dispose),
        "arm": (TargetArgs, control("arm")),
        "disarm": (TargetArgs, control("disarm")),
        "snooze": (SnoozeArgs, snooze),
    }


__all__ = ["ResponseRefused", "response_handlers"]
