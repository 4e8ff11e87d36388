"""What the agent tells the outside: status for the `status` command, config persistence (redaction: config/)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from edge_agent import __version__
from edge_agent.clock import iso_utc
from edge_agent.config import AgentConfig
from edge_agent.private_files import GROUP_READABLE_FILE, atomic_write_private

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StatusFacts:
    """What the `status` reply says, gathered by the agent under its lock (daemon/agent.py `status_report`)."""

    device_id: str
    config: AgentConfig
    config_text: str
    config_file: Path
    started_at: float
    now: float
    last_reload: dict | None
    healthy: bool  # every pipeline stage, the publisher and the command server
    stages: dict[str, dict]
    adapter_figures: dict[str, dict] | None  # telemetry `adapters`, with access control
    delivery: dict | None  # Delivery.status(): broker link and outbox, while one runs


def status_report(facts: StatusFacts) -> dict:
    config = facts.config
    report = {
        "device_id": facts.device_id,
        "site": config.device.site,
        "agent_version": __version__,
        "started_at": iso_utc(facts.started_at),
        "uptime_s": round(facts.now - facts.started_at, 1),
        "healthy": facts.healthy,
        "config_sha256": hashlib.sha256(facts.config_text.encode()).hexdigest(),
        "config_file": str(facts.config_file),
        "last_reload": facts.last_reload,
        "stages": facts.stages,
        "cameras": [camera.id for camera in config.cameras if camera.enabled],
        "adapters": [adapter.id for adapter in config.access.adapters],
    }
    if facts.adapter_figures is not None:  # link state of each access adapter, as in telemetry
        report["adapter_health"] = {
            adapter_id: "online" if figures.get("online") else "offline"
            for adapter_id, figures in facts.adapter_figures.items()
        }
    report.update(facts.delivery or {})
    return report


def persist_config(path: Path, text: str) -> dict:
    """Write the applied config atomically (keeping the old one as FILE.previous); never raises."""
    path = Path(path)
    try:
        if path.exists():
            _atomic_write(path.with_name(path.name + ".previous"), path.read_bytes(), path)
        _atomic_write(path, text.encode("utf-8"), path)
    except OSError as exc:
        log.warning("applied config not written to %s: %s (it is lost on restart)", path, exc)
        return {"persisted": False, "persist_error": f"{path}: {exc.strerror or exc}"}
    return {"persisted": True}


def _atomic_write(target: Path, data: bytes, mode_from: Path) -> None:
    """The mode of `mode_from` but never looser than 0640 (the config may hold inline secrets), whatever the umask."""
    mode = mode_from.stat().st_mode & GROUP_READABLE_FILE if mode_from.exists() else GROUP_READABLE_FILE
    atomic_write_private(target, data, mode)
