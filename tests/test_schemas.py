"""The published contract: committed JSON Schemas are current and the examples validate."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from edge_agent.daemon.health import Health
from edge_agent.events import DOOR_EVENT_TYPES, Alert, AlertFactory, ListSink, Severity
from edge_agent.events.alert_types import ALERT_TYPES
from edge_agent.events.schemas import alert_details_table, schema_documents
from tests.support.alert_contract import contract_problems

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "docs" / "schemas"
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("alert-*.json"))
# The alert schema as published before the per-type subschemas (git show e428cff:docs/schemas/alert.schema.json):
# within 1.x a platform still validating with it must accept every payload of today.
SCHEMA_1_0 = ROOT / "tests" / "fixtures" / "alert.schema.1.0.json"


@pytest.mark.parametrize("file_name", sorted(schema_documents()))
def test_committed_schema_is_current(file_name):
    committed = SCHEMAS / file_name
    assert committed.exists(), f"docs/schemas/{file_name} missing: run `make schemas`"
    assert committed.read_text() == schema_documents()[file_name], (
        f"docs/schemas/{file_name} is stale: run `make schemas` and commit the result"
    )


def test_the_alert_details_table_in_the_api_doc_is_current():
    assert alert_details_table() in (ROOT / "docs" / "mqtt-api.md").read_text(), (
        "docs/mqtt-api.md's alert details table is stale: run `make schemas` and commit the result"
    )


@pytest.mark.parametrize("file_name", sorted(schema_documents()))
def test_python_jsonschema_accepts_each_schema_as_2020_12(file_name):
    """Ajv (strict) is the other validator: tests/test_wire_contract.py."""
    jsonschema.Draft202012Validator.check_schema(json.loads(schema_documents()[file_name]))


def test_no_stray_schema_files():
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(schema_documents())


@pytest.fixture(scope="module")
def schema_1_0():
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_1_0.read_text()))


def example(name: str) -> dict:
    return json.loads((ROOT / "docs" / "examples" / name).read_text())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_documented_example_alerts_validate(path):
    document = json.loads(path.read_text())
    assert contract_problems(document) == []  # the committed docs/schemas/alert.schema.json
    assert Alert.model_validate(document).event_id == document["event_id"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_previous_published_schema_still_accepts_todays_payloads(path, schema_1_0):
    assert [error.message for error in schema_1_0.iter_errors(json.loads(path.read_text()))] == []


def test_every_alert_type_has_examples_for_each_of_its_phases():
    shown = {(document["type"], document["phase"]) for document in map(json.loads, map(Path.read_text, EXAMPLES))}
    missing = []
    for name, spec in ALERT_TYPES.items():
        wanted = [phase for phase in spec.phases if phase != "instant"] or ["instant"]
        missing += [f"{name} {phase}" for phase in wanted if (name, phase) not in shown]
    assert missing == [], f"docs/examples lacks: {missing}"


def test_every_door_event_type_forward_events_may_publish_has_a_subschema():
    assert DOOR_EVENT_TYPES <= set(ALERT_TYPES)


def test_subschemas_are_keyed_by_a_type_const_without_the_openapi_discriminator():
    schema = json.loads((SCHEMAS / "alert.schema.json").read_text())
    assert len(schema["oneOf"]) == len(ALERT_TYPES)
    consts = [
        schema["$defs"][entry["$ref"].rsplit("/", 1)[1]]["properties"]["type"]["const"] for entry in schema["oneOf"]
    ]
    assert sorted(consts) == sorted(ALERT_TYPES)
    # `discriminator` is OpenAPI, not JSON Schema: Ajv's strict mode refuses it (docs/mqtt-api.md, Alerts)
    assert not any("discriminator" in text for text in schema_documents().values())


@pytest.mark.parametrize(
    "name, missing",
    [
        ("alert-intrusion-start.json", "event_id"),
        ("alert-intrusion-start.json", "schema_version"),
        ("alert-intrusion-start.json", "phase"),
        ("alert-line-crossing.json", "phase"),  # an instant type too: `phase: instant` is on every payload
        ("alert-door-forced.json", "event_id"),
        ("alert-intrusion-end.json", "related_event_id"),
        ("alert-intrusion-end.json", "ended_at"),
        ("alert-agent-health-end.json", "related_event_id"),
        ("alert-reader-offline-end.json", "ended_at"),
    ],
)
def test_schema_requires_what_the_api_doc_marks_always(name, missing):
    """docs/mqtt-api.md: event_id, schema_version and phase always; an end always names its start and its end."""
    document = example(name)
    del document[missing]
    assert any(f"'{missing}' is a required property" in p for p in contract_problems(document)), document


def test_an_instant_type_requires_phase_instant_and_a_start_needs_no_end_fields():
    assert any(
        "'instant' was expected" in p
        for p in contract_problems(example("alert-line-crossing.json") | {"phase": "start"})
    )
    assert contract_problems(example("alert-intrusion-start.json")) == []


@pytest.mark.parametrize(
    "name, change, complaint",
    [
        ("alert-door-held-open-start.json", {"grants": 2}, "'grants' was unexpected"),
        ("alert-tailgating.json", {"extra": {"camera": "entrance"}}, "'window_s' is a required property"),
        ("alert-intrusion-start.json", {"extra": {"min_dwell_s": 3, "note": "x"}}, "'note' was unexpected"),
        ("alert-camera-tamper-start.json", {"reason": "painted"}, "'painted' is not one of"),
        ("alert-agent-health.json", {"reason": None}, "None is not one of"),
    ],
)
def test_typed_schema_rejects_details_its_type_does_not_carry(name, change, complaint):
    document = example(name)
    document["details"].update(change)
    problems = contract_problems(document)
    assert any(complaint in problem for problem in problems), problems


def test_typed_schema_rejects_a_phase_or_source_its_type_does_not_have():
    instant = example("alert-intrusion-start.json") | {"phase": "instant"}
    assert any("'instant' is not one of" in p for p in contract_problems(instant))
    from_a_camera = example("alert-door-forced.json") | {"source": {"kind": "camera", "id": "entrance"}}
    assert any("'door' was expected" in p for p in contract_problems(from_a_camera))


def test_a_type_without_a_subschema_is_a_contract_problem():
    assert any("no subschema" in p for p in contract_problems(example("alert-door-forced.json") | {"type": "door.x"}))


def test_alert_made_by_the_factory_validates_and_has_no_image_fields():
    alert = AlertFactory("dev", "site").make(
        "intrusion", Severity.major, ("camera", "c1"), phase="start", rule="r", details={"zone": "z", "count": 1}
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


@pytest.mark.parametrize("sink_kind", ["list", "outbox"])
def test_the_agents_alerts_are_checked_whichever_sink_takes_them(alert_contract, sink_kind, outbox):
    sink = ListSink() if sink_kind == "list" else outbox
    health = Health(AlertFactory("dev-1", "site-1"), sink)
    health.stage_event("detector", "stage_stalled", "no progress", 1, Severity.major)
    health.stage_event("detector", "stage_melted", "no such reason", 2, Severity.major)
    assert len(alert_contract.alerts) == 2
    problems = alert_contract.violations()
    assert len(problems) == 1 and "'stage_melted' is not one of" in problems[0], problems
    alert_contract.alerts.clear()  # the bad one was made on purpose; this test's teardown must not fail on it


def test_an_adapter_outage_end_names_its_start_and_its_end(alert_contract):
    """An end always carries `ended_at` and `related_event_id`, also one the health module makes (factory default)."""
    sink = ListSink()
    health = Health(AlertFactory("dev-1", "site-1"), sink)
    health.adapter_offline("osdp-1", "osdp", "no answer")
    health.adapter_online("osdp-1", "osdp")
    start, end = sink.alerts
    assert (end.phase, end.related_event_id, end.ended_at is not None) == ("end", start.event_id, True)
    assert alert_contract.violations() == []
