"""One logging setup: readable text on a terminal, JSON lines otherwise (journald).

Secrets never reach a log line: config secrets are SecretStr (printed as ****)
and `RedactingFilter` masks anything registered with `redact()` as a last guard.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time

_REDACT: set[str] = set()
_REDACT_LOCK = threading.Lock()


def redact(*secrets: str) -> None:
    """Register secret strings that must never appear in a log line."""
    with _REDACT_LOCK:
        _REDACT.update(s for s in secrets if s and len(s) >= 4)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _REDACT:
            message = record.getMessage()
            for secret in list(_REDACT):
                if secret in message:
                    message = message.replace(secret, "****")
            record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("camera", "door", "adapter", "stage", "event_id"):
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
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
