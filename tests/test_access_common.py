"""Helpers shared by the access-control tests (this module holds no tests itself)."""

from __future__ import annotations

import threading
from pathlib import Path

from edge_agent.config.access import AccessConfig
from edge_agent.credentials import CredentialTokenizer
from edge_agent.events import DoorEvent

SITE_KEY_HEX = "6b6579206f662074686520736974652c2033322062797465732c206e6f742072"
SITE_KEY = bytes.fromhex(SITE_KEY_HEX)


def write_site_key(directory: Path) -> Path:
    path = Path(directory) / "site.key"
    path.write_text(SITE_KEY_HEX + "\n")
    return path


def tokenizer() -> CredentialTokenizer:
    return CredentialTokenizer(SITE_KEY)


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
