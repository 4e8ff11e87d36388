"""Which config values are secrets, and a copy of config data with them masked.

One helper for every place that shows config data outside the box or the file: the `get-config` reply
(the agent's face, daemon/face.py `redacted_config`) and the technician's page (web: the diff of an edit, its
replies and the audit log). It lives in config, above both in the import order, so neither keeps a copy of its own.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "**********"
# inline secret values (config keys, and the names of an http action's fixed headers: Authorization, Cookie,
# X-Api-Key, X-Auth, X-Access-Key, ...); *_file keys name a file and are kept (the path is not the secret)
_SECRET_KEY = re.compile(
    r"password|passwd|secret|token|scbk|card_numbers|passphrase|api[_-]?key|access[_-]?key|authorization|(^|[-_])auth"
    r"|cookie",
    re.I,
)
# an http action's fixed headers are shown only when their name is one of these: a credential may sit in a header of
# any name (X-Device-Code), so the rest are masked, never guessed at
_PLAIN_HEADERS = {"accept", "accept-language", "content-type", "content-language", "user-agent", "cache-control"}
_SET_BY_THE_AGENT = {"host", "content-length", "connection"}
# query parameter and JSON body keys that carry credentials on LAN devices, beyond the secret-named keys above
_SECRET_PARAM = re.compile(r"^(pwd|pass|pin|key|code|sig|signature|otp|hash|user(name)?)$|pass|pwd", re.I)
_TEMPLATE_FIELD = re.compile(r"\{[a-z_]+\}")
# shorter strings are not scrubbed from free text: "0" or "on" would mangle every message and hide nothing
_MIN_SCRUBBED = 4


def is_secret_key(key) -> bool:
    """True for a key whose inline value is a secret (a `*_file` key names a file: not a secret)."""
    key = str(key)
    return bool(_SECRET_KEY.search(key)) and not key.endswith("_file")


def redact(value, key: str = ""):
    """A copy of plain config data with every inline secret replaced (SecretStr already dumps as stars): values of
    secret-named keys, fixed header values other than a few plain ones, and credentials inside a `url`."""
    if isinstance(value, dict):
        if key == "secret_headers":  # header name → the file its value is read from: paths, kept like *_file
            return dict(value)
        if key == "headers":
            return {k: header_shown(str(k), v, template=v) for k, v in value.items()}
        if key == "body":
            return redact_body(value)
        return {k: redact(v, str(k)) for k, v in value.items()}
    if key == "url" and isinstance(value, str):
        return redact_url(value)
    if key == "body_text" and isinstance(value, str):
        return value if only_fields(value) else REDACTED
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
        if key == "headers":
            hidden = {str(v) for k, v in value.items() if header_shown(str(k), v, template=v) == REDACTED}
            return {text for text in hidden if len(text) >= _MIN_SCRUBBED}
        return set().union(*(secret_values(v, str(k)) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(secret_values(item, key) for item in value))
    if value is not None and not isinstance(value, bool) and is_secret_key(key):
        text = str(value)
        return {text} if len(text) >= _MIN_SCRUBBED else set()
    return set()


def header_shown(name: str, value, template=None, only_secret_named: bool = False):
    """A request header's value as the technician's tools show it: secret-named ones masked; of the rest, plain headers
    and those whose configured `template` is only `{field}`s (alert data, no fixed text that could be a credential)
    as they are, others masked; `only_secret_named` (the CLI on the box) masks the secret-named ones only."""
    if is_secret_key(name):
        return REDACTED
    if only_secret_named or name.lower() in _PLAIN_HEADERS | _SET_BY_THE_AGENT:
        return value
    return value if only_fields(template) else REDACTED


def only_fields(template) -> bool:
    """True for a template made only of `{field}`s (alert data): no fixed text that could be a credential."""
    return isinstance(template, str) and not _TEMPLATE_FIELD.sub("", template).strip(" ,;:-_/")


def is_secret_param(name) -> bool:
    """A query parameter or JSON body key whose value is a credential (pwd, pin, key, code, token, ...)."""
    return is_secret_key(name) or bool(_SECRET_PARAM.search(str(name)))


def redact_body(value, key: str = ""):
    """A JSON body (template or rendered) with the values under credential-named keys masked."""
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_param(k) else redact_body(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_body(item, key) for item in value]
    return value


def redact_url(url: str) -> str:
    """`url` with a password in it and the values of secret-named query parameters masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", f":{REDACTED}@", 1)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_param(name) for name, _ in pairs):
            query = urlencode([(name, REDACTED if is_secret_param(name) else v) for name, v in pairs], safe="{}*$")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


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
