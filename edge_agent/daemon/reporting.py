"""What the agent tells the outside: status for the `status` command, config persistence (redaction: config/)."""

from __future__ import annotations

import logging
from pathlib import Path

from edge_agent import __version__
from edge_agent.clock import iso_utc
from edge_agent.private_files import GROUP_READABLE_FILE, atomic_write_private

log = logging.getLogger(__name__)


def status_report(agent) -> dict:
    delivery, supervisor, core = agent.delivery, agent.supervisor, getattr(agent, "core", None)
    if core is not None and core.delivery is not delivery:
        core = None  # a reload renewed the delivery; the next tick watches the new one
    report = {
        "device_id": agent.device_id,
        "site": agent.config.device.site,
        "agent_version": __version__,
        "started_at": iso_utc(agent.started_at),
        "uptime_s": round(agent.clock.wall() - agent.started_at, 1),
        "healthy": bool(supervisor and supervisor.healthy()) and (core is None or core.healthy()),
        "config_sha256": agent.config_digest(),
        "config_file": str(agent.config_path),
        "last_reload": agent.last_reload,
        "stages": {**(supervisor.snapshot() if supervisor else {}), **(core.snapshot() if core else {})},
        "cameras": [camera.id for camera in agent.config.cameras if camera.enabled],
        "adapters": [adapter.id for adapter in agent.config.access.adapters],
    }
    adapters = agent.pipeline.adapters if agent.pipeline is not None else None
    if adapters is not None:  # link state of each access adapter, as in telemetry
        report["adapter_health"] = {
            adapter_id: "online" if figures.get("online") else "offline" for adapter_id, figures in adapters().items()
        }
    if delivery is not None:
        report["mqtt_connected"] = delivery.publisher.connected
        report["outbox"] = delivery.outbox.stats().to_dict()
    return report


def agent_counters(agent) -> dict:
    """The agent's own counters for telemetry `system.agent`."""
    return {
        "commands_handled": agent.commands.handled,
        "commands_refused_busy": agent.commands.dropped,
        "commands": dict(agent.commands.dispatcher.counts),
        "sd_notify_failures": agent.notifier.failures,
    }


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
