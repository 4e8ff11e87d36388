"""Which alerts an action answers, and what it would do with them on a given clock, without running anything.

`triggers_match` is the one test of an alert against an action's `on:` list: the runner's
`Action.matches` (worker.py) and `ActionPlanner` both use it. `ActionPlanner` replays the runner's
decision for each alert — triggers, then the schedule at the alert's time, then cooldown and rate
limit (the same `ActionLimits`) — on whatever clock it is handed: `edge-agent replay` hands it the
clip's clock, so a cooldown of 20 s means 20 s of clip time. It never builds a kind, so it reads no
secret file, checks no program and sends nothing. What it cannot know is a full queue (`dropped`):
that depends on how long real runs take.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge_agent.actions.limits import ActionLimits
from edge_agent.clock import Clock
from edge_agent.events import Alert

OFF_SCHEDULE = "off_schedule"
WOULD_RUN = "would_run"


def triggers_match(triggers: Sequence, alert: Alert) -> bool:
    """True when one of `triggers` (config/actions.py `ActionTrigger`) names this alert's phase and its rule,
    type and source where the trigger gives them."""
    for trigger in triggers:
        if alert.phase not in trigger.phases:
            continue
        if getattr(trigger, "dispositions", None) and "phases" not in trigger.model_fields_set:
            continue  # a trigger on dispositions runs on alerts only for the phases it writes out
        if _names(trigger, alert):
            return True
    return False


def disposition_match(triggers: Sequence, alert: Alert, state: str) -> bool:
    """True when one of `triggers` binds disposition `state` of an alert like this one (its rule, type, source)."""
    return any(
        state in (getattr(trigger, "dispositions", None) or ()) and _names(trigger, alert) for trigger in triggers
    )


def _names(trigger, alert: Alert) -> bool:
    """The trigger's rule, type and source, where it gives them, are the alert's."""
    if trigger.rule is not None and alert.rule != trigger.rule:
        return False
    if trigger.type is not None and alert.type != trigger.type:
        return False
    return trigger.source is None or alert.source.id == trigger.source


@dataclass(frozen=True)
class Decision:
    """What the runner would have done with one alert for one action: `would_run`, or why not
    (`off_schedule`, `cooldown`, `rate_limited`)."""

    action: str
    kind: str
    verdict: str
    alert_event_id: str
    alert_type: str
    rule: str | None
    phase: str
    offset_s: float  # seconds on the planner's clock since it was made (a replay: clip time)


OnActions = Callable[[Alert, list[Decision]], None]


class ActionPlanner:
    """An `AlertSink` that decides, as the runner would, which actions each alert would run; runs none."""

    def __init__(self, configs: Sequence, timezone: str, clock: Clock, on_actions: OnActions | None = None):
        """`on_actions(alert, decisions)` is called for each alert that matches at least one action."""
        self.clock = clock
        self.on_actions = on_actions
        self._origin = clock.wall()
        self._actions = [
            (config, ActionLimits(config.schedule, timezone, config.cooldown, config.rate_limit))
            for config in configs
            if config.enabled and config.on
        ]
        self.decisions: list[Decision] = []

    def __bool__(self) -> bool:
        return bool(self._actions)

    def emit(self, alert: Alert) -> None:
        self.plan(alert)

    def plan(self, alert: Alert) -> list[Decision]:
        """The decisions for `alert` (empty when no action's triggers match), also kept in `decisions`."""
        wall, now = self.clock.wall(), self.clock.monotonic()
        decided = []
        for config, limits in self._actions:
            if not triggers_match(config.on, alert):
                continue
            verdict = OFF_SCHEDULE if not limits.armed(wall) else limits.admit(now, cooldown=True) or WOULD_RUN
            offset = wall - self._origin
            decided.append(
                Decision(config.name, config.kind, verdict, alert.event_id, alert.type, alert.rule, alert.phase, offset)
            )
        self.decisions.extend(decided)
        if decided and self.on_actions is not None:
            self.on_actions(alert, decided)
        return decided


def decisions_text(alert: Alert, decisions: Sequence[Decision]) -> str:
    """One line: the alert and what each matching action would do, e.g.
    `12.4 s  table-visit intrusion start: speaker would run, log-it cooldown`."""
    first = decisions[0]
    verdicts = ", ".join(f"{d.action} {d.verdict.replace('_', ' ')}" for d in decisions)
    return f"{first.offset_s:7.1f} s  {alert.rule or alert.source.id} {alert.type} {alert.phase}: {verdicts}"


def actions_report(decisions: Sequence[Decision], alerts: Sequence[Alert]) -> list[str]:
    """Report rows: every alert that matched an action, then the counts per action and verdict."""
    rows = ["actions (none run; what the runner would do, on the clip's clock; a full queue is not foreseen):"]
    if not decisions:
        return [*rows, "  no alert matched an action's triggers"]
    by_alert: dict[str, list[Decision]] = {}
    for decision in decisions:
        by_alert.setdefault(decision.alert_event_id, []).append(decision)
    rows += [f"  {decisions_text(alert, by_alert[alert.event_id])}" for alert in alerts if alert.event_id in by_alert]
    counts = Counter((d.action, d.verdict) for d in decisions)
    rows.append(f"  {'action':<24} {'would run':>9} {'cooldown':>9} {'rate limited':>13} {'off schedule':>13}")
    for name in dict.fromkeys(d.action for d in decisions):
        rows.append(
            f"  {name:<24} {counts[name, WOULD_RUN]:>9} {counts[name, 'cooldown']:>9}"
            f" {counts[name, 'rate_limited']:>13} {counts[name, OFF_SCHEDULE]:>13}"
        )
    return rows
