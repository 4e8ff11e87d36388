"""What every action kind shares: one try's result, the kind interface, and what a kind may reach.

A kind (http.py, command.py, osdp_output.py) does one try of one run: it is handed the alert's
fields (`edge_agent.events.action.alert_fields`) and a timeout, and reports an `Attempt`. It never
raises for a target's failure, never blocks past its timeout, and never logs a secret. Retries,
limits, queues and records are the runner's business (runner.py), not the kind's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Fields = Mapping[str, Any]  # alert_fields(): the only values templates may use


class ActionBuildError(ValueError):
    """An action cannot be built from its config (a missing program, an unreadable secret or CA file); the message
    names the action and what to fix. Raised while a pipeline is built, so a bad config is refused whole."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try: ok, or what went wrong (for people: no secrets, at most a few hundred characters)."""

    ok: bool
    error: str | None = None
    timed_out: bool = False
    refused: bool = False  # the kind refused before doing anything (a value it will not send): no retry can help
    status_code: int | None = None  # http
    exit_code: int | None = None  # command


class OsdpOutputs(Protocol):
    """What an OSDP control panel (sources/access/osdp.py `OsdpAdapter`) offers an action."""

    def send_command(self, address: int, command: dict, timeout: float) -> None:
        """Send one libosdp command dict to the reader at `address`; raise with a clear message when it fails."""
        ...


@dataclass(frozen=True)
class ActionEnv:
    """What a kind may reach besides its config: looked up at run time, since adapters restart and reload."""

    osdp_adapter: Callable[[str], OsdpOutputs | None] = lambda adapter_id: None


class ActionKind(Protocol):
    def run(self, fields: Fields, timeout: float) -> Attempt: ...

    def close(self) -> None: ...
