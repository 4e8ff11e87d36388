"""What the page's handlers share: one `WebContext` per server, built from the agent it is handed.

Built once per server, not per reload, so sessions, login limits and the audit log outlive the
agent's reloads (the page's own Apply included).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.clock import Clock
from edge_agent.config.web import WebConfig
from edge_agent.control import AgentControl
from edge_agent.web.audit import AuditLog
from edge_agent.web.live import LiveImages
from edge_agent.web.security import LoginLimiter, Sessions


@dataclass
class WebContext:
    """What the handlers share; built once per server, so sessions outlive the agent's reloads."""

    agent: AgentControl  # the running agent's face (daemon/face.py): outlives reloads, reads the current parts
    config: WebConfig
    clock: Clock
    sessions: Sessions
    limiter: LoginLimiter
    audit: AuditLog
    live: LiveImages
    password_path: Path
    applying: threading.Lock = field(default_factory=threading.Lock)
    refused: dict[str, int] = field(default_factory=dict)  # requests refused before routing, by reason (guard.py)

    @property
    def secure(self) -> bool:
        return self.config.tls.enabled


def build_context(agent: AgentControl, config: WebConfig, clock: Clock) -> WebContext:
    state_dir = agent.config.device.state_dir
    return WebContext(
        agent=agent,
        config=config,
        clock=clock,
        sessions=Sessions(clock, config.session_idle_timeout, config.session_max_age),
        limiter=LoginLimiter(clock, config.login_max_failures, config.login_window),
        audit=AuditLog(config.audit_path(state_dir), clock),
        live=LiveImages(agent.latest_frame, clock, config.live_fps),
        password_path=config.password_path(state_dir),
    )
