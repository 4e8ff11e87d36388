"""The `response` stage: hands the delivery's ResponseDesk the running config and action runner, and ticks it.

The desk (actions/response_desk.py) and its state (dispositions, escalation timers, controls in the state
store) outlive reloads with the delivery; this stage holds nothing of its own. Each tick runs the
escalations that came due (with the uplink down too: actions and alerts are local until published) and
reports the snoozes that ended.
"""

from __future__ import annotations

from collections.abc import Callable

from edge_agent.actions.response_desk import ResponseDesk
from edge_agent.actions.runner import ActionRunner
from edge_agent.config import AgentConfig
from edge_agent.daemon.stage_kinds import LoopStage, Stages
from edge_agent.daemon.supervisor import StageSpec

RESPONSE_STAGE = "response"
TICK_S = 0.25  # an escalation or a snooze's end is late by at most this


class ResponseStage(LoopStage):
    def __init__(self, desk: ResponseDesk, config: AgentConfig, runner: Callable[[], ActionRunner | None]):
        super().__init__(RESPONSE_STAGE, desk.tick, TICK_S, first_delay=0.0)
        self.desk, self.config, self.runner = desk, config, runner

    def start(self) -> None:
        self.desk.configure(self.config, self.runner)
        super().start()


def response_stages(config: AgentConfig, desk: ResponseDesk, runner: Callable[[], ActionRunner | None]) -> Stages:
    counters = {
        "dispositions_recorded": lambda: desk.counts["dispositions"],
        "dispositions_refused": lambda: desk.counts["refused"],
        "alerts_escalated": lambda: desk.counts["escalated"],
        "alerts_kept_back": lambda: desk.counts["kept_back"],
    }
    return Stages([StageSpec(RESPONSE_STAGE, lambda: ResponseStage(desk, config, runner))], counters=counters)
