"""Which config values are secrets, and a copy of config data with them masked.

One helper for every place that shows config data outside the box or the file: the `get-config` reply
(the agent's face, daemon/face.py `redacted_config`) and the technician's page (web: the diff of an edit, its
replies and the audit log). It lives in config, above both in the import order, so neither keeps a copy of its own.
"""

from __future__ import annotations

import re

REDACTED = "**********"
# inline secret values (config keys, and the names of an http action's fixed headers: Authorization, Cookie,
# X-Api-Key, ...); *_file keys name a file and are kept (the path is not the secret)
_SECRET_KEY = re.compile(r"password|secret|token|scbk|card_numbers|passphrase|api[_-]?key|authorization|cookie", re.I)
# shorter strings are not scrubbed from free text: "0" or "on" would mangle every message and hide nothing
_MIN_SCRUBBED = 4


def is_secret_key(key) -> bool:
    """True for a key whose inline value is a secret (a `*_file` key names a file: not a secret)."""
    key = str(key)
    return bool(_SECRET_KEY.search(key)) and not key.endswith("_file")


def redact(value, key: str = ""):
    """A copy of plain config data with every inline secret replaced (SecretStr already dumps as stars)."""
    if isinstance(value, dict):
        if key == "secret_headers":  # header name → the file its value is read from: paths, kept like *_file
            return dict(value)
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item, key) for item in value]
    if value is not None and is_secret_key(key):
        return REDACTED
    return value


def secret_values(value, key: str = "") -> set[str]:
    """Every inline secret in plain config data, as text: what `scrub` takes out of a message."""
    if isinstance(value, dict):
        if key == "secret_headers":
            return set()
        return set().union(*(secret_values(v, str(k)) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(secret_values(item, key) for item in value))
    if value is not None and not isinstance(value, bool) and is_secret_key(key):
        text = str(value)
        return {text} if len(text) >= _MIN_SCRUBBED else set()
    return set()


def scrub(value, secrets: set[str]):
    """`value` (text, or data holding text) with every one of `secrets` masked: a validation message may quote a
    value it found."""
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    return value
