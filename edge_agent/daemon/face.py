"""`AgentFace`: the running agent's one face (edge_agent/control.py `AgentControl`), for commands, the page and status.

The face is the one place outside agent.py that reads the agent's current parts (its delivery and pipeline),
each through a method of that part, and only to hand back values; what must be consistent with a config switch
(the status, a config change) is the agent's own method, which holds the agent's lock. A reload renews the parts
underneath: the face always reads the current ones, so the page and the command server, which outlive reloads,
hold the face and never a part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from edge_agent.actions.response_desk import ResponseDesk, ResponseRefused
from edge_agent.actions.runner import ActionRunner
from edge_agent.config import AgentConfig
from edge_agent.config.hidden import as_written
from edge_agent.config.redaction import redact
from edge_agent.control import ActionRun, ActionsNotRunning
from edge_agent.daemon.action_stages import MAX_REMOTE_WAIT_S, run_action
from edge_agent.daemon.delivery import Delivery
from edge_agent.daemon.health import HEALTH_ALERT_TYPES
from edge_agent.daemon.parts import PipelineParts
from edge_agent.events import Alert, Frame, Topics
from edge_agent.evidence.desk import EvidenceDesk, EvidenceRefused
from edge_agent.logs import log_ring
from edge_agent.store import OutboxRow
from edge_agent.store.evidence_files import EvidenceRecord

# a technician's Test waits at most this long for the outcome, as `run-action` does
MAX_TEST_WAIT_S = MAX_REMOTE_WAIT_S


class FacedAgent(Protocol):
    """What the face reads of the agent (daemon/agent.py `Agent`, which builds its face: not imported here)."""

    device_id: str
    config_path: Path
    delivery: Delivery | None  # the current ones: a reload renews them
    pipeline: PipelineParts | None

    @property
    def config(self) -> AgentConfig: ...

    @property
    def config_text(self) -> str: ...

    def parse_config(self, text: str, source: str, remote: bool) -> AgentConfig: ...

    def status_report(self) -> dict[str, Any]: ...

    def apply_config_text(self, text: str, origin: str, persist: bool) -> dict[str, Any]: ...


class AgentFace:
    """Implements AgentControl over a running Agent."""

    def __init__(self, agent: FacedAgent):
        self._agent = agent
        self._log = log_ring()  # the process's logging, not the agent's: it outlives reloads like the face

    # -- what runs ------------------------------------------------------------------------------
    @property
    def device_id(self) -> str:
        return self._agent.device_id

    @property
    def config(self) -> AgentConfig:
        return self._agent.config

    @property
    def config_text(self) -> str:
        return self._agent.config_text

    @property
    def config_path(self) -> Path:
        return self._agent.config_path

    @property
    def topics(self) -> Topics:
        config = self._agent.config
        return Topics(config.mqtt.topic_prefix, config.device.site, self._agent.device_id)

    def parse_config(self, text: str, source: str, remote: bool) -> AgentConfig:
        return self._agent.parse_config(text, source, remote)

    def status_report(self) -> dict[str, Any]:
        return self._agent.status_report()

    def redacted_config(self) -> dict[str, Any]:
        config = self._agent.config
        return redact(as_written(config.model_dump(mode="json"), config.env_references))

    # -- what it sees -----------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        pipeline = self._agent.pipeline
        return pipeline.figures_now() if pipeline is not None else {}

    def line_counts(self) -> dict[str, Any]:
        pipeline = self._agent.pipeline
        return pipeline.line_counts() if pipeline is not None else {}

    def camera_tampered(self, camera_id: str) -> bool:
        delivery = self._agent.delivery
        return delivery is not None and delivery.health.camera_tampered(camera_id)

    def latest_frame(self, camera_id: str) -> Frame | None:
        pipeline = self._agent.pipeline
        return pipeline.latest_frame(camera_id) if pipeline is not None else None

    def sight(self, camera_id: str) -> dict | None:
        pipeline = self._agent.pipeline
        classes = self._agent.config.counts.zone_classes
        return pipeline.sight(camera_id, classes) if pipeline is not None else None

    def recent_messages(self, limit: int) -> list[OutboxRow]:
        delivery = self._agent.delivery
        return list(reversed(delivery.outbox.tail(limit))) if delivery is not None else []

    def stored_message(self, event_id: str) -> OutboxRow | None:
        delivery = self._agent.delivery
        return delivery.outbox.get(event_id) if delivery is not None else None

    def show_evidence(self, event_id: str, kind: str | None, user: str | None) -> tuple[EvidenceRecord, bytes]:
        return self._desk().show(event_id, kind, user)

    def health_alerts(self, since: float, limit: int) -> list[OutboxRow]:
        delivery = self._agent.delivery
        if delivery is None:
            return []
        topics = self.topics
        return delivery.outbox.newest_on([topics.alert(kind) for kind in HEALTH_ALERT_TYPES], since, limit)

    def log_lines(self, limit: int, level: str | None, component: str | None) -> list[dict[str, Any]]:
        return self._log.lines(limit, level, component)

    def log_components(self) -> list[str]:
        return self._log.components()

    # -- what it does ------------------------------------------------------------------------------
    def send_evidence(self, event_id: str, kind: str | None, request_id: str | None, requested_by: str | None) -> dict:
        return self._desk().send(event_id, kind, request_id, requested_by)

    def _desk(self) -> EvidenceDesk:
        delivery = self._agent.delivery
        if delivery is None or delivery.desk is None:
            raise EvidenceRefused("the agent is starting: no evidence can be handed out yet")
        return delivery.desk

    def apply_config_text(self, text: str, origin: str, persist: bool) -> dict[str, Any]:
        return self._agent.apply_config_text(text, origin, persist)

    def resend_since(self, wall: float, kinds: tuple[str, ...] = ("alerts",)) -> int:
        delivery = self._agent.delivery
        return delivery.outbox.requeue_since(wall, kinds) if delivery is not None else 0

    def run_action(self, name: str, event_id: str | None, request_id: str | None) -> dict[str, Any]:
        return run_action(self._runner(), name, event_id, request_id)  # the reply may wait for the run's outcome

    def action_figures(self) -> dict[str, Any] | None:
        runner = self._runner()
        return runner.snapshot()["by_action"] if runner is not None else None

    def test_action(self, name: str, alert: Alert | None, fields: dict[str, Any]) -> ActionRun:
        runner = self._runner()
        if runner is None:
            raise ActionsNotRunning("the actions are not running right now (the agent is starting or reloading)")
        job = runner.run_for_technician(name, alert, fields)  # raises ActionRefused
        return ActionRun(job, min(runner.outcome_within(name), MAX_TEST_WAIT_S))

    # -- the response to alerts -------------------------------------------------------------------------
    def dispose(self, event_id: str, state: str, by: str, note: str, origin: str) -> dict[str, Any]:
        return self._desk().dispose(event_id, state, by, note, origin)

    def control_alerts(
        self, command: str, target: str, by: str, origin: str, minutes: float = 0, reason: str = ""
    ) -> dict[str, Any]:
        return self._desk().control(command, target, by, origin, minutes, reason)

    def open_alerts(self) -> list[dict[str, Any]]:
        delivery = self._agent.delivery
        return delivery.response.open_alerts() if delivery is not None and delivery.response is not None else []

    def door_states(self) -> dict[str, Any]:
        pipeline = self._agent.pipeline
        return pipeline.door_states() if pipeline is not None else {}

    def response_snapshot(self) -> dict[str, Any]:
        desk = self._desk()
        return {**desk.snapshot(), "audit": desk.audit_trail(20)}

    def _desk(self) -> ResponseDesk:
        delivery = self._agent.delivery
        if delivery is None or delivery.response is None:
            raise ResponseRefused("the agent is starting or restarting its store; try again in a moment")
        return delivery.response

    def _runner(self) -> ActionRunner | None:
        pipeline = self._agent.pipeline
        return pipeline.action_runner() if pipeline is not None else None
