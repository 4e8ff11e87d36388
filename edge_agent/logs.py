"""One logging setup: readable text on a terminal, JSON lines otherwise (journald), and the last lines in memory.

Secrets never reach a log line: config secrets are SecretStr (printed as ****)
and `RedactingFilter` masks anything registered with `redact()` as a last guard.
`LogRing` keeps the newest lines, redacted the same way, for the technician's page (read through the
agent's face, never a file): `log_ring()` is the process's one ring, attached to the root logger.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import deque

_REDACT: set[str] = set()
EXTRA_KEYS = ("camera", "door", "adapter", "stage", "event_id")  # what a log call may add with `extra=`
LEVELS = ("debug", "info", "warning", "error", "critical")
RING_LINES = 1000  # the newest lines the page can show; ~0.5 MB at most (MAX_LINE_CHARS each)
MAX_LINE_CHARS = 500
_REDACT_LOCK = threading.Lock()


def redact(*secrets: str) -> None:
    """Register secret strings that must never appear in a log line."""
    with _REDACT_LOCK:
        _REDACT.update(s for s in secrets if s and len(s) >= 4)


def redacted(text: str) -> str:
    """`text` with every registered secret masked."""
    for secret in list(_REDACT):
        if secret in text:
            text = text.replace(secret, "****")
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _REDACT:
            record.msg, record.args = redacted(record.getMessage()), None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in EXTRA_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "info", fmt: str = "auto", stream=None) -> None:
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "text" if getattr(stream, "isatty", lambda: False)() else "json"
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        if old is not _RING:
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    log_ring()


class LogRing(logging.Handler):
    """The newest `capacity` log lines, as dicts, redacted: what the technician's page shows (never stored)."""

    def __init__(self, capacity: int = RING_LINES):
        super().__init__(logging.DEBUG)
        self.addFilter(RedactingFilter())
        self._lines: deque[dict] = deque(maxlen=capacity)
        self._seq = 0
        self._guard = threading.Lock()

    @property
    def capacity(self) -> int:
        return self._lines.maxlen or 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = {
                "at": record.created,
                "level": record.levelname.lower(),
                "logger": record.name,
                "component": component_of(record.name),
                "msg": redacted(record.getMessage())[:MAX_LINE_CHARS],
            }
            for key in EXTRA_KEYS:
                value = getattr(record, key, None)
                if value is not None:
                    line[key] = str(value)[:100]
            if record.exc_info and record.exc_info[1] is not None:  # the exception's one line, not its traceback
                error = record.exc_info[1]
                line["exc"] = redacted(f"{type(error).__name__}: {error}")[:MAX_LINE_CHARS]
        except Exception:  # a line that cannot be shown must not break logging
            self.handleError(record)
            return
        with self._guard:
            self._seq += 1
            self._lines.append({"seq": self._seq, **line})

    def lines(self, limit: int, level: str | None = None, component: str | None = None) -> list[dict]:
        """The newest `limit` lines at `level` or above, of `component` (None: any), newest first."""
        floor = LEVELS.index(level) if level else 0
        with self._guard:
            held = list(self._lines)
        found = []
        for line in reversed(held):
            if _level_rank(line["level"]) >= floor and (component is None or line["component"] == component):
                found.append(line)
                if len(found) >= limit:
                    break
        return found

    def components(self) -> list[str]:
        with self._guard:
            return sorted({line["component"] for line in self._lines})


def _level_rank(name: str) -> int:
    return LEVELS.index(name) if name in LEVELS else len(LEVELS) - 1  # a custom level counts as the highest


def component_of(logger_name: str) -> str:
    """The part of the agent a logger belongs to: `edge_agent.web.app` -> `web`; another library's -> its name."""
    parts = logger_name.split(".")
    return parts[1] if parts[0] == "edge_agent" and len(parts) > 1 else parts[0]


_RING: LogRing | None = None
_RING_LOCK = threading.Lock()


def log_ring() -> LogRing:
    """The process's one ring, attached to the root logger on first use (setup_logging keeps it)."""
    global _RING
    with _RING_LOCK:
        if _RING is None:
            _RING = LogRing()
        root = logging.getLogger()
        if _RING not in root.handlers:
            root.addHandler(_RING)
        return _RING
