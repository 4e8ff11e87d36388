"""Every topic the agent publishes to or listens on, built in one place.

Layout: ``{prefix}/{site}/{device_id}/...`` with ``alerts/{type}``, ``status``,
``telemetry``, ``counts``, ``dispositions``, ``actions/{action}``, ``evidence/{event_id}``, ``evidence_kept``,
``evidence_sent``, ``cmd/{name}`` (requests) and ``cmd/{name}/reply``. The command filter ``cmd/+`` matches
requests only, never replies.
"""

from __future__ import annotations

import re

_LEVEL = re.compile(r"^[^/#+\s]+$")


def _check_level(kind: str, value: str) -> str:
    if not value or not _LEVEL.match(value):
        raise ValueError(f"{kind} {value!r} cannot be a topic level (empty, or contains '/', '+', '#' or whitespace)")
    return value


class Topics:
    def __init__(self, prefix: str, site: str, device_id: str):
        if not prefix or any(bad in prefix for bad in "#+") or prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"topic prefix {prefix!r} must be non-empty, without wildcards or leading/trailing '/'")
        self.prefix = prefix
        self.site = _check_level("site", site)
        self.device_id = _check_level("device id", device_id)
        self.base = f"{prefix}/{site}/{device_id}"

    def alert(self, alert_type: str) -> str:
        return f"{self.base}/alerts/{_check_level('alert type', alert_type)}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def telemetry(self) -> str:
        return f"{self.base}/telemetry"

    @property
    def counts(self) -> str:
        return f"{self.base}/counts"

    @property
    def dispositions(self) -> str:
        return f"{self.base}/dispositions"

    def action(self, name: str) -> str:
        return f"{self.base}/actions/{_check_level('action name', name)}"

    def evidence(self, event_id: str) -> str:
        """Where `get-evidence` publishes an alert's evidence."""
        return f"{self.base}/evidence/{_check_level('event id', event_id)}"

    @property
    def evidence_kept(self) -> str:
        return f"{self.base}/evidence_kept"

    @property
    def evidence_sent(self) -> str:
        return f"{self.base}/evidence_sent"

    def command(self, name: str) -> str:
        return f"{self.base}/cmd/{_check_level('command name', name)}"

    def command_reply(self, name: str) -> str:
        return f"{self.command(name)}/reply"

    @property
    def command_filter(self) -> str:
        return f"{self.base}/cmd/+"

    def __repr__(self) -> str:
        return f"Topics({self.base!r})"
