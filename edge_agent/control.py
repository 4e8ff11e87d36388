"""The running agent's one face: what the remote commands, the technician's page and status reports may ask of it.

`AgentControl` is a Protocol: the layers that use it (publish's commands, web) name it without importing the
daemon, which implements it (daemon/face.py `AgentFace`). It sits between actions and publish in the import
order, so it names only the config, the shared types, an outbox row and an action job. What it returns is a value
or a snapshot: no caller gets hold of a part of the running pipeline, and a config change goes through
`apply_config_text` (validate, switch under the agent's own lock, confirm or revert: daemon/config_change.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edge_agent.actions.recorder import Job
from edge_agent.config import AgentConfig
from edge_agent.events import Alert, Frame, Topics
from edge_agent.store import OutboxRow
from edge_agent.store.evidence_files import EvidenceRecord


class ActionsNotRunning(RuntimeError):
    """No action runner runs right now (no pipeline yet, a reload in progress, or no actions configured)."""


@dataclass(frozen=True)
class ActionRun:
    """A run queued on the agent's action runner: `job.done` is set once its record exists, at most `within` s
    from now (the runs queued ahead of it and its own, each bounded by its tries' timeouts)."""

    job: Job
    within: float


class AgentControl(Protocol):
    """The running agent, as the commands (`publish/commands.py`), the page (`web/`) and status reports see it."""

    # -- what runs ------------------------------------------------------------------------------
    @property
    def device_id(self) -> str: ...

    @property
    def config(self) -> AgentConfig:
        """The running config (a value: replaced, never changed, by a config switch)."""

    @property
    def config_text(self) -> str:
        """The running config's text, as applied (the file's, a `set-config`'s or the page's)."""

    @property
    def config_path(self) -> Path:
        """The config file on disk (what SIGHUP reads and a persisted change writes)."""

    @property
    def topics(self) -> Topics:
        """Where the agent publishes (the running config's prefix, site and device id)."""

    def parse_config(self, text: str, source: str, remote: bool) -> AgentConfig:
        """Parse and validate `text` as the agent would apply it (raises ConfigError naming every issue): the local
        file with the daemon's environment; remote text (`set-config`, the page) keeping only the running config's
        `${ENV}` references, never adding one."""

    def status_report(self) -> dict[str, Any]:
        """The `status` command's reply: identity, health, stages, broker link, outbox, last reload."""

    def redacted_config(self) -> dict[str, Any]:
        """The running config for `get-config`: inline secrets starred, `${ENV}` values as written."""

    # -- what it sees -----------------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """The telemetry sample as it would be now, JSON-ready ({} while no pipeline runs)."""

    def line_counts(self) -> dict[str, Any]:
        """{"camera/line": {"in", "out"}} of the counting lines."""

    def camera_tampered(self, camera_id: str) -> bool: ...

    def latest_frame(self, camera_id: str) -> Frame | None:
        """The camera's newest decoded frame (not consumed: the pipeline still gets it)."""

    def sight(self, camera_id: str) -> dict[str, Any] | None:
        """What the camera's detector sees now, for the page's overlay (values, memory only): the last detected
        frame's detections and tracks with short trails, the motion regions and masks, each zone's occupancy; None
        when the camera does not run."""

    def recent_messages(self, limit: int) -> list[OutboxRow]:
        """The outbox's newest `limit` rows (alerts, action records, counts; not telemetry), newest first."""

    def stored_message(self, event_id: str) -> OutboxRow | None: ...

    def show_evidence(self, event_id: str, kind: str | None, user: str | None) -> tuple[EvidenceRecord, bytes]:
        """The technician's page (local): an alert's evidence file, recorded as an `evidence_sent` of `via: web`.
        Raises EvidenceRefused (evidence/desk.py) saying why there is none to show."""

    def health_alerts(self, since: float, limit: int) -> list[OutboxRow]:
        """The health alerts (camera offline/tamper, agent health) stored since `since`, newest first."""

    def log_lines(self, limit: int, level: str | None, component: str | None) -> list[dict[str, Any]]:
        """The newest log lines (redacted, from memory) at `level` or above, of `component` (None: any)."""

    def log_components(self) -> list[str]:
        """The components the remembered log lines come from (`web`, `daemon`, `sources`, ...)."""

    # -- what it does ------------------------------------------------------------------------------
    def apply_config_text(self, text: str, origin: str, persist: bool) -> dict[str, Any]:
        """Validate, switch, confirm or revert; raises CommandError (with a `result`) when not applied."""

    def resend_since(self, wall: float, kinds: tuple[str, ...] = ("alerts",)) -> int:
        """Queue again the delivered messages of `kinds` (alerts, counts, actions) stored since `wall`; how many."""

    def run_action(self, name: str, event_id: str | None, request_id: str | None) -> dict[str, Any]:
        """The `run-action` command: run a `remote: true` action, wait (bounded) for its outcome."""

    def send_evidence(self, event_id: str, kind: str | None, request_id: str | None, requested_by: str | None) -> dict:
        """`get-evidence`: queue an alert's evidence for `{base}/evidence/{event_id}` and its `evidence_sent` record;
        raises EvidenceRefused (unknown, expired, privacy none, too many requests)."""

    def action_figures(self) -> dict[str, Any] | None:
        """Per running action its outcome counts and queue; None when no action runner runs."""

    # -- the response to alerts (actions/response_desk.py) -------------------------------------------
    def dispose(self, event_id: str, state: str, by: str, note: str, origin: str) -> dict[str, Any]:
        """Record a disposition (`dispose`, the console); raises ResponseRefused saying why nothing changed."""

    def control_alerts(
        self, command: str, target: str, by: str, origin: str, minutes: float = 0, reason: str = ""
    ) -> dict[str, Any]:
        """`arm`, `disarm` or `snooze` a target (`rule:<name>`, `camera:<id>`, `all`), audited; raises
        ResponseRefused (unknown target; from a remote sender, a target the remote-change policy keeps local)."""

    def open_alerts(self) -> list[dict[str, Any]]:
        """The alerts still waiting for a disposition (resolved or false_alarm), oldest first, with age and source."""

    def door_states(self) -> dict[str, Any]:
        """Per configured door: open or closed as last reported, since when, held open, its offline readers."""

    def response_snapshot(self) -> dict[str, Any]:
        """What is disarmed and snoozed (and what each kept back), escalations waiting, the audit trail."""

    def test_action(self, name: str, alert: Alert | None, fields: dict[str, Any]) -> ActionRun:
        """Queue one run of an enabled action now, for a technician (`trigger: technician`). Raises ActionRefused
        (actions/runner.py) saying why it cannot run, ActionsNotRunning when no runner runs."""
