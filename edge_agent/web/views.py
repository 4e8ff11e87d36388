"""What the Overview and Alerts pages show, read through the agent's face (edge_agent/control.py)."""

from __future__ import annotations

import json

from edge_agent.clock import iso_utc
from edge_agent.control import AgentControl

ALERT_FILTERS = ("type", "camera", "door", "phase")
TAIL_SCAN = 2000  # rows looked at to fill one filtered page; the outbox holds more, the page wants the recent ones


def overview(agent: AgentControl) -> dict:
    status = agent.status_report()
    telemetry = agent.figures()
    gated = {camera.id: camera.motion.full_check_interval for camera in agent.config.cameras if camera.motion.enabled}
    cameras = {}
    for camera_id in status.get("cameras", []):
        figures = dict(telemetry.get("cameras", {}).get(camera_id, {}))
        figures["tamper"] = agent.camera_tampered(camera_id)
        figures["motion_idle"] = motion_idle(figures, gated.get(camera_id))
        cameras[camera_id] = figures
    outbox = status.get("outbox", {})
    return {
        "device_id": status["device_id"],
        "site": status["site"],
        "agent_version": status["agent_version"],
        "uptime_s": status["uptime_s"],
        "healthy": status["healthy"],
        "last_reload": status["last_reload"],
        "mqtt_connected": status.get("mqtt_connected", False),
        "mqtt_error": status.get("mqtt_error"),
        "cameras": cameras,
        "lines": telemetry.get("lines", {}),
        "detector": telemetry.get("detector", {}),
        "adapters": {
            adapter_id: {"online": bool(figures.get("online")), **_scalars(figures)}
            for adapter_id, figures in telemetry.get("adapters", {}).items()
        },
        "outbox": {"by_state": outbox.get("by_state", {}), "drops": outbox.get("drops", {})},
        "stages": {name: stage.get("status") for name, stage in status.get("stages", {}).items()},
        "last_alerts": alerts(agent, {}, limit=10),
    }


def motion_idle(figures: dict, full_check_interval: float | None) -> bool:
    """The motion gate is resting the detector: frames arrive, nothing moves and nobody is tracked, so the detector
    runs only its periodic full check (one per `full_check_interval` s). The page says "idle (no motion)" then, not
    "0 fps", which reads as a fault. `full_check_interval` None: the camera is not motion-gated."""
    if full_check_interval is None or not figures.get("online") or not (figures.get("capture_fps") or 0) > 0:
        return False
    return not figures.get("live_tracks") and (figures.get("processed_fps") or 0) <= 1.5 / full_check_interval


def line_counts(agent: AgentControl) -> dict:
    return agent.line_counts()


def alerts(agent: AgentControl, filters: dict, limit: int = 100) -> list[dict]:
    """The newest alerts first, matching every given filter, with their delivery state."""
    wanted = {key: value for key, value in filters.items() if key in ALERT_FILTERS and value}
    found = []
    for row in agent.recent_messages(TAIL_SCAN):
        entry = _alert_entry(row)
        if entry is not None and all(entry.get(key) == value for key, value in wanted.items()):
            found.append(entry)
            if len(found) >= limit:
                break
    return found


def _alert_entry(row) -> dict | None:
    try:
        alert = json.loads(row.payload)
    except ValueError:
        return None
    if not isinstance(alert, dict) or "type" not in alert:
        return None  # counts and other non-alert messages
    source = alert.get("source") or {}
    details = alert.get("details") or {}
    kind = source.get("kind")
    return {
        "seq": row.seq,
        "event_id": row.event_id,
        "type": alert.get("type"),
        "phase": alert.get("phase"),
        "severity": alert.get("severity"),
        "rule": alert.get("rule"),
        "camera": source.get("id") if kind == "camera" else None,
        "door": details.get("door") or (source.get("id") if kind == "door" else None),
        "source": f"{kind}:{source.get('id')}",
        "message": details.get("message") or details.get("reason"),
        # kept evidence (snapshot | clip): the page shows it from /api/evidence/{event_id} (web/evidence_view.py)
        "evidence": (details.get("evidence") or {}).get("kind") if isinstance(details.get("evidence"), dict) else None,
        "created_at": alert.get("created_at"),
        "state": row.state,
        "attempts": row.attempts,
        "delivered_at": iso_utc(row.delivered_at) if row.delivered_at else None,
    }


def _scalars(figures: dict) -> dict:
    return {key: value for key, value in figures.items() if isinstance(value, (int, float, str, bool))}
