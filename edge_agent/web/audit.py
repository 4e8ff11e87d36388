"""The audit log: one JSON line per login and per config change (who, when, from where, which keys changed).

The file outlives the config and is read by people who may not see its secrets: facts come masked from their callers
(web/editing.py's diff), and anything under a secret-named key is masked here once more.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from edge_agent.clock import Clock, iso_utc
from edge_agent.config.redaction import redact
from edge_agent.private_files import open_private, private_dir

log = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, path: Path, clock: Clock):
        self.path = Path(path)
        self.clock = clock
        self.failures = 0
        self._lock = threading.Lock()

    def record(self, user: str | None, action: str, **facts) -> None:
        """Appends and fsyncs; a full disk is logged and counted, never raised into the request."""
        entry = {"at": iso_utc(self.clock.wall()), "user": user, "action": action, **redact(facts)}
        line = json.dumps(entry, sort_keys=False, default=str) + "\n"
        try:
            with self._lock:
                private_dir(self.path.parent)
                fd = open_private(self.path, os.O_WRONLY | os.O_APPEND)  # 0600 whatever the umask
                try:
                    os.write(fd, line.encode("utf-8"))
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            self.failures += 1
            log.error("audit log %s not written: %s", self.path, exc)

    def tail(self, count: int) -> list[dict]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()[-count:]
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]
