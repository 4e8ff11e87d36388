"""The Actions panel: each configured action with the runner's figures and last records; render; a test run.

Listing and rendering reuse `edge_agent.actions.preview` (what `edge-agent actions list|render`
show), so the page and the CLI cannot disagree, and secret header values are masked the same way.
A test run goes through the running agent's own runner (`ActionRunner.run_for_technician`): the
same worker, tries, timeouts and rate limit as an alert's run, and its record is stored in the
outbox with `trigger: technician`. That is why `osdp_output` works here and not in the CLI: the
agent owns the OSDP control panel. The alert that fills the templates is a sample built from the
action's own trigger (or the facts given), or a stored alert named by `event_id`.
"""

from __future__ import annotations

import json

from edge_agent.actions.base import ActionBuildError
from edge_agent.actions.preview import describe_action, render_action, rendering_text
from edge_agent.actions.runner import ActionRefused
from edge_agent.actions.samples import (
    DETAIL_FACTS,
    SampleError,
    SampleFacts,
    alert_summary,
    parse_detail_value,
    sample_alert,
)
from edge_agent.config.hidden import hidden_texts
from edge_agent.config.redaction import scrub
from edge_agent.control import ActionsNotRunning, AgentControl
from edge_agent.events import Alert
from edge_agent.events.action import TEMPLATE_FIELDS, alert_fields
from edge_agent.web.views import TAIL_SCAN

RECORDS_SHOWN = 5
SAMPLE_KEYS = ("type", "rule", "phase", "source", "severity", *DETAIL_FACTS)
ALERT_CLASSES = ("alarm", "event")
RECORD_FIELDS = (
    "event_id", "trigger", "outcome", "attempts", "error", "status_code", "exit_code", "latency_ms", "run_ms",
    "finished_at", "alert_event_id", "alert_type", "rule", "phase",
)  # fmt: skip
REPLY_STATUS = {"rate_limited": 429, "dropped": 503, "stopped": 503}  # not run: the action's limits, queue, a stop


class PanelError(Exception):
    """A request the panel cannot serve; `status` is the HTTP status, the message says what to do."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def listing(agent: AgentControl) -> dict:
    """Every configured action (disabled ones too) with its figures and newest records."""
    figures = agent.action_figures()
    records = _last_records(agent, RECORDS_SHOWN)
    actions = [
        describe_action(config) | {"figures": (figures or {}).get(config.name), "records": records.get(config.name, [])}
        for config in agent.config.actions
    ]
    return scrub(
        {"running": figures is not None, "actions": actions}, hidden_texts(agent.config, agent.config.env_references)
    )


def _last_records(agent: AgentControl, count: int) -> dict[str, list[dict]]:
    """Action name -> its newest records (newest first) among the outbox's recent rows."""
    topics = agent.topics
    by_topic = {topics.action(config.name): config.name for config in agent.config.actions}
    found: dict[str, list[dict]] = {}
    for row in agent.recent_messages(TAIL_SCAN):
        name = by_topic.get(row.topic)
        if name is None or len(found.setdefault(name, [])) >= count:
            continue
        try:
            record = json.loads(row.payload)
        except ValueError:
            continue
        found[name].append({key: record.get(key) for key in RECORD_FIELDS} | {"state": row.state})
    return found


def configured(agent: AgentControl, name: str):
    config = next((action for action in agent.config.actions if action.name == name), None)
    if config is None:
        known = ", ".join(action.name for action in agent.config.actions) or "none"
        raise PanelError(404, f"no action named {name!r} (configured: {known})")
    return config


