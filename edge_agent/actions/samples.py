"""Alerts to try an action with: a stored or hand-written alert file, or a sample built from a few facts.

`edge-agent actions render|run` fill an action's templates from one of these. A sample takes what
it is not told from the action's first trigger and the rule that trigger names (its type, camera,
zone or line, first class and severity), so `actions render NAME` alone shows a plausible request.
Every sample is checked against its type's published schema: a fact the type never carries is refused
(facts no template reads, such as boxes and track ids, may be left out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from edge_agent.clock import Clock
from edge_agent.config.errors import describe_validation_errors
from edge_agent.events import Alert, AlertFactory, new_event_id
from edge_agent.events.alert_types import ALERT_TYPES, TYPED_ALERTS
from edge_agent.identity import device_id_for

MAX_ALERT_FILE_BYTES = 256 * 1024
DETAIL_FACTS = ("zone", "line", "door", "reader", "direction", "object_class", "count", "message", "reason")


class SampleError(ValueError):
    """The alert asked for cannot be built or read; says what to change."""


@dataclass
class SampleFacts:
    """What the person asked for; None means: take it from the action's trigger and rule."""

    type: str | None = None
    rule: str | None = None
    phase: str | None = None
    source: str | None = None
    severity: str | None = None
    details: dict = field(default_factory=dict)  # DETAIL_FACTS given on the command line


def load_alert_file(path: str | Path) -> Alert:
    """An alert as published (JSON), e.g. copied from `edge-agent outbox` or a replay's output."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            text = handle.read(MAX_ALERT_FILE_BYTES + 1)
    except OSError as exc:
        raise SampleError(f"alert file {path}: {exc.strerror or exc}") from None
    if len(text) > MAX_ALERT_FILE_BYTES:
        raise SampleError(f"alert file {path} is larger than {MAX_ALERT_FILE_BYTES} bytes")
    try:
        return Alert.model_validate_json(text)
    except ValidationError as exc:
        problems = describe_validation_errors(exc.errors(), limit=5)
        raise SampleError(f"alert file {path} is not an alert: {problems}") from None


def sample_alert(config, action, facts: SampleFacts, clock: Clock | None = None) -> Alert:
    """An alert for `action` (an ActionConfig) in `config` (the AgentConfig), from `facts` and the defaults."""
    rules = {rule.name: rule for rule in config.rules}
    trigger = _trigger_for(action.on, facts, rules)
    rule_name = facts.rule or (trigger.rule if trigger else None)
    rule = rules.get(rule_name)
    alert_type = facts.type or (trigger.type if trigger else None) or (rule.type if rule else None)
    if alert_type is None:
        raise SampleError("this action names no rule or alert type to sample: give --type (and --rule) or --alert")
    spec = ALERT_TYPES.get(alert_type)
    if spec is None:
        raise SampleError(f"unknown alert type {alert_type!r} (known: {', '.join(sorted(ALERT_TYPES))})")
    phase = facts.phase or _default_phase(trigger, spec.phases)
    if phase not in spec.phases:
        raise SampleError(f"{alert_type} alerts have phases {list(spec.phases)}, not {phase!r}")
    source_kind = spec.sources[0]
    source = facts.source or (trigger.source if trigger else None) or getattr(rule, "camera", None) or "sample"
    details = _default_details(rule, source_kind, source, phase) | facts.details
    severity = facts.severity or (rule.severity.value if rule else "major")
    factory = AlertFactory(device_id_for(config), config.device.site, clock)
    now = factory.clock.wall()
    started = now - (details.get("duration_s") or 0.0)
    try:
        alert = factory.make(
            alert_type,
            severity,
            (source_kind, source),
            phase=phase,
            rule=rule_name,
            started_at=started,
            ended_at=now if phase == "end" else None,
            related_event_id=new_event_id() if phase == "end" else None,
            details=details,
        )
    except ValidationError as exc:
        problems = describe_validation_errors(exc.errors(), limit=5)
        raise SampleError(f"a {alert_type} {phase} alert cannot carry these facts: {problems}") from None
    _check_fits(alert)
    return alert


def _check_fits(alert: Alert) -> None:
    """The sample against its type's schema: a fact the type never carries (a zone on a door alert) or a value
    it never takes is refused; facts a real alert has and no template reads (boxes, track ids) may be missing."""
    try:
        TYPED_ALERTS[alert.type].model_validate_json(alert.to_json())
    except ValidationError as exc:
        wrong = [error for error in exc.errors() if error.get("type") != "missing"]
        if wrong:
            problems = describe_validation_errors(wrong, limit=5)
            raise SampleError(f"a {alert.type} {alert.phase} alert cannot carry these facts: {problems}") from None


def _trigger_for(triggers, facts: SampleFacts, rules: dict):
    """The first trigger that fits what was asked for (its rule's type too), so `--type door.forced` on an action
    bound to a video rule and to door.forced samples the door.forced binding; None when none fits."""
    for trigger in triggers:
        rule = rules.get(trigger.rule)
        alert_type = trigger.type or (rule.type if rule else None)
        if facts.rule is not None and trigger.rule not in (None, facts.rule):
            continue
        if facts.type is not None and alert_type not in (None, facts.type):
            continue
        return trigger
    return None


def _default_phase(trigger, phases: tuple[str, ...]) -> str:
    wanted = trigger.phases if trigger else []
    return next((phase for phase in wanted if phase in phases), phases[0])


def _default_details(rule, source_kind: str, source: str, phase: str) -> dict:
    details: dict = {"message": "sample alert (edge-agent actions)"}
    if source_kind == "door":
        details["door"] = source
    if rule is None:
        return details
    for key in ("zone", "line"):
        if getattr(rule, key, None):
            details[key] = getattr(rule, key)
    if getattr(rule, "alert_direction", None) in ("in", "out"):
        details["direction"] = rule.alert_direction
    classes = getattr(rule, "classes", None)
    if classes:
        details["object_class"] = classes[0]
    if rule.type != "line_crossing":  # a crossing alert carries no count
        details["peak_count" if phase == "end" else "count"] = 1
    if phase == "end":
        details["duration_s"] = 10.0
    return details


def parse_detail_value(key: str, text: str):
    """A command-line detail value: `count` is a whole number; the rest are text."""
    if key == "count":
        try:
            return int(text)
        except ValueError:
            raise SampleError(f"--count must be a whole number, found {text!r}") from None
    return text


def alert_summary(alert: Alert) -> str:
    """One line naming the alert the templates were filled from."""
    facts = {key: value for key, value in alert.details.model_dump(exclude_none=True).items() if key in DETAIL_FACTS}
    shown = json.dumps(facts, ensure_ascii=False)
    rule = f" rule {alert.rule}" if alert.rule else ""
    return f"{alert.type} {alert.phase} from {alert.source.kind} {alert.source.id}{rule} {shown}"
