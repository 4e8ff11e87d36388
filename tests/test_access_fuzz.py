"""Property-based fuzzing of every access parser: no input makes an exception escape an adapter.

Each adapter entry point is fed arbitrary bytes, arbitrary JSON and
near-valid documents; every outcome must be an emitted event or a counted
rejection, and the event count plus rejections must account for each input.
"""

from __future__ import annotations

import json

import osdp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.clock import FakeClock
from edge_agent.config.access_adapters import HttpPushAdapterConfig, LineStreamAdapterConfig, OsdpAdapterConfig
from edge_agent.sources.access.http_push import HttpPushAdapter
from edge_agent.sources.access.line_stream import LineStreamAdapter
from edge_agent.sources.access.osdp import OsdpAdapter
from edge_agent.sources.access.signing import sign
from tests.support.fuzz import fuzz_settings
from tests.test_access_common import EventLog, tokenizer

pytestmark = pytest.mark.fuzz
FUZZ = fuzz_settings(ci_examples=150)
SECRET = b"fuzz secret"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=50),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=20,
)
field_values = st.one_of(
    scalars,
    st.sampled_from(
        [
            "access.granted",
            "access.denied",
            "door.forced",
            "main-gate",
            "in",
            "out",
            "expired",
            "12345",
            "2026-01-01T00:00:00Z",
            "2026-13-45",
        ]
    ),
)
generic_events = st.dictionaries(
    st.sampled_from(
        ["type", "door", "reader", "direction", "card", "pin", "credential_token", "reason", "time", "codes", "extra"]
    ),
    st.one_of(field_values, json_values),
    max_size=8,
)
hik_events = st.fixed_dictionaries(
    {
        "eventType": st.sampled_from(["AccessControllerEvent", "Other", None]),
        "dateTime": st.one_of(field_values, st.just("2026-01-01T08:00:00+08:00")),
        "AccessControllerEvent": st.one_of(
            json_values,
            st.dictionaries(
                st.sampled_from(["majorEventType", "subEventType", "doorNo", "cardReaderNo", "cardNo", "serialNo"]),
                st.one_of(st.integers(-5, 2000), field_values),
                max_size=6,
            ),
        ),
    }
)


def line_adapter():
    config = LineStreamAdapterConfig.model_validate(
        {
            "type": "line_stream",
            "id": "fuzz",
            "tcp_host": "127.0.0.1",
            "tcp_port": 9,
            "default_door": "main-gate",
            "max_line_bytes": 512,
        }
    )
    events = EventLog()
    return LineStreamAdapter(config, events, FakeClock(), tokenizer()), events


def rejected_total(adapter) -> int:
    """What the adapter counts on refusal: one `rejected.<reason>` per refused input."""
    return sum(n for key, n in adapter.counters.items() if key.startswith("rejected."))


def assert_accounted(adapter, events, inputs: int) -> None:
    """Every input became a delivered event or a counted rejection: none lost, none counted twice."""
    emitted = adapter.counters.get("events", 0)
    assert emitted == len(events), f"counted {emitted} events, delivered {len(events)}"
    assert emitted + rejected_total(adapter) == inputs, f"{inputs} inputs, counters {adapter.counters}"


def lines_in(stream: bytes, limit: int) -> int:
    """Inputs the line stream must account for: each over-long line, and each other non-blank line."""
    lines = stream.split(b"\n")[:-1]  # the last piece is unterminated
    return sum(1 for line in lines if len(line) > limit or line.rstrip(b"\r").strip())


@FUZZ
@given(
    st.lists(st.one_of(st.binary(max_size=200), st.sampled_from([b"\n", b"\r\n", b"{}\n", b"x" * 600])), max_size=10)
)
def test_line_stream_accounts_for_every_line_of_arbitrary_bytes(chunks):
    adapter, events = line_adapter()
    for chunk in chunks:
        adapter.handle_bytes(chunk)
    adapter.handle_bytes(b"\n")
    assert_accounted(adapter, events, lines_in(b"".join(chunks) + b"\n", limit=512))


@FUZZ
@given(st.lists(generic_events, min_size=1, max_size=5))
def test_line_stream_counts_a_failing_consumer_and_carries_on(batch):
    def failing(event):
        raise RuntimeError("consumer bug")

    config = LineStreamAdapterConfig.model_validate(
        {"type": "line_stream", "id": "fuzz", "tcp_host": "127.0.0.1", "tcp_port": 9, "default_door": "main-gate"}
    )
    adapter = LineStreamAdapter(config, failing, FakeClock(), tokenizer())
    adapter.handle_bytes(b"".join(json.dumps(event).encode() + b"\n" for event in batch))
    counters = adapter.counters
    assert counters.get("consumer_errors", 0) == counters.get("events", 0)
    assert counters.get("events", 0) + rejected_total(adapter) == len(batch)


@FUZZ
@given(generic_events)
def test_line_stream_generic_events_are_emitted_or_rejected(event):
    adapter, events = line_adapter()
    adapter.handle_line(json.dumps(event, allow_nan=True).encode())
    assert_accounted(adapter, events, 1)


@FUZZ
@given(json_values)
def test_line_stream_arbitrary_json(value):
    adapter, events = line_adapter()
    adapter.handle_line(json.dumps(value, allow_nan=True).encode())
    assert_accounted(adapter, events, 1)


