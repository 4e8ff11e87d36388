"""Every alert the agent's own code emits during a test is checked against the published, per-type schema.

tests/conftest.py wraps the sinks (`ListSink`, `JsonLinesSink`, `Outbox`) for each test; at teardown the
alerts caught are validated against docs/schemas/alert.schema.json, and the test errors when one does
not match. Alerts a test builds by hand (odd types, made-up details) are not the agent's: an alert
counts when the first caller outside a chain of `emit` methods is package code, not a test.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import jsonschema

import edge_agent
from edge_agent.events import Alert, JsonLinesSink, ListSink
from edge_agent.events.alert_types import ALERT_TYPES
from edge_agent.store import Outbox

ROOT = Path(__file__).resolve().parents[2]
ALERT_SCHEMA = ROOT / "docs" / "schemas" / "alert.schema.json"
PACKAGE_DIR = str(Path(edge_agent.__file__).resolve().parent)
SINKS = (ListSink, JsonLinesSink, Outbox)

_validator = None


def alert_validator() -> jsonschema.Draft202012Validator:
    global _validator
    if _validator is None:
        _validator = jsonschema.Draft202012Validator(json.loads(ALERT_SCHEMA.read_text()))
    return _validator


def _branches(schema: dict) -> dict[str, str]:
    """type -> the `$ref` of its subschema in the `oneOf` (each keyed by its `type` const)."""
    refs = (entry["$ref"] for entry in schema["oneOf"])
    return {schema["$defs"][ref.split("/")[-1]]["properties"]["type"]["const"]: ref for ref in refs}


def contract_problems(payload: dict) -> list[str]:
    """Why `payload` breaks the published alert contract; empty when it holds."""
    problems = []
    if payload.get("type") not in ALERT_TYPES:
        problems.append(f"type {payload.get('type')!r} has no subschema in edge_agent/events/alert_types.py")
    validator = alert_validator()
    if validator.is_valid(payload):
        return problems
    branch = _branches(validator.schema).get(payload.get("type"))
    if branch:  # say what is wrong against its own type's subschema, not "not valid under any of oneOf"
        validator = jsonschema.Draft202012Validator({"$ref": branch, "$defs": validator.schema["$defs"]})
    for error in validator.iter_errors(payload):
        # an optional field is anyOf [its shape, null]: say what is wrong with the shape, not that it is not null
        shaped = [e for e in error.context or [] if (e.validator, e.validator_value) != ("type", "null")]
        for detail in shaped or [error]:
            problems.append(f"{'/'.join(map(str, detail.absolute_path)) or '(root)'}: {detail.message}")
    return problems


def emitted_by_the_agent() -> bool:
    """True when the code that emitted (below any `emit` wrappers) lives in the edge_agent package."""
    frame = sys._getframe(2)  # the wrapper's caller
    while frame is not None and frame.f_code.co_name in ("emit", "emit_and_collect"):
        frame = frame.f_back
    return frame is not None and frame.f_code.co_filename.startswith(PACKAGE_DIR)


class EmittedAlerts:
    """Collects the agent's alerts while installed on the sink classes."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self._lock = threading.Lock()

    def install(self, monkeypatch) -> None:
        for sink in SINKS:
            monkeypatch.setattr(sink, "emit", self._wrap(sink.emit))

    def _wrap(self, emit):
        def emit_and_collect(sink, alert: Alert) -> None:
            if isinstance(alert, Alert) and emitted_by_the_agent():
                with self._lock:
                    self.alerts.append(alert)
            return emit(sink, alert)

        emit_and_collect.__name__ = "emit"
        return emit_and_collect

    def violations(self) -> list[str]:
        with self._lock:
            alerts = list(self.alerts)
        found = []
        for alert in alerts:
            payload = json.loads(alert.to_json())
            found += [f"{alert.type} ({alert.phase}): {problem}" for problem in contract_problems(payload)]
        return found
