"""Every message the agent publishes in a test, kept as a sample for a second, independent validator.

`Watcher` (tests/support/daemon.py) sees what the agent really published over a real broker; with
`EDGE_AGENT_CONTRACT_SAMPLES` set to a directory (`.ci/run` sets it), each payload is appended to
`<schema>.<pid>.jsonl` there, by topic, and `.ci/validate_contract.mjs` (Ajv) validates them after the
suite. Requests the tests send (`cmd/<name>`, malformed on purpose in places) are not the agent's and
are not kept.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

ENV = "EDGE_AGENT_CONTRACT_SAMPLES"
_lock = threading.Lock()


def schema_of(relative: str) -> str | None:
    """The schema (docs/schemas/<name>.schema.json) of a message on `{base}/<relative>`; None: not the agent's."""
    levels = relative.split("/")
    if levels[0] in ("status", "telemetry", "counts") and len(levels) == 1:
        return levels[0]
    if levels[0] == "alerts" and len(levels) == 2:
        return "alert"
    if levels[0] == "actions" and len(levels) == 2:
        return "action"
    if (levels[0] == "cmd" and levels[2:] == ["reply"]) or levels[0] == "reply":
        return "command-reply"
    return None


def write_samples(directory: Path, base: str, messages) -> dict[str, int]:
    """Append the agent's messages (topic, payload, ...) under `base` to `directory`; returns counts by schema."""
    counts: dict[str, int] = {}
    lines: dict[str, list[str]] = {}
    for topic, payload, *_ in messages:
        schema = schema_of(topic[len(base) + 1 :]) if topic.startswith(base + "/") else None
        if schema is None:
            continue
        try:
            text = json.dumps(json.loads(payload), separators=(",", ":"))
        except ValueError:
            text = json.dumps({"not JSON": payload.decode("utf-8", "replace")})  # the validator says so
        lines.setdefault(schema, []).append(text)
        counts[schema] = counts.get(schema, 0) + 1
    directory.mkdir(parents=True, exist_ok=True)
    with _lock:
        for schema, found in lines.items():
            with open(directory / f"{schema}.{os.getpid()}.jsonl", "a", encoding="utf-8") as out:
                out.write("\n".join(found) + "\n")
    return counts


def keep_payloads_for_the_ci(schema: str, payloads: list[bytes]) -> None:
    """Messages of `schema` the agent's own code made outside a watched daemon (counts need a camera)."""
    directory = os.environ.get(ENV)
    if directory and payloads:
        with _lock, open(Path(directory) / f"{schema}.{os.getpid()}.jsonl", "ab") as out:
            out.write(b"".join(bytes(payload) + b"\n" for payload in payloads))


def keep_for_the_ci(base: str, messages) -> None:
    """When the CI asks (`EDGE_AGENT_CONTRACT_SAMPLES`), keep what a watcher saw for the Ajv check."""
    directory = os.environ.get(ENV)
    if directory:
        write_samples(Path(directory), base, messages)
