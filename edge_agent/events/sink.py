"""Where alerts go. Stages only know `AlertSink`; the outbox, replay's printer and tests implement it."""

from __future__ import annotations

import sys
import threading
from typing import Protocol, TextIO

from edge_agent.events.alert import Alert


class AlertSink(Protocol):
    def emit(self, alert: Alert) -> None: ...


class ListSink:
    """Keeps alerts in memory (tests, replay reports)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.alerts: list[Alert] = []

    def emit(self, alert: Alert) -> None:
        with self._lock:
            self.alerts.append(alert)

    def of_type(self, alert_type: str) -> list[Alert]:
        with self._lock:
            return [a for a in self.alerts if a.type == alert_type]


class JsonLinesSink:
    """Prints one JSON alert per line (replay, demo)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def emit(self, alert: Alert) -> None:
        with self._lock:
            self._stream.write(alert.to_json() + "\n")
            self._stream.flush()


class TeeSink:
    def __init__(self, *sinks: AlertSink) -> None:
        self._sinks = sinks

    def emit(self, alert: Alert) -> None:
        for sink in self._sinks:
            sink.emit(alert)
