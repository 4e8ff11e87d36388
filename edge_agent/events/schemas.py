"""JSON Schema export for every message the agent publishes (docs/schemas/)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from edge_agent.events.alert import Alert
from edge_agent.events.messages import CommandReply, CommandRequest, Counts, Status, Telemetry

PUBLISHED_MESSAGES: dict[str, type[BaseModel]] = {
    "alert": Alert,
    "status": Status,
    "telemetry": Telemetry,
    "counts": Counts,
    "command-request": CommandRequest,
    "command-reply": CommandReply,
}


def schema_documents() -> dict[str, str]:
    """File name -> JSON text, stable so a test can compare against the committed copy."""
    documents = {}
    for name, model in PUBLISHED_MESSAGES.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"urn:edge-agent:{name}:1"
        documents[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return documents


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in schema_documents().items():
        path = directory / file_name
        path.write_text(text)
        written.append(path)
    return written
