"""The published contract: committed JSON Schemas are current and the examples validate."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from edge_agent.events import Alert, AlertFactory, Severity
from edge_agent.events.schemas import schema_documents

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "docs" / "schemas"


@pytest.mark.parametrize("file_name", sorted(schema_documents()))
def test_committed_schema_is_current(file_name):
    committed = SCHEMAS / file_name
    assert committed.exists(), f"docs/schemas/{file_name} missing: run `make schemas`"
    assert committed.read_text() == schema_documents()[file_name], (
        f"docs/schemas/{file_name} is stale: run `make schemas` and commit the result"
    )


def test_no_stray_schema_files():
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(schema_documents())


@pytest.mark.parametrize("example", sorted((ROOT / "docs" / "examples").glob("alert-*.json")), ids=lambda p: p.name)
def test_documented_example_alerts_validate(example):
    schema = json.loads((SCHEMAS / "alert.schema.json").read_text())
    document = json.loads(example.read_text())
    jsonschema.validate(document, schema)
    assert Alert.model_validate(document).event_id == document["event_id"]


def test_alert_made_by_the_factory_validates_and_has_no_image_fields():
    alert = AlertFactory("dev", "site").make(
        "intrusion", Severity.major, ("camera", "c1"), rule="r", details={"zone": "z", "count": 1}
    )
    payload = json.loads(alert.to_json())
    jsonschema.validate(payload, json.loads((SCHEMAS / "alert.schema.json").read_text()))
    flat = json.dumps(payload).lower()
    assert "image" not in flat and "jpeg" not in flat and "snapshot" not in flat


def test_schema_rejects_unknown_severity():
    schema = json.loads((SCHEMAS / "alert.schema.json").read_text())
    document = json.loads((ROOT / "docs" / "examples" / "alert-door-forced.json").read_text())
    document["severity"] = "apocalyptic"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)
