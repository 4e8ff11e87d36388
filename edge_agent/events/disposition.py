"""The `disposition` message: what was decided about an alert, by whom, from where; and the order of the states.

A disposition answers a start or instant alert: `acknowledged` (someone has seen it), `dispatched`
(someone is on the way), `resolved` (dealt with), or `false_alarm` (nothing was there). The first
three come in that order, each at most once, and may skip ahead (a guard may resolve without a
separate acknowledgement); `false_alarm` may follow any of them and closes the alert: nothing
follows it. Every disposition also answers the alert, so it cancels an escalation waiting on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.events.alert import SCHEMA_VERSION

DispositionState = Literal["acknowledged", "dispatched", "resolved", "false_alarm"]
DISPOSITION_STATES: tuple[str, ...] = ("acknowledged", "dispatched", "resolved", "false_alarm")
_RANK = {"acknowledged": 1, "dispatched": 2, "resolved": 3}


def order_problem(recorded: Iterable[str], state: str) -> str | None:
    """Why `state` may not follow the states already `recorded` for one alert (None: it may)."""
    recorded = list(recorded)
    if "false_alarm" in recorded:
        return "it was closed as false_alarm; nothing follows that"
    if state == "false_alarm":
        return None
    later = [done for done in recorded if _RANK.get(done, 0) >= _RANK[state]]
    if later:
        return f"it is already {later[-1]}, which comes after {state} (order: acknowledged, dispatched, resolved)"
    return None


class Disposition(BaseModel):
    """One state of an alert's response, published on `…/dispositions` (class alarm, through the outbox)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str = Field(default=SCHEMA_VERSION)
    event_id: str = Field(description="UUIDv7 of this message; the same on every resend: dedupe on it.")
    device_id: str
    site: str
    alert_event_id: str = Field(description="The alert this disposition answers.")
    alert_type: str = Field(description="Its type.")
    rule: str | None = Field(default=None, description="Its rule, when a rule raised it.")
    source_id: str = Field(description="Its source: camera id, door id or device id.")
    severity: str = Field(description="Its severity.")
    alert_created_at: str = Field(description="RFC 3339 UTC time the alert was made (the response is timed from it).")
    state: DispositionState = Field(description="acknowledged, dispatched, resolved or false_alarm.")
    by: str = Field(min_length=1, max_length=64, description="Who decided: a platform user, or a console user.")
    note: str = Field(default="", max_length=500, description="Free text the person gave.")
    origin: Literal["remote", "console"] = Field(
        description="remote: the platform's `dispose` command; console: the guards' console on the box."
    )
    at: str = Field(description="RFC 3339 UTC time the box recorded it.")
