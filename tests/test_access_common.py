"""Helpers shared by the access-control tests (this module holds no tests itself)."""

from __future__ import annotations

import threading
from pathlib import Path

from edge_agent.clock import Clock
from edge_agent.config.access import AccessConfig
from edge_agent.config.outbox import OutboxConfig
from edge_agent.credentials import CredentialTokenizer
from edge_agent.daemon.delivery import Services
from edge_agent.daemon.health import Health
from edge_agent.events import AlertFactory, AlertSink, DoorEvent, Topics
from edge_agent.store import Outbox

SITE_KEY_HEX = "6b6579206f662074686520736974652c2033322062797465732c206e6f742072"
SITE_KEY = bytes.fromhex(SITE_KEY_HEX)


def write_site_key(directory: Path) -> Path:
    path = Path(directory) / "site.key"
    path.write_text(SITE_KEY_HEX + "\n")
    return path


def tokenizer() -> CredentialTokenizer:
    return CredentialTokenizer(SITE_KEY)


def services_around(tmp_path: Path, sink: AlertSink, clock: Clock) -> Services:
    """What a stage builder is handed in the daemon (daemon/delivery.py), with alerts going to `sink` (a ListSink);
    the outbox and topics beside it are real, for the stages that store messages themselves."""
    factory = AlertFactory("dev-1", "site-1", clock)
    outbox = Outbox(Path(tmp_path) / "services-outbox.db", OutboxConfig(), clock)
    return Services(sink, factory, Health(factory, sink), None, outbox, Topics("edge", "site-1", "dev-1"), clock)


def access_config(tmp_path: Path, **sections) -> AccessConfig:
    return AccessConfig.model_validate({"site_key_file": str(write_site_key(tmp_path)), **sections})


class EventLog:
    """Collects door events from adapter threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[DoorEvent] = []

    def __call__(self, event: DoorEvent) -> None:
        with self._lock:
            self.events.append(event)

    def of_type(self, event_type: str) -> list[DoorEvent]:
        with self._lock:
            return [e for e in self.events if e.type == event_type]

    def __len__(self) -> int:
        with self._lock:
            return len(self.events)