def chosen_alert(agent: AgentControl, config, body) -> tuple[Alert | None, bool]:
    """The alert that fills the templates, and whether it is a stored one (a record may name it).

    `body`: {} (a sample from the action's trigger; no alert at all for an action with no trigger,
    as a `run-action` without event_id), {"sample": {type, rule, phase, zone, …}} or
    {"event_id": "…"} (an alert in the outbox)."""
    if not isinstance(body, dict):
        raise PanelError(400, 'send {}, {"sample": {...}} or {"event_id": "..."}')
    unknown = sorted(set(body) - {"sample", "event_id"})
    if unknown or ("sample" in body and "event_id" in body):
        raise PanelError(400, f'send {{}}, {{"sample": {{...}}}} or {{"event_id": "..."}}, not {sorted(body)}')
    if body.get("event_id") is not None:
        return _stored_alert(agent, str(body["event_id"])), True
    sample = body.get("sample") or {}
    if not isinstance(sample, dict) or set(sample) - set(SAMPLE_KEYS):
        wrong = sorted(set(sample) - set(SAMPLE_KEYS)) if isinstance(sample, dict) else sample
        raise PanelError(400, f"a sample takes {', '.join(SAMPLE_KEYS)}; not {wrong}")
    given = {key: value for key, value in sample.items() if value not in (None, "")}
    if not given and not config.on:
        return None, False
    try:
        details = {key: _detail(key, value) for key, value in given.items() if key in DETAIL_FACTS}
        facts = SampleFacts(*(_text(given.get(key)) for key in SAMPLE_KEYS[:5]), details=details)
        return sample_alert(agent.config, config, facts), False
    except SampleError as exc:
        raise PanelError(422, str(exc)) from None


def fields_for(agent: AgentControl, alert: Alert | None, name: str) -> dict:
    """What the templates are filled from: the alert's fields, or only the action and device (no alert)."""
    if alert is not None:
        return alert_fields(alert, name)
    return dict.fromkeys(TEMPLATE_FIELDS) | {
        "action": name,
        "device_id": agent.device_id,
        "site": agent.config.device.site,
    }


def summary(alert: Alert | None) -> str:
    return alert_summary(alert) if alert is not None else "no alert: only {action}, {device_id} and {site} are filled"


def _text(value) -> str | None:
    return None if value is None else str(value)


def _detail(key: str, value):
    """A detail as typed in a form (text) or sent as JSON (a number for `count`)."""
    return parse_detail_value(key, value) if isinstance(value, str) else value


def _stored_alert(agent: AgentControl, event_id: str) -> Alert:
    row = agent.stored_message(event_id)
    if row is None:
        raise PanelError(404, f"no alert {event_id} in the outbox (delivered alerts are kept for a while only)")
    if row.cls not in ALERT_CLASSES or "/alerts/" not in row.topic:
        raise PanelError(422, f"{event_id} is not an alert (it was published on {row.topic})")
    try:
        return Alert.model_validate_json(row.payload)
    except ValueError as exc:
        raise PanelError(422, f"alert {event_id} cannot be read back: {exc}"[:500]) from None


def render(agent: AgentControl, name: str, body) -> dict:
    """What one try of the action would send for the chosen alert; nothing is sent."""
    config = configured(agent, name)
    alert, _ = chosen_alert(agent, config, body)
    try:
        shown = render_action(config, fields_for(agent, alert, name))
    except ActionBuildError as exc:
        raise PanelError(422, str(exc)) from None
    reply = {"action": name, "alert": summary(alert), "rendered": shown, "text": rendering_text(shown)}
    # a secret or an environment value may reach a rendered URL, body or header through any template: never shown
    return scrub(reply, hidden_texts(agent.config, agent.config.env_references))


def run_now(agent: AgentControl, name: str, body) -> tuple[int, dict]:
    """Run the action once now through the agent's runner and wait (bounded) for its record: (status, reply)."""
    config = configured(agent, name)
    if not config.enabled:
        raise PanelError(409, f"action {name!r} is disabled (enabled: false); the agent does not run it")
    alert, stored = chosen_alert(agent, config, body)
    try:
        run = agent.test_action(name, alert if stored else None, fields_for(agent, alert, name))
    except ActionsNotRunning as exc:
        raise PanelError(503, f"{exc}; try again") from None
    except ActionRefused as exc:
        raise PanelError(409, str(exc)) from None
    job, wait = run.job, run.within
    reply = {"action": name, "alert": summary(alert), "record_event_id": job.record_id}
    if not job.done.wait(wait):
        return 202, reply | {"ok": False, "outcome": "pending", "error": f"no outcome within {wait:g} s yet"}
    record = job.record.model_dump(mode="json", exclude_none=True)
    outcome = record["outcome"]
    return REPLY_STATUS.get(outcome, 200), reply | {"ok": outcome == "ok", "outcome": outcome, "record": record}
