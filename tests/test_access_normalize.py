"""Credential tokens, the generic JSON event, the Hikvision mapping and the access config checks."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest
from pydantic import ValidationError

from edge_agent.config.access import AccessConfig
from edge_agent.config.access_adapters import HttpPushAdapterConfig, LineStreamAdapterConfig
from edge_agent.credentials import CredentialTokenizer, wiegand26, wiegand_card_number
from edge_agent.sources.access.base import Rejected
from edge_agent.sources.access.hikvision import HikvisionLayout, parse_hikvision
from edge_agent.sources.access.normalize import EventContext, decode_json, event_objects, parse_generic, parse_time
from tests.test_access_common import SITE_KEY, tokenizer


def ctx(default_door=None):
    return EventContext("push-1", 1_767_225_600.0, tokenizer(), default_door)


def test_token_is_keyed_hmac_of_the_canonical_number():
    token = tokenizer().card("0012345678")
    assert token == hmac.new(SITE_KEY, b"card:12345678", hashlib.sha256).hexdigest()
    assert token == tokenizer().card("12345678") == tokenizer().card(" 12345678 ")
    assert token != hashlib.sha256(b"12345678").hexdigest()
    assert CredentialTokenizer(b"another site key, 32 bytes long!").card("12345678") != token
    assert tokenizer().pin("1234") != tokenizer().card("1234")


def test_site_key_must_be_long_enough(tmp_path):
    short = tmp_path / "short.key"
    short.write_text("00112233")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        CredentialTokenizer.from_file(short)


def test_wiegand26_decodes_facility_and_card_and_checks_parity():
    frame = wiegand26(18, 4660)
    assert wiegand_card_number(frame, 26) == str(18 * 65536 + 4660)
    corrupted = bytes([frame[0] ^ 0x40]) + frame[1:]  # flip a data bit: parity fails
    assert wiegand_card_number(corrupted, 26).startswith("w26:")
    assert wiegand_card_number(b"\x01\x02\x03\x04\x05", 34).startswith("w34:")
    with pytest.raises(ValueError):
        wiegand_card_number(b"\x01", 26)


def test_generic_event_is_normalized_and_the_card_tokenized():
    event = parse_generic(
        {
            "type": "access.granted",
            "door": "main-gate",
            "reader": "r1",
            "direction": "in",
            "card": "0012345678",
            "time": "2026-01-01T08:00:00+08:00",
            "codes": {"ctrl": 17},
        },
        ctx(),
    )
    assert event.type == "access.granted" and event.door == "main-gate" and event.reader == "r1"
    assert event.credential_token == tokenizer().card("12345678")
    assert event.device_time == 1_767_225_600.0
    assert event.edge_time == 1_767_225_600.0
    assert event.raw == {"ctrl": 17}
    assert "12345678" not in repr(event)


def test_denial_without_reason_is_other_and_default_door_applies():
    event = parse_generic({"type": "access.denied", "card": 42}, ctx(default_door="side-door"))
    assert (event.door, event.reason) == ("side-door", "other")


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2026-01-01T00:00:00Z", 1_767_225_600.0),  # Python 3.10's fromisoformat rejects the Z
        ("2026-01-01T08:00:00.5+08:00", 1_767_225_600.5),  # ... and a one-digit fraction
        ("2026-01-01t00:00:00.1234567z", 1_767_225_600.123456),
        ("2026-01-01 08:00:00+0800", 1_767_225_600.0),
    ],
)
def test_rfc3339_times_parse_alike_on_every_python(text, epoch):
    assert parse_time(text, "event.time") == pytest.approx(epoch, abs=1e-6)


def test_a_date_without_a_time_is_rejected_naming_the_field():
    with pytest.raises(Rejected, match=r"event\.time: not an RFC 3339 time"):
        parse_time("2026-01-01", "event.time")


@pytest.mark.parametrize(
    ("obj", "names"),
    [
        ({"type": "door.exploded", "door": "d"}, ".type"),
        ({"type": "access.granted"}, ".door"),
        ({"type": "access.granted", "door": "d", "direction": "sideways"}, ".direction"),
        ({"type": "access.granted", "door": "d", "reason": "expired"}, ".reason"),
        ({"type": "access.granted", "door": "d", "card": "12 34"}, ".card"),
        ({"type": "access.granted", "door": "d", "card": "1", "pin": "2"}, "one of card"),
        ({"type": "access.granted", "door": "d", "time": "2026-01-01T08:00:00"}, "zone offset"),
        ({"type": "access.granted", "door": "d", "time": 1_767_225_600_000}, "milliseconds"),
        ({"type": "access.granted", "door": "d", "cardNumber": "5"}, "unknown field"),
        ({"type": "access.granted", "door": "d", "credential_token": "abc"}, "64 lowercase hex"),
        ({"type": "access.granted", "door": "d", "credential_token": "ab" * 32 + "\n"}, "64 lowercase hex"),
        ({"type": "access.granted", "door": "main-gate\n"}, ".door"),
        ({"type": "access.granted", "door": "d", "reader": "r1\n"}, ".reader"),
        ({"type": "keypad", "door": "d", "pin": "1234\n"}, ".pin"),
        (["not", "an", "object"], "expected a JSON object"),
    ],
)
def test_invalid_generic_events_are_rejected_naming_the_field(obj, names):
    with pytest.raises(Rejected) as caught:
        parse_generic(obj, ctx(), "line 3")
    assert caught.value.reason == "invalid_event"
    assert "line 3" in caught.value.detail and names in caught.value.detail


def test_rejections_never_echo_a_card_number():
    with pytest.raises(Rejected) as caught:
        parse_generic({"type": "access.granted", "door": "d", "card": "98765432!"}, ctx())
    assert "98765432" not in str(caught.value)


def test_json_errors_say_where():
    with pytest.raises(Rejected, match="line 1 column 2"):
        decode_json(b"{x", "body")
    with pytest.raises(Rejected, match="not UTF-8"):
        decode_json(b"\xff\xfe", "body")
    assert len(event_objects({"events": [{}, {}]}, "body")) == 2
    with pytest.raises(Rejected, match="empty event list"):
        event_objects([], "body")


HIK_LAYOUT = HikvisionLayout(doors={1: "main-gate"}, reader_directions={1: "in", 2: "out"})


def hik(major, minor, **fields):
    return {
        "eventType": "AccessControllerEvent",
        "dateTime": "2026-01-01T08:00:00+08:00",
        "AccessControllerEvent": {
            "majorEventType": major,
            "subEventType": minor,
            "doorNo": 1,
            "cardReaderNo": 1,
            "name": "Resident Name",
            **fields,
        },
    }


@pytest.mark.parametrize(
    ("major", "minor", "event_type", "reason"),
    [
        (0x5, 0x01, "access.granted", None),
        (0x5, 0x09, "access.denied", "unknown_card"),
        (0x5, 0x08, "access.denied", "expired"),
        (0x5, 0x0A, "access.denied", "anti_passback"),
        (0x5, 0x1B, "door.forced", None),
        (0x5, 0x1C, "door.held_open", None),
        (0x5, 0x19, "door.opened", None),
        (0x5, 0x1A, "door.closed", None),
        (0x1, 0x40A, "duress", None),
        (0x1, 0x406, "tamper", None),
        (0x3, 0x2B, "reader.offline", None),
    ],
)
def test_hikvision_codes_map_to_door_events(major, minor, event_type, reason):
    event = parse_hikvision(hik(major, minor, cardNo="7654321"), ctx(), HIK_LAYOUT)
    assert (event.type, event.reason, event.door, event.reader, event.direction) == (
        event_type,
        reason,
        "main-gate",
        "push-1-1",
        "in",
    )
    assert event.raw["major"] == major and event.raw["minor"] == minor
    assert event.device_time == 1_767_225_600.0
    if event_type in ("access.granted", "access.denied", "duress"):
        assert event.credential_token == tokenizer().card("7654321")
    assert "Resident Name" not in repr(event) and "7654321" not in repr(event)


def test_hikvision_unmapped_and_unknown_doors_are_refused():
    with pytest.raises(Rejected) as caught:
        parse_hikvision(hik(0x5, 0x77), ctx(), HIK_LAYOUT)
    assert caught.value.reason == "unmapped_code" and "0x77" in caught.value.detail
    document = hik(0x5, 0x01)
    document["AccessControllerEvent"]["doorNo"] = 9
    with pytest.raises(Rejected, match="doorNo"):
        parse_hikvision(document, ctx(), HIK_LAYOUT)
    assert parse_hikvision(document, ctx(default_door="gate-b"), HIK_LAYOUT).door == "gate-b"


def test_http_push_config_requires_authentication_unless_waived():
    with pytest.raises(ValidationError, match="hmac_secret_file or auth.bearer_token_file"):
        HttpPushAdapterConfig.model_validate({"type": "http_push", "id": "p"})
    config = HttpPushAdapterConfig.model_validate(
        {"type": "http_push", "id": "p", "auth": {"allow_unauthenticated": True}}
    )
    assert config.bind == "127.0.0.1"


def test_line_stream_config_needs_exactly_one_transport():
    with pytest.raises(ValidationError, match="either tcp_host/tcp_port or serial_device"):
        LineStreamAdapterConfig.model_validate({"type": "line_stream", "id": "l"})
    with pytest.raises(ValidationError, match="both tcp_host and tcp_port"):
        LineStreamAdapterConfig.model_validate({"type": "line_stream", "id": "l", "tcp_host": "127.0.0.1"})


def test_osdp_config_refuses_plain_text_readers_by_default():
    with pytest.raises(ValidationError, match="no scbk_file"):
        AccessConfig.model_validate(
            {
                "adapters": [
                    {"type": "osdp", "id": "bus", "device": "/dev/null", "readers": [{"address": 0, "door": "d"}]}
                ]
            }
        )


def test_forward_events_are_checked():
    with pytest.raises(ValidationError, match="unknown door event type"):
        AccessConfig.model_validate({"forward_events": ["access.maybe"]})


def test_rejections_are_logged_once_per_burst(caplog):
    from edge_agent.clock import FakeClock
    from edge_agent.sources.access.base import BurstLog

    clock = FakeClock()
    burst = BurstLog(logging.getLogger("test.burst"), "push-1", clock, interval=60)
    with caplog.at_level(logging.WARNING, logger="test.burst"):
        for _ in range(50):
            burst.rejected("bad_signature", "X-Signature does not match")
        burst.rejected("expired", "timestamp too old")
        clock.advance(61)
        burst.rejected("bad_signature", "X-Signature does not match")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert "bad_signature" in messages[0] and "expired" in messages[1]
    assert "49 more since the last report" in messages[2]
