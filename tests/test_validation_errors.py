"""What a sender got wrong in a JSON message reads one way wherever it is checked (config/errors.py).

Remote commands, the platform's action records, sample alert files and model manifests each turned
pydantic's errors into text of their own ("Extra inputs are not permitted" in three, "unknown key" in
one; "(top)", "record" or nothing for the whole object). Each case here goes through the real check.
"""

from __future__ import annotations

import json

import pytest
import yaml

from edge_agent.actions.samples import SampleError, load_alert_file
from edge_agent.clock import iso_utc
from edge_agent.config.errors import describe_validation_errors
from edge_agent.events import AlertFactory, new_event_id
from edge_agent.platform import RejectedMessage, action_record
from edge_agent.vision.manifest import ManifestError, parse_manifest
from tests.support.assets import ROOT

SITE, DEVICE = "site-1", "dev-1"


def record_body(**extra) -> dict:
    body = {"event_id": new_event_id(), "device_id": DEVICE, "site": SITE, "action": "siren", "kind": "http"}
    body |= {"trigger": "alert", "outcome": "ok", "attempts": 1, "finished_at": iso_utc(1_767_600_000.0)}
    return body | extra


def test_an_unknown_key_is_called_one_in_a_record_a_sample_alert_and_a_manifest(tmp_path):
    with pytest.raises(RejectedMessage) as rejected:
        action_record(record_body(colour="red"), SITE, DEVICE, "siren")
    assert str(rejected.value) == "not an action record: colour: unknown key"

    alert = json.loads(AlertFactory(DEVICE, SITE).make("intrusion", "major", ("camera", "c1")).to_json())
    sample = tmp_path / "alert.json"
    sample.write_text(json.dumps(alert | {"colour": "red"}))
    with pytest.raises(SampleError) as refused:
        load_alert_file(sample)
    assert str(refused.value) == f"alert file {sample} is not an alert: colour: unknown key"

    manifest = yaml.safe_load((ROOT / "models" / "yolox_nano.yaml").read_text())
    with pytest.raises(ManifestError) as invalid:
        parse_manifest(manifest | {"colour": "red"}, "yolox_nano.yaml")
    assert str(invalid.value) == "model manifest yolox_nano.yaml is invalid: colour: unknown key"


def test_many_problems_are_counted_past_the_limit_and_the_whole_object_is_named_by_what_is_wrong():
    with pytest.raises(RejectedMessage) as rejected:
        action_record(record_body(a=1, b=2, c=3, d=4, e=5), SITE, DEVICE, "siren")
    assert str(rejected.value) == "not an action record: a: unknown key; b: unknown key; c: unknown key (and 2 more)"
    whole = [{"type": "model_type", "loc": (), "msg": "Input should be an object"}]
    assert describe_validation_errors(whole) == "Input should be an object"
    assert describe_validation_errors(whole, prefix="args") == "args: Input should be an object"