def push_adapter(tmp_path, fmt):
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    config = HttpPushAdapterConfig.model_validate(
        {
            "type": "http_push",
            "id": "fuzz",
            "format": fmt,
            "port": 0,
            "default_door": "main-gate",
            "hikvision_doors": {1: "main-gate"},
            "auth": {"hmac_secret_file": str(secret)},
        }
    )
    events = EventLog()
    clock = FakeClock()
    return HttpPushAdapter(config, events, clock, tokenizer()), events, clock


def signed_headers(clock, body, content_type="application/json"):
    stamp = str(int(clock.wall()))
    return {"X-Timestamp": stamp, "X-Signature": sign(SECRET, stamp, body), "Content-Type": content_type}


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), generic_events.map(lambda e: json.dumps(e).encode())))
def test_http_push_generic_bodies_are_accepted_or_refused_as_counted(tmp_path, body):
    adapter, events, clock = push_adapter(tmp_path, "generic")
    response = adapter.process(signed_headers(clock, body), body, len(body))
    assert response.status in (200, 400)
    refused = len(response.body.get("rejected", [])) or (response.status == 400)  # per event, or the whole body
    assert len(events) == response.body.get("accepted", 0)
    assert_accounted(adapter, events, len(events) + refused)


@FUZZ
@given(batch=st.lists(generic_events, max_size=4))
def test_http_push_accounts_for_every_event_of_a_batch(tmp_path, batch):
    adapter, events, clock = push_adapter(tmp_path, "generic")
    body = json.dumps({"events": batch}).encode()
    response = adapter.process(signed_headers(clock, body), body, len(body))
    assert response.status == (200 if events.events else 400)
    assert_accounted(adapter, events, max(len(batch), 1))  # an empty batch is one refused body


@FUZZ
@given(
    document=hik_events,
    content_type=st.sampled_from(
        ["application/json", "multipart/form-data; boundary=b", "multipart/form-data", 'multipart/mixed; boundary=""']
    ),
)
def test_http_push_hikvision_documents(tmp_path, document, content_type):
    adapter, events, clock = push_adapter(tmp_path, "hikvision")
    payload = json.dumps(document).encode()
    body = (
        payload
        if content_type == "application/json"
        else (b"--b\r\nContent-Type: application/json\r\n\r\n" + payload + b"\r\n--b--\r\n")
    )
    response = adapter.process(signed_headers(clock, body, content_type), body, len(body))
    assert response.status in (200, 400)
    assert_accounted(adapter, events, 1)


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(["X-Timestamp", "X-Signature", "Authorization", "Content-Type"]),
        st.text(max_size=80),
        max_size=4,
    ),
    body=st.binary(max_size=100),
)
def test_http_push_arbitrary_headers_are_refused_cleanly(tmp_path, headers, body):
    adapter, events, _ = push_adapter(tmp_path, "generic")
    response = adapter.process(headers, body)
    assert response.status == 401 and not events.events


@FUZZ
@given(
    envelope=st.tuples(
        st.sampled_from(["POST", "GET"]),
        st.text(max_size=30),
        st.dictionaries(st.just("Content-Length"), st.text(max_size=12)),
    )
)
def test_http_push_envelope_checks(tmp_path, envelope):
    adapter, _, _ = push_adapter(tmp_path, "generic")
    method, path, headers = envelope
    verdict = adapter.check_envelope(method, path, headers)
    assert isinstance(verdict, int) or verdict.status in (404, 405, 411, 413)


osdp_events = st.dictionaries(
    st.sampled_from(["event", "type", "format", "length", "data", "report", "reader_no", "arg0", "nr_entries"]),
    st.one_of(
        st.integers(-3, 300),
        st.binary(max_size=20),
        st.none(),
        st.text(max_size=5),
        st.sampled_from([osdp.Event.CardRead, osdp.Event.KeyPress, osdp.Event.Status, osdp.Event.Notification]),
    ),
    max_size=7,
)


@FUZZ
@given(st.lists(osdp_events, max_size=6))
def test_osdp_event_translation_never_raises(tmp_path, sequence):
    scbk = tmp_path / "scbk"
    scbk.write_text("00" * 16)
    config = OsdpAdapterConfig.model_validate(
        {
            "type": "osdp",
            "id": "bus",
            "device": "/dev/null",
            "readers": [{"address": 1, "door": "main-gate", "scbk_file": str(scbk), "door_contact_input": 0}],
        }
    )
    events = EventLog()
    adapter = OsdpAdapter(config, events, FakeClock(), tokenizer())
    known = {osdp.Event.CardRead, osdp.Event.KeyPress, osdp.Event.Status, osdp.Event.Notification}
    for event in sequence:
        emitted, refused = len(events), rejected_total(adapter)
        assert adapter._on_osdp_event(0, event) == 0
        if event.get("event") == osdp.Event.CardRead:  # one card read: one event or one counted rejection
            assert (len(events) - emitted) + (rejected_total(adapter) - refused) == 1
        elif event.get("event") not in known:
            assert adapter.counters.get("rejected.unmapped_event", 0) > 0 and rejected_total(adapter) == refused + 1
    assert adapter.counters.get("internal_errors", 0) == 0  # nothing escaped the translation as an exception
    assert adapter.counters.get("events", 0) == len(events)
