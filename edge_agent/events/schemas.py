"""JSON Schema export for every message the agent publishes (docs/schemas/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field, TypeAdapter

from edge_agent.events.alert import Alert
from edge_agent.events.alert_types import TYPED_ALERTS
from edge_agent.events.messages import CommandReply, CommandRequest, Counts, Status, Telemetry

PUBLISHED_MESSAGES: dict[str, type[BaseModel]] = {
    "alert": Alert,
    "status": Status,
    "telemetry": Telemetry,
    "counts": Counts,
    "command-request": CommandRequest,
    "command-reply": CommandReply,
}


ALERT_DESCRIPTION = (
    "One alert. `oneOf` one subschema per alert `type` (`type` is a constant in each), each naming the `details` "
    "fields that type carries. Schema version 1.x: minor versions only add (types, fields); validate with the "
    "schema of the payload's `schema_version` and keep, rather than reject, what a newer minor adds."
)


def typed_alert_schema() -> dict[str, Any]:
    """The alert schema discriminated on `type`: one subschema per registered type (alert_types.py)."""
    union = Annotated[Union[tuple(TYPED_ALERTS.values())], Field(discriminator="type")]  # noqa: UP007
    schema = TypeAdapter(union).json_schema()
    schema["title"] = "Alert"
    schema["description"] = ALERT_DESCRIPTION
    return schema


def schema_documents() -> dict[str, str]:
    """File name -> JSON text, stable so a test can compare against the committed copy."""
    documents = {}
    for name, model in PUBLISHED_MESSAGES.items():
        schema = typed_alert_schema() if model is Alert else model.model_json_schema()
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
