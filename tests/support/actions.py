"""Building actions, alerts and a runner on a real outbox for the action tests; reading the records back."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from pydantic import TypeAdapter

from edge_agent.actions.base import ActionEnv
from edge_agent.actions.runner import ActionRunner, build_actions
from edge_agent.clock import Clock, SystemClock
from edge_agent.config.actions import ActionConfig
from edge_agent.events import Alert, AlertFactory, Topics
from edge_agent.store import Outbox

ROOT = Path(__file__).resolve().parents[2]
ACTION_SCHEMA = ROOT / "docs" / "schemas" / "action.schema.json"
_configs = TypeAdapter(list[ActionConfig])


def action_configs(*items: dict) -> list:
    return _configs.validate_python(list(items))


def make_alert(
    clock: Clock | None = None, *, type="intrusion", phase="start", rule="anyone", source="entrance", **details
) -> Alert:
    details = {"zone": "room", "object_class": "person", "count": 1, **details}
    kind = "door" if type.startswith(("door.", "access.")) else "camera"
    return AlertFactory("dev-1", "site-1", clock).make(
        type, "major", (kind, source), phase=phase, rule=rule, details=details
    )


def start_runner(outbox: Outbox, *configs: dict, clock: Clock | None = None) -> ActionRunner:
    parsed = action_configs(*configs)
    actions = build_actions(parsed, ActionEnv(), "UTC")
    disabled = [config.name for config in parsed if not config.enabled]
    runner = ActionRunner(
        actions, outbox, Topics("edge", "site-1", "dev-1"), ("dev-1", "site-1"), clock or SystemClock(), disabled
    )
    runner.start()
    return runner


def stored_records(outbox: Outbox) -> list[dict]:
    """Every action record in the outbox, oldest first."""
    with outbox._lock:  # the recorder thread writes on the same connection
        rows = outbox.db.execute("SELECT payload FROM outbox WHERE topic LIKE '%/actions/%' ORDER BY seq").fetchall()
    return [json.loads(payload) for (payload,) in rows]


def records_of(outbox: Outbox, action: str) -> list[dict]:
    return [record for record in stored_records(outbox) if record["action"] == action]


def schema_problems(record: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(json.loads(ACTION_SCHEMA.read_text()))
    return [error.message for error in validator.iter_errors(record)]
