"""Every health change the daemon sees becomes an alert here, and nowhere else.

- cameras: `camera.offline` and `camera.tamper` start/end pairs from the readers' `CameraHealthEvent`s;
- access adapters: `agent.health` `adapter_offline` (start) / `adapter_online` (end), from the adapters'
  link changes and from start failures, not from polling;
- stages: `agent.health` instants when the supervisor restarts or gives up on a stage;
- the agent itself: `config_rejected`, `config_rolled_back`, `outbox.corrupt` instants.

A `Health` belongs to the delivery (outbox + publisher), which outlives pipeline reloads, so an
outage published before a reload or a stage restart is continued by the new reader or adapter
and ended once, never raised twice. An end alert carries its start's `event_id` in
`related_event_id` and the start's `started_at`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from edge_agent.events import Alert, AlertDetails, AlertFactory, AlertSink, Severity
from edge_agent.sources.camera_health import CameraHealthEvent

log = logging.getLogger(__name__)

# every alert type Health raises (the page's health history reads these back from the outbox)
HEALTH_ALERT_TYPES = ("agent.health", "camera.offline", "camera.tamper")

_CAMERA_SHAPE = {  # kind -> (alert type, severity, phase)
    "offline": ("camera.offline", Severity.major, "start"),
    "online": ("camera.offline", Severity.info, "end"),
    "tamper": ("camera.tamper", Severity.major, "start"),
    "tamper_cleared": ("camera.tamper", Severity.info, "end"),
}
_CAMERA_ENDS = {"online": "offline", "tamper_cleared": "tamper"}


class Health:
    def __init__(self, factory: AlertFactory, sink: AlertSink):
        self.factory = factory
        self.sink = sink
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str, str], Alert] = {}  # (kind, subject, condition) -> its start alert

    # -- cameras --------------------------------------------------------------------------
    def camera_event(self, event: CameraHealthEvent) -> Alert:
        """Publish a reader's health change; an end is linked to its start. Returns the alert."""
        alert_type, severity, phase = _CAMERA_SHAPE[event.kind]
        condition = _CAMERA_ENDS.get(event.kind, event.kind)
        with self._lock:
            start = self._open.pop(("camera", event.camera_id, condition), None) if phase == "end" else None
            alert = self.factory.make(
                alert_type,
                severity,
                ("camera", event.camera_id),
                started_at=event.at,
                ended_at=event.at if phase == "end" else None,
                phase=phase,
                related_event_id=start.event_id if start else None,
                details={"reason": event.reason or None, "extra": dict(event.details) or None},
            )
            if start is not None:
                alert = alert.model_copy(update={"started_at": start.started_at})
            if phase == "start":
                self._open[("camera", event.camera_id, condition)] = alert
            self._store(alert, f"camera {event.camera_id} {event.kind}")
        return alert

    def camera_offline(self, camera_id: str) -> bool:
        """A camera.offline start was published and not yet ended: a new reader must continue it."""
        with self._lock:
            return ("camera", camera_id, "offline") in self._open

    def camera_tampered(self, camera_id: str) -> bool:
        with self._lock:
            return ("camera", camera_id, "tamper") in self._open

    # -- access adapters --------------------------------------------------------------------
    def adapter_offline(self, adapter_id: str, adapter_type: str, what: str, error: str | None = None) -> None:
        """Start an adapter outage (once: a second report while it is open is ignored)."""
        key = ("adapter", adapter_id, "offline")
        message = f"access adapter {adapter_id} ({adapter_type}) {what}"
        extra = {"adapter": adapter_id, "adapter_type": adapter_type, **({"error": error} if error else {})}
        with self._lock:
            if key in self._open:
                return
            log.warning(message, extra={"adapter": adapter_id})
            alert = self.factory.make(
                "agent.health",
                Severity.minor,
                ("device", self.factory.device_id),
                phase="start",
                details=AlertDetails(reason="adapter_offline", message=message, extra=extra),
            )
            self._open[key] = alert
            self._store(alert, "adapter_offline")

    def adapter_online(self, adapter_id: str, adapter_type: str) -> None:
        """End the adapter's open outage, if any."""
        message = f"access adapter {adapter_id} ({adapter_type}) is back online"
        with self._lock:
            start = self._open.pop(("adapter", adapter_id, "offline"), None)
            if start is None:
                return
            log.info(message, extra={"adapter": adapter_id})
            alert = self.factory.make(
                "agent.health",
                Severity.info,
                ("device", self.factory.device_id),
                phase="end",
                related_event_id=start.event_id,
                details=AlertDetails(
                    reason="adapter_online",
                    message=message,
                    extra={"adapter": adapter_id, "adapter_type": adapter_type},
                ),
            )
            self._store(alert.model_copy(update={"started_at": start.started_at}), "adapter_online")

    # -- episodes across reloads and restarts ---------------------------------------------------
    def open_episode_ids(self) -> set[str]:
        with self._lock:
            return {alert.event_id for alert in self._open.values()}

    def restore(self, start: Alert) -> bool:
        """After a restart: continue an outage the previous process published (camera or adapter offline, from the
        episode ledger): its reader or adapter ends it when it is back. False for anything that cannot be
        re-established that way."""
        if start.type == "camera.offline":
            key = ("camera", start.source.id, "offline")
        elif start.type == "agent.health" and start.details.reason == "adapter_offline":
            key = ("adapter", (start.details.extra or {}).get("adapter", ""), "offline")
        else:
            return False
        with self._lock:
            self._open.setdefault(key, start)
        return True

    def forget(self, keep_cameras: set[str], keep_adapters: set[str]) -> list[Alert]:
        """Drop (and return) open outages of cameras and adapters no longer configured; the caller ends them."""
        with self._lock:
            gone = [
                key
                for key in self._open
                if (key[0] == "camera" and key[1] not in keep_cameras)
                or (key[0] == "adapter" and key[1] not in keep_adapters)
            ]
            return [self._open.pop(key) for key in gone]

    # -- stages and the agent -----------------------------------------------------------------
    def stage_event(self, stage: str, reason: str, description: str, restarts: int, severity: Severity) -> None:
        self.emit(reason, f"stage {stage}: {description}", severity, {"stage": stage, "restarts": restarts})

    def outbox_recovered(self, moved_to: Path, error: str) -> None:
        self.emit(
            "outbox.corrupt",
            f"outbox database was corrupt and was moved to {moved_to.name}; started empty",
            Severity.major,
            {"moved_to": str(moved_to), "error": error},
        )

    def emit(self, reason: str, message: str, severity: Severity = Severity.major, extra: dict | None = None) -> None:
        """An instant `agent.health` alert."""
        alert = self.factory.make(
            "agent.health",
            severity,
            ("device", self.factory.device_id),
            details=AlertDetails(reason=reason, message=message[:500], extra=extra or None),
        )
        self._store(alert, reason)

    def _store(self, alert: Alert, what: str) -> None:
        try:
            self.sink.emit(alert)
        except Exception:  # health reporting must never take down what reported it
            log.exception("could not store the health alert for %s", what)
